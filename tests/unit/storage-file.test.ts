// The file driver: the shared conformance suite plus what only a filesystem shows (modes, temp files, errors).

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Folder, NotFoundError, ObjectExistsError } from '../../src/storage/driver.ts';
import { FileStorageDriver, READ_CHUNK_SIZE, isTemporaryName, openFileStorage } from '../../src/storage/file.ts';
import { openStorage } from '../../src/storage/open.ts';
import { bodyOf, listedKeys, readAll, storageConformance } from '../helpers/storage-conformance.ts';

const base = mkdtempSync(join(tmpdir(), 'walnut-storage-file-'));
after(() => rmSync(base, { recursive: true, force: true }));
let counter = 0;

async function freshRoot(): Promise<string> {
  const root = join(base, `root-${++counter}`);
  await mkdir(root);
  return root;
}

async function freshFolder(): Promise<{ root: string; folder: Folder }> {
  const root = await freshRoot();
  return { root, folder: new Folder(await openFileStorage(root)) };
}

storageConformance('file', async () => (await freshFolder()).folder);

/** Every name under a directory, hidden ones included, relative to it. */
async function allNames(directory: string): Promise<string[]> {
  return (await readdir(directory, { recursive: true })).map(String).sort();
}

describe('file storage', () => {
  test('put creates missing parent directories with mode 0755 (less the umask)', async () => {
    const { root, folder } = await freshFolder();
    await folder.put('basebackups_005/base_000000010000000000000002/tar_partitions/part_001.tar.lz4', bodyOf('x'));
    const umask = process.umask();
    for (const directory of ['basebackups_005', 'basebackups_005/base_000000010000000000000002']) {
      assert.equal((await stat(join(root, directory))).mode & 0o777, 0o755 & ~umask, directory);
    }
    const file = await stat(join(root, 'basebackups_005/base_000000010000000000000002/tar_partitions/part_001.tar.lz4'));
    assert.equal(file.mode & 0o777, 0o666 & ~umask);
  });

  test('objects are plain files at root/key, readable without walnut', async () => {
    const { root, folder } = await freshFolder();
    await folder.put('wal_005/000000010000000000000001.br', bodyOf('plain bytes'));
    assert.equal(await readFile(join(root, 'wal_005/000000010000000000000001.br'), 'utf8'), 'plain bytes');
  });

  test('no temporary file remains after a successful or a failed put', async () => {
    const { root, folder } = await freshFolder();
    await folder.put('dir/ok', bodyOf('fine'));
    const failing = new Readable({ read() {} });
    const putting = folder.put('dir/broken', failing);
    failing.push(Buffer.from('some'));
    setTimeout(() => failing.destroy(new Error('body failed')), 20);
    await assert.rejects(putting, /body failed/);
    assert.deepEqual(await allNames(root), ['dir', 'dir/ok']);
  });

  test('a put refused for overwrite false leaves no temporary file', async () => {
    const { root, folder } = await freshFolder();
    await folder.put('taken', bodyOf('first'));
    await assert.rejects(folder.put('taken', bodyOf('second'), { overwrite: false }), ObjectExistsError);
    assert.deepEqual(await allNames(root), ['taken']);
  });

  test('of two racing puts with overwrite false exactly one wins', async () => {
    const { folder } = await freshFolder();
    const results = await Promise.allSettled([
      folder.put('race', bodyOf('one'), { overwrite: false }),
      folder.put('race', bodyOf('two'), { overwrite: false }),
    ]);
    assert.equal(results.filter((result) => result.status === 'fulfilled').length, 1);
    const rejected = results.find((result) => result.status === 'rejected');
    assert.ok(rejected && rejected.reason instanceof ObjectExistsError);
    assert.match((await readAll(await folder.get('race'))).toString(), /^(one|two)$/);
  });

  test('listings skip temporary files left by a crash but show other hidden files', async () => {
    const { root, folder } = await freshFolder();
    await writeFile(join(root, '.000000010000000000000003.lz4.walnut-tmp-0123456789abcdef'), 'half');
    await writeFile(join(root, '.hidden'), 'mine');
    await folder.put('visible', bodyOf('v'));
    assert.deepEqual(await listedKeys(folder), ['.hidden', 'visible']);
    assert.deepEqual(await listedKeys(folder, '', { recursive: true }), ['.hidden', 'visible']);
    assert.equal(isTemporaryName('.x.walnut-tmp-0123456789abcdef'), true);
    assert.equal(isTemporaryName('x.walnut-tmp-0123456789abcdef'), false);
    assert.equal(isTemporaryName('.x.walnut-tmp-notahexsuffix'), false);
  });

  test('a very long object name still gets a temporary name the filesystem accepts', async () => {
    const { folder } = await freshFolder();
    const name = 'n'.repeat(250);
    await folder.put(name, bodyOf('long'));
    assert.equal((await readAll(await folder.get(name))).toString(), 'long');
  });

  test('NotFoundError names the full file path, as WAL-G does', async () => {
    const { root, folder } = await freshFolder();
    const error = await folder.get('wal_005/missing.lz4').catch((caught: unknown) => caught);
    assert.ok(error instanceof NotFoundError);
    assert.equal(error.message, `object '${join(root, 'wal_005/missing.lz4')}' not found in storage`);
    assert.equal(error.key, 'wal_005/missing.lz4');
  });

  test('get of a directory is NotFoundError, not a read error', async () => {
    const { folder } = await freshFolder();
    await folder.put('dir/inside', bodyOf('x'));
    await assert.rejects(folder.get('dir'), NotFoundError);
  });

  test('get streams in chunks of at most 1 MiB', async () => {
    const { folder } = await freshFolder();
    const data = randomBytes(3 * READ_CHUNK_SIZE + 11);
    await folder.put('big', bodyOf(data));
    let largest = 0;
    let total = 0;
    for await (const chunk of await folder.get('big')) {
      largest = Math.max(largest, chunk.length);
      total += chunk.length;
    }
    assert.equal(total, data.length);
    assert.ok(largest <= READ_CHUNK_SIZE, `chunk of ${largest} bytes`);
  });

  test('deleteMany keeps emptied directories and ignores a key naming a directory', async () => {
    const { root, folder } = await freshFolder();
    await folder.put('basebackups_005/base_1/metadata.json', bodyOf('{}'));
    await folder.put('other/file', bodyOf('x'));
    await folder.deleteMany(['basebackups_005/base_1/metadata.json', 'other']);
    assert.deepEqual(await allNames(root), ['basebackups_005', 'basebackups_005/base_1', 'other', 'other/file']);
    assert.deepEqual(await listedKeys(folder), ['basebackups_005/', 'other/']);
  });

  test('stat reports the file modification time', async () => {
    const { root, folder } = await freshFolder();
    await folder.put('timed', bodyOf('t'));
    const info = await folder.stat('timed');
    assert.equal(info?.modified.getTime(), (await stat(join(root, 'timed'))).mtime.getTime());
  });

  test('a listing does not descend into symbolic links', async () => {
    const { root, folder } = await freshFolder();
    await folder.put('real/object', bodyOf('x'));
    const { symlink } = await import('node:fs/promises');
    await symlink(root, join(root, 'loop'));
    const keys = await listedKeys(folder, '', { recursive: true });
    assert.ok(keys.includes('real/object'));
    assert.ok(!keys.some((key) => key.startsWith('loop/')), keys.join(','));
  });

  test('range arguments that are not whole non-negative numbers are refused', async () => {
    const { folder } = await freshFolder();
    await folder.put('r', bodyOf('0123'));
    await assert.rejects(folder.get('r', { offset: -1 }), /offset -1/);
    await assert.rejects(folder.get('r', { length: 1.5 }), /length 1.5/);
  });

  test('copy of a directory is NotFoundError', async () => {
    const { folder } = await freshFolder();
    await folder.put('d/x', bodyOf('x'));
    await assert.rejects(folder.copy('d', 'e'), NotFoundError);
  });

  test('keys are joined like Go path.Join: doubled slashes and dot segments are cleaned', async () => {
    const { root, folder } = await freshFolder();
    await folder.put('a//b/./c', bodyOf('x'));
    assert.equal(await readFile(join(root, 'a/b/c'), 'utf8'), 'x');
    assert.ok(new FileStorageDriver('/r').filePath('x/../y') === '/r/y');
  });
});

