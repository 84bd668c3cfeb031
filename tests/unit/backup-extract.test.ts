// Writing tar members into a restore directory: hostile members refused with nothing written outside, and `wi1`
// increments applied forward (in place) and in reverse (only into missing pages).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import tarStream from 'tar-stream';
import { encodeIncrementHeader } from '../../src/backup/increment.ts';
import type { BackupFileDescription } from '../../src/backup/files-metadata.ts';
import { BackupExtractor, type ExtractorOptions } from '../../src/backup/restore-files.ts';
import { ExtractionGuard, memberRelativePath, readTarMembers, UnsafeArchiveError } from '../../src/backup/tar-reader.ts';
import { makeTempDir, removeTempDir } from '../helpers/tmp.ts';

const PAGE = 8192;

interface Entry {
  readonly name: string;
  readonly type?: 'file' | 'directory' | 'symlink' | 'link';
  readonly body?: Buffer | string;
  readonly linkname?: string;
  readonly mode?: number;
}

async function tarOf(entries: readonly Entry[]): Promise<Buffer> {
  const pack = tarStream.pack();
  for (const entry of entries) {
    const body = Buffer.from(entry.body ?? '');
    pack.entry({ name: entry.name, type: entry.type ?? 'file', linkname: entry.linkname, mode: entry.mode ?? 0o600, size: body.length }, body);
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function workspace(t: { after(fn: () => void): void }): { parent: string; target: string } {
  const parent = makeTempDir({ prefix: 'walnut-extract-' });
  t.after(() => removeTempDir(parent));
  const target = join(parent, 'restore');
  mkdirSync(target);
  return { parent, target };
}

async function extract(target: string, tar: Buffer, options: Partial<ExtractorOptions> = {}, guard = new ExtractionGuard()): Promise<BackupExtractor> {
  const extractor = new BackupExtractor({
    target,
    guard,
    selection: undefined,
    excluded: new Set(),
    files: new Map(),
    isIncremental: false,
    mode: 'forward',
    fsync: false,
    pageSize: PAGE,
    ...options,
  });
  await readTarMembers(Readable.from([tar]), (member, body) => extractor.member(member, body));
  await extractor.flush();
  return extractor;
}

function onlyTheTargetExists(parent: string): void {
  assert.deepEqual(readdirSync(parent), ['restore']);
}

test('WAL-G member names with a leading slash are relative to the restore directory', async (t) => {
  const { parent, target } = workspace(t);
  await extract(target, await tarOf([{ name: '/', type: 'directory', mode: 0o700 }, { name: '/etc/passwd', body: 'not the real one' }, { name: 'backup_label', body: 'label' }]));
  assert.equal(readFileSync(join(target, 'etc/passwd'), 'utf8'), 'not the real one');
  assert.equal(readFileSync(join(target, 'backup_label'), 'utf8'), 'label');
  assert.equal(statSync(target).mode & 0o777, 0o700);
  onlyTheTargetExists(parent);
});

test('a member with .. in its name is refused and nothing is written outside', async (t) => {
  const { parent, target } = workspace(t);
  const tar = await tarOf([{ name: 'base/ok', body: 'x' }, { name: '../escaped', body: 'evil' }]);
  await assert.rejects(extract(target, tar), (error: unknown) => error instanceof UnsafeArchiveError && /'\.\.\/escaped' has a '\.\.' path component/.test(error.message));
  onlyTheTargetExists(parent);
  assert.throws(() => memberRelativePath('/base/../../x'), UnsafeArchiveError);
  assert.equal(memberRelativePath('./base//1/./2'), 'base/1/2');
});

test('a symbolic link to an absolute path is refused', async (t) => {
  const { parent, target } = workspace(t);
  await assert.rejects(extract(target, await tarOf([{ name: 'link', type: 'symlink', linkname: '/etc' }])), /symbolic link to the absolute path '\/etc'/);
  assert.equal(existsSync(join(target, 'link')), false);
  onlyTheTargetExists(parent);
});

test('a symbolic link climbing out with .. is refused, one staying inside is made', async (t) => {
  const { parent, target } = workspace(t);
  await assert.rejects(extract(target, await tarOf([{ name: 'a/link', type: 'symlink', linkname: '../../outside' }])), /leaves the restore directory/);
  await extract(target, await tarOf([{ name: 'b/inside', type: 'symlink', linkname: '../a' }]));
  assert.equal(readlinkSync(join(target, 'b/inside')), '../a');
  onlyTheTargetExists(parent);
});

test('nothing is written through a symbolic link an earlier member created', async (t) => {
  const { parent, target } = workspace(t);
  const tar = await tarOf([
    { name: 'loop', type: 'symlink', linkname: '.' },
    { name: 'loop/loop/loop/file', body: 'through the link' },
  ]);
  await assert.rejects(extract(target, tar), /goes through the symbolic link 'loop'/);
  const overwrite = await tarOf([{ name: 'self', type: 'symlink', linkname: 'victim' }, { name: 'self', body: 'x' }]);
  const other = join(parent, 'restore2');
  mkdirSync(other);
  await assert.rejects(extract(other, overwrite), /goes through the symbolic link 'self'/);
  assert.deepEqual(readdirSync(parent).sort(), ['restore', 'restore2']);
  assert.equal(lstatSync(join(target, 'loop')).isSymbolicLink(), true);
});

test('a hard link to something outside the directory is refused', async (t) => {
  const { parent, target } = workspace(t);
  writeFileSync(join(parent, 'secret'), 'secret');
  await assert.rejects(extract(target, await tarOf([{ name: 'stolen', type: 'link', linkname: '../secret' }])), /hard link to '\.\.\/secret'/);
  assert.equal(existsSync(join(target, 'stolen')), false);
  await extract(target, await tarOf([{ name: '/base/1', body: 'data' }, { name: '/base/2', type: 'link', linkname: '/base/1' }]));
  assert.equal(statSync(join(target, 'base/2')).ino, statSync(join(target, 'base/1')).ino);
});

test('bytes after the end of the archive that are not zero fail the tar', async (t) => {
  const { target } = workspace(t);
  const tar = Buffer.concat([await tarOf([{ name: 'a', body: 'x' }]), Buffer.alloc(512, 0x41)]);
  await assert.rejects(extract(target, tar), /invalid tar header at byte 2048 \(data after the end of the archive\)/);
  const padded = Buffer.concat([await tarOf([{ name: 'b', body: 'y' }]), Buffer.alloc(10240)]);
  await extract(target, padded);
  assert.equal(readFileSync(join(target, 'b'), 'utf8'), 'y');
});

test('only selected members are written, and excluded ones never', async (t) => {
  const { target } = workspace(t);
  const tar = await tarOf([{ name: '/wanted', body: '1' }, { name: '/unwanted', body: '2' }, { name: 'tablespace_map', body: '16384 /x' }]);
  await extract(target, tar, { selection: new Set(['/wanted', 'tablespace_map']), excluded: new Set(['tablespace_map']) });
  assert.deepEqual(readdirSync(target), ['wanted']);
});

function page(fill: number): Buffer {
  return Buffer.alloc(PAGE, fill);
}

function increment(fileSize: number, blocks: Array<[number, Buffer]>, extra = Buffer.alloc(0)): Buffer {
  return Buffer.concat([encodeIncrementHeader(fileSize, blocks.map(([block]) => block)), ...blocks.map(([, data]) => data), extra]);
}

const INCREMENTED: BackupFileDescription = { isIncremented: true, isSkipped: false, modificationTime: '2025-01-01T00:00:00Z', updatesCount: 0 };

test('forward unpack applies an increment in place: truncate to the recorded size, then write the pages', async (t) => {
  const { target } = workspace(t);
  mkdirSync(join(target, 'base/5'), { recursive: true });
  writeFileSync(join(target, 'base/5/16384'), Buffer.concat([page(1), page(1), page(1), page(1)]));
  const tar = await tarOf([{ name: '/base/5/16384', body: increment(3 * PAGE, [[1, page(9)]]) }]);
  await extract(target, tar, { files: new Map([['/base/5/16384', INCREMENTED]]), isIncremental: true });
  assert.deepEqual(readFileSync(join(target, 'base/5/16384')), Buffer.concat([page(1), page(9), page(1)]));
});

test('forward unpack refuses an increment for a missing file and trailing data after the pages', async (t) => {
  const { target } = workspace(t);
  const files = new Map([['/base/5/1', INCREMENTED]]);
  await assert.rejects(extract(target, await tarOf([{ name: '/base/5/1', body: increment(PAGE, [[0, page(2)]]) }]), { files, isIncremental: true }), /incremented file should always exist/);
  mkdirSync(join(target, 'base/5'), { recursive: true });
  writeFileSync(join(target, 'base/5/1'), page(1));
  await assert.rejects(
    extract(target, await tarOf([{ name: '/base/5/1', body: increment(PAGE, [[0, page(2)]], Buffer.from('junk')) }]), { files, isIncremental: true }),
    /Expected end of Tar/,
  );
  const bad = increment(PAGE, [[0, page(2)]]);
  bad[0] = 0x78;
  await assert.rejects(extract(target, await tarOf([{ name: '/base/5/1', body: bad }]), { files, isIncremental: true }), /Invalid increment file header/);
});

test('reverse unpack creates a file from an increment with zero pages where the increment has none', async (t) => {
  const { target } = workspace(t);
  const tar = await tarOf([{ name: '/base/5/20000', body: increment(3 * PAGE, [[2, page(7)]]), mode: 0o600 }]);
  const extractor = await extract(target, tar, { files: new Map([['/base/5/20000', INCREMENTED]]), isIncremental: true, mode: 'reverse' });
  assert.deepEqual(readFileSync(join(target, 'base/5/20000')), Buffer.concat([page(0), page(0), page(7)]));
  assert.equal(extractor.result.createdPageFiles.get('/base/5/20000'), 2);
  assert.equal(statSync(join(target, 'base/5/20000')).mode & 0o777, 0o600);
});

test('reverse unpack fills only missing pages from older increments and older whole copies', async (t) => {
  const { target } = workspace(t);
  mkdirSync(join(target, 'base/5'), { recursive: true });
  const path = join(target, 'base/5/20000');
  writeFileSync(path, Buffer.concat([page(0), page(0), page(7)]));
  const olderIncrement = await tarOf([{ name: '/base/5/20000', body: increment(3 * PAGE, [[1, page(5)], [2, page(6)], [9, page(6)]]) }]);
  const afterIncrement = await extract(target, olderIncrement, { files: new Map([['/base/5/20000', INCREMENTED]]), isIncremental: true, mode: 'reverse' });
  assert.deepEqual(readFileSync(path), Buffer.concat([page(0), page(5), page(7)]));
  assert.equal(afterIncrement.result.writtenIncrementFiles.get('/base/5/20000'), 1);
  const fullCopy = await tarOf([{ name: '/base/5/20000', body: Buffer.concat([page(3), page(3), page(3), page(3)]) }]);
  const afterFull = await extract(target, fullCopy, { mode: 'reverse' });
  assert.deepEqual(readFileSync(path), Buffer.concat([page(3), page(5), page(7)]));
  assert.deepEqual(afterFull.result.completedFiles, ['/base/5/20000']);
});

test('reverse unpack keeps a newer non-page file that is already there', async (t) => {
  const { target } = workspace(t);
  writeFileSync(join(target, 'postgresql.conf'), 'newer');
  await extract(target, await tarOf([{ name: '/postgresql.conf', body: 'older' }]), { mode: 'reverse' });
  assert.equal(readFileSync(join(target, 'postgresql.conf'), 'utf8'), 'newer');
});

test('files restored from an LZ4 tar are byte-exact while the decoder refills the slices the writer gives back', async (t) => {
  const { target } = workspace(t);
  const { Lz4FrameEncoder } = await import('../../src/compression/lz4-encoder.ts');
  const { Lz4FrameDecoder } = await import('../../src/compression/lz4-decoder.ts');
  const { pipeline } = await import('node:stream/promises');
  const { PassThrough } = await import('node:stream');
  // Several MiB per file, different in every 8 KiB page, so a slice refilled before its bytes were written shows.
  const bodies = [0, 1, 2].map((file) => {
    const body = Buffer.alloc((5 << 20) + 3 * 1000 * (file + 1));
    for (let page = 0; page * PAGE < body.length; page++) body.fill(`${file}:${page};`, page * PAGE, Math.min(body.length, (page + 1) * PAGE));
    return body;
  });
  const tar = await tarOf(bodies.map((body, file) => ({ name: `base/1/${16384 + file}`, body })));
  const compressed: Buffer[] = [];
  await pipeline(Readable.from([tar]), new Lz4FrameEncoder(), async function* (source: AsyncIterable<Buffer>) {
    for await (const chunk of source) compressed.push(Buffer.from(chunk));
  });
  const decoded = new PassThrough({ highWaterMark: 1 << 20 });
  const decoding = pipeline(Readable.from([Buffer.concat(compressed)]), new Lz4FrameDecoder(), decoded);
  const extractor = new BackupExtractor({
    target, guard: new ExtractionGuard(), selection: undefined, excluded: new Set(), files: new Map(),
    isIncremental: false, mode: 'forward', fsync: false, pageSize: PAGE,
  });
  await readTarMembers(decoded, (member, body) => extractor.member(member, body));
  await decoding;
  await extractor.flush();
  for (const [file, body] of bodies.entries()) {
    assert.ok(readFileSync(join(target, `base/1/${16384 + file}`)).equals(body), `file ${file} restored byte for byte`);
  }
});