describe('opening a file storage', () => {
  const noSettings = (): string | undefined => undefined;

  test('a missing root directory fails with WAL-G message', async () => {
    const missing = join(base, 'does-not-exist');
    await assert.rejects(openStorage({ kind: 'file', value: missing }, noSettings), {
      message:
        `configure storage with prefix "${missing}": create FS storage: ` +
        `FS storage root directory doesn't exist or is inaccessible: stat ${missing}: no such file or directory`,
    });
  });

  test('a leading file://localhost is stripped (WAL-E prefixes)', async () => {
    const root = await freshRoot();
    const folder = await openStorage({ kind: 'file', value: `file://localhost${root}` }, noSettings);
    await folder.put('wal_005/x', bodyOf('wale'));
    assert.equal(await readFile(join(root, 'wal_005/x'), 'utf8'), 'wale');
  });

  test('WALG_STORAGE_PREFIX puts everything under that sub-path', async () => {
    const root = await freshRoot();
    const settings = new Map([['WALG_STORAGE_PREFIX', '/cluster-a/']]);
    const folder = await openStorage({ kind: 'file', value: root }, (name) => settings.get(name));
    assert.equal(folder.path, 'cluster-a/');
    await folder.put('wal_005/x', bodyOf('scoped'));
    assert.equal(await readFile(join(root, 'cluster-a/wal_005/x'), 'utf8'), 'scoped');
    assert.deepEqual(await listedKeys(folder), ['wal_005/']);
  });

  test('an empty WALG_STORAGE_PREFIX means the root', async () => {
    const root = await freshRoot();
    const folder = await openStorage({ kind: 'file', value: root }, (name) => (name === 'WALG_STORAGE_PREFIX' ? '' : undefined));
    assert.equal(folder.path, '');
  });

  test('kinds without a driver yet say so', async () => {
    await assert.rejects(openStorage({ kind: 'oss', value: 'oss://bucket/path' }, noSettings), {
      message: 'oss storage: not implemented yet',
    });
  });

  test('a malformed cloud prefix is reported in WAL-G words before anything else', async () => {
    await assert.rejects(openStorage({ kind: 's3', value: 'bucket/path' }, noSettings), {
      message:
        'configure storage with prefix "bucket/path": extract bucket and path from prefix "bucket/path": ' +
        'missing url scheme="" and/or host=""',
    });
  });

  test('a GCS_NORMALIZE_PREFIX that is no boolean is refused like WAL-G', async () => {
    await assert.rejects(
      openStorage({ kind: 'gs', value: 'gs://bucket/x' }, (name) => (name === 'GCS_NORMALIZE_PREFIX' ? 'maybe' : undefined)),
      {
        message:
          'configure storage with prefix "gs://bucket/x": setting "GCS_NORMALIZE_PREFIX" must be a boolean: ' +
          'strconv.ParseBool: parsing "maybe": invalid syntax',
      },
    );
  });
});
