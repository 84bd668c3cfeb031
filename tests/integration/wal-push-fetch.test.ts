// The built binary's wal-push, wal-fetch and wal-prefetch on file storage: exact messages and exit codes, faults
// (missing file, changed content, unwritable storage or destination, kill -9 half-way) and the prefetch child.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { resolveClusterUser } from '../helpers/postgres.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { runWalg, WALG_BIN } from '../helpers/walg.ts';
import { fakeSegment } from '../helpers/wal-fixtures.ts';

const S1 = '000000010000000000000001';
const S2 = '000000010000000000000002';
const S3 = '000000010000000000000003';
const S4 = '000000010000000000000004';
const TIMESTAMP = '\\d{4}/\\d\\d/\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{6}';
const runningAsRoot = process.getuid?.() === 0;
const addonDir = makeTempDir({ prefix: 'walnut-addons-' });
/** Environment changes for a run as the unprivileged test user: an addon cache of its own. */
function asTestUser(env: NodeJS.ProcessEnv): { env: NodeJS.ProcessEnv; user: string } {
  const user = resolveClusterUser();
  return { env: { ...env, WALG_ADDON_DIR: makeTempDir({ prefix: 'walnut-addons-', owner: user.name }) }, user: user.name };
}

interface Setup {
  readonly root: string;
  readonly storage: string;
  readonly walDir: string;
  readonly env: NodeJS.ProcessEnv;
}

/** A private directory with storage/ and data/pg_wal/archive_status, and the environment pointing at them. */
function setup(extraEnv: NodeJS.ProcessEnv = {}): Setup {
  const root = makeTempDir({ prefix: 'walnut-walcli-', mode: 0o755 });
  const storage = join(root, 'storage');
  const walDir = join(root, 'data', 'pg_wal');
  mkdirSync(storage, { recursive: true });
  mkdirSync(join(walDir, 'archive_status'), { recursive: true });
  const env = { PATH: process.env.PATH, HOME: root, WALG_ADDON_DIR: addonDir, WALG_FILE_PREFIX: storage, PGDATA: join(root, 'data'), ...extraEnv };
  return { root, storage, walDir, env };
}

function storedNames(storage: string): string[] {
  const folder = join(storage, 'wal_005');
  return existsSync(folder) ? readdirSync(folder).sort() : [];
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('wal-push (binary)', () => {
  test('pushes a segment as wal_005/<name>.lz4 and logs WAL-G\'s lines; wal-fetch returns the same bytes', async () => {
    const { walDir, storage, env, root } = setup();
    const data = fakeSegment(16 * 1024 * 1024);
    writeFileSync(join(walDir, S1), data);
    const pushed = await runWalg(['wal-push', join(walDir, S1)], { env });
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.match(pushed.stderr, new RegExp(`^INFO: ${TIMESTAMP} Files will be uploaded to storage: default\\nINFO: ${TIMESTAMP} FILE PATH: ${S1}\\.lz4\\n$`));
    assert.deepEqual(storedNames(storage), [`${S1}.lz4`]);
    const fetched = await runWalg(['wal-fetch', S1, join(root, 'RECOVERYXLOG')], { env: { ...env, WALG_DOWNLOAD_CONCURRENCY: '1' } });
    assert.equal(fetched.code, 0, fetched.stderr);
    assert.equal(fetched.stderr, '');
    assert.ok(readFileSync(join(root, 'RECOVERYXLOG')).equals(data));
  });

  test('a missing file exits 1 with "upload: could not open" and stores nothing', async () => {
    const { walDir, storage, env } = setup();
    const path = join(walDir, S1);
    const result = await runWalg(['wal-push', path], { env });
    assert.equal(result.code, 1);
    assert.match(result.stderr, new RegExp(`ERROR: ${TIMESTAMP} upload: could not open '${path}'\\n: open ${path}: no such file or directory\\n$`));
    assert.deepEqual(storedNames(storage), []);
  });

  test('with WALG_PREVENT_WAL_OVERWRITE an identical re-push succeeds and a changed one fails without touching the archive', async () => {
    const { walDir, storage, env } = setup({ WALG_PREVENT_WAL_OVERWRITE: 'true' });
    const path = join(walDir, S1);
    writeFileSync(path, fakeSegment());
    assert.equal((await runWalg(['wal-push', path], { env })).code, 0);
    const before = readFileSync(join(storage, 'wal_005', `${S1}.lz4`));
    const again = await runWalg(['wal-push', path], { env });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, new RegExp(`INFO: ${TIMESTAMP} WAL file '${path}' already archived with equal content, skipping\\n`));
    writeFileSync(path, fakeSegment());
    const changed = await runWalg(['wal-push', path], { env });
    assert.equal(changed.code, 1);
    assert.match(changed.stderr, new RegExp(`ERROR: ${TIMESTAMP} WAL file '${path}' already archived, contents differ, unable to overwrite\\n$`));
    assert.ok(readFileSync(join(storage, 'wal_005', `${S1}.lz4`)).equals(before));
  });

  test('a .history file with different content is refused even without WALG_PREVENT_WAL_OVERWRITE', async () => {
    const { walDir, env } = setup();
    const path = join(walDir, '00000002.history');
    writeFileSync(path, '1\t0/3000000\tno recovery target specified\n');
    assert.equal((await runWalg(['wal-push', path], { env })).code, 0);
    writeFileSync(path, '1\t0/5000000\tno recovery target specified\n');
    const changed = await runWalg(['wal-push', path], { env });
    assert.equal(changed.code, 1);
    assert.match(changed.stderr, /already archived, contents differ, unable to overwrite/);
  });

  test('an unwritable storage exits 1, names the file, and leaves no object or temporary file', { skip: runningAsRoot ? false : 'needs root to switch users' }, async () => {
    const { walDir, storage, env } = setup();
    const path = join(walDir, S1);
    writeFileSync(path, fakeSegment());
    chmodSync(path, 0o644);
    mkdirSync(join(storage, 'wal_005'));
    const result = await runWalg(['wal-push', path], asTestUser(env));
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, new RegExp(`ERROR: ${TIMESTAMP} upload: could not Upload '${path}'\\n: .*permission denied`));
    assert.deepEqual(storedNames(storage), []);
  });

  test('kill -9 during the upload leaves nothing that wal-fetch would return', async () => {
    const { walDir, storage, env, root } = setup();
    const path = join(walDir, S1);
    writeFileSync(path, fakeSegment(64 * 1024 * 1024));
    const child = spawn(WALG_BIN, ['wal-push', path], { env, stdio: 'ignore' });
    const exited = new Promise((resolve) => child.on('close', resolve));
    // Kill once the upload is writing its temporary object.
    await waitFor(() => storedNames(storage).some((name) => name.includes('walnut-tmp')), 'the upload to start');
    child.kill('SIGKILL');
    await exited;
    assert.equal(storedNames(storage).filter((name) => !name.includes('walnut-tmp')).length, 0);
    const fetched = await runWalg(['wal-fetch', S1, join(root, 'x')], { env: { ...env, WALG_DOWNLOAD_CONCURRENCY: '1' } });
    assert.equal(fetched.code, 74, fetched.stderr);
    assert.equal(existsSync(join(root, 'x')), false);
  });

  test('WALG_UPLOAD_WAL_METADATA=INDIVIDUAL adds <name>.json with the file\'s modification time', async () => {
    const { walDir, storage, env } = setup({ WALG_UPLOAD_WAL_METADATA: 'INDIVIDUAL' });
    const path = join(walDir, S1);
    writeFileSync(path, fakeSegment());
    const result = await runWalg(['wal-push', path], { env });
    assert.equal(result.code, 0, result.stderr);
    const document = JSON.parse(readFileSync(join(storage, 'wal_005', `${S1}.json`), 'utf8'));
    assert.deepEqual(Object.keys(document[S1]), ['created_time', 'date_fmt']);
    assert.equal(document[S1].date_fmt, '%Y-%m-%dT%H:%M:%S.%fZ');
    assert.match(document[S1].created_time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    const bad = await runWalg(['wal-push', path], { env: { ...env, WALG_UPLOAD_WAL_METADATA: 'SOME' } });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /got incorrect Wal metadata {2}level: 'SOME', expected one of: '\[BULK INDIVIDUAL NOMETADATA\]'/);
  });

  test('the background uploader sends the next .ready segments in the same call and PG_READY_RENAME marks them done', async () => {
    const { walDir, storage, env } = setup({ PG_READY_RENAME: 'true' });
    for (const name of [S1, S2, S3]) {
      // A large foreground file gives the background uploader time to find the others, as on a busy server.
      writeFileSync(join(walDir, name), fakeSegment(name === S1 ? 16 * 1024 * 1024 : undefined));
      writeFileSync(join(walDir, 'archive_status', `${name}.ready`), '');
    }
    const result = await runWalg(['wal-push', join(walDir, S1)], { env });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(storedNames(storage), [`${S1}.lz4`, `${S2}.lz4`, `${S3}.lz4`]);
    assert.deepEqual(readdirSync(join(walDir, 'archive_status')).sort(), [`${S1}.ready`, `${S2}.done`, `${S3}.done`]);
    assert.deepEqual(readdirSync(join(walDir, 'walg_data', 'walg_archive_status')).sort(), [S2, S3]);
  });
});

describe('wal-fetch (binary)', () => {
  test('a missing WAL file exits 74 with WAL-G\'s one ERROR line, for segments and history files alike', async () => {
    const { env, root } = setup({ WALG_DOWNLOAD_CONCURRENCY: '1' });
    for (const name of [S2, '00000005.history']) {
      const result = await runWalg(['wal-fetch', name, join(root, 'x')], { env });
      assert.equal(result.code, 74);
      assert.match(result.stderr, new RegExp(`^ERROR: ${TIMESTAMP} Archive '${name.replace('.', '\\.')}' does not exist\\.\\n$`));
      assert.equal(existsSync(join(root, 'x')), false);
    }
  });

  test('an existing destination exits 1 with "file exists"', async () => {
    const { env, root, walDir } = setup({ WALG_DOWNLOAD_CONCURRENCY: '1' });
    writeFileSync(join(walDir, S1), fakeSegment());
    await runWalg(['wal-push', join(walDir, S1)], { env });
    writeFileSync(join(root, 'x'), 'mine');
    const result = await runWalg(['wal-fetch', S1, join(root, 'x')], { env });
    assert.equal(result.code, 1);
    assert.match(result.stderr, new RegExp(`ERROR: ${TIMESTAMP} open ${join(root, 'x')}: file exists\\n$`));
    assert.equal(readFileSync(join(root, 'x'), 'utf8'), 'mine');
  });

  test('an unwritable destination directory exits 1 with "permission denied" and writes nothing', { skip: runningAsRoot ? false : 'needs root to switch users' }, async () => {
    const { env, root, walDir } = setup({ WALG_DOWNLOAD_CONCURRENCY: '1' });
    writeFileSync(join(walDir, S1), fakeSegment());
    await runWalg(['wal-push', join(walDir, S1)], { env });
    const locked = join(root, 'locked');
    mkdirSync(locked, { mode: 0o755 });
    const result = await runWalg(['wal-fetch', S1, join(locked, 'RECOVERYXLOG')], asTestUser(env));
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, new RegExp(`open ${join(locked, 'RECOVERYXLOG')}: permission denied\\n$`));
    assert.deepEqual(readdirSync(locked), []);
  });

  test('kill -9 during the download leaves no destination file, and the next fetch clears the leftover', async () => {
    const { env, root, walDir } = setup({ WALG_DOWNLOAD_CONCURRENCY: '1' });
    const data = fakeSegment(64 * 1024 * 1024);
    writeFileSync(join(walDir, S1), data);
    assert.equal((await runWalg(['wal-push', join(walDir, S1)], { env })).code, 0);
    const target = join(root, 'restore');
    mkdirSync(target);
    const child = spawn(WALG_BIN, ['wal-fetch', S1, join(target, 'RECOVERYXLOG')], { env, stdio: 'ignore' });
    const exited = new Promise((resolve) => child.on('close', resolve));
    await waitFor(() => readdirSync(target).length > 0, 'the download to start');
    child.kill('SIGKILL');
    await exited;
    assert.equal(existsSync(join(target, 'RECOVERYXLOG')), false);
    const retried = await runWalg(['wal-fetch', S1, join(target, 'RECOVERYXLOG')], { env });
    assert.equal(retried.code, 0, retried.stderr);
    assert.deepEqual(readdirSync(target), ['RECOVERYXLOG']);
    assert.ok(readFileSync(join(target, 'RECOVERYXLOG')).equals(data));
  });

  test('from a file storage, wal-fetch of the last archived segment starts no prefetch child; of an earlier one it does', async () => {
    const prefetchDir = makeTempDir({ prefix: 'walnut-prefetch-' });
    const { env, root, walDir } = setup({ WALG_PG_WAL_SIZE: '1', WALG_DOWNLOAD_CONCURRENCY: '3', WALG_PREFETCH_DIR: prefetchDir });
    for (const name of [S1, S2, S3]) {
      writeFileSync(join(walDir, name), fakeSegment());
      assert.equal((await runWalg(['wal-push', join(walDir, name)], { env })).code, 0);
    }
    const cache = join(prefetchDir, '.wal-g', 'prefetch');
    mkdirSync(cache, { recursive: true });
    // A child would clean this older cached name up: its staying shows that none started.
    const older = '000000010000000000000000';
    writeFileSync(join(cache, older), 'older');
    const last = await runWalg(['wal-fetch', S3, join(root, 'r3')], { env });
    assert.equal(last.code, 0, last.stderr);
    const missing = await runWalg(['wal-fetch', S4, join(root, 'r4')], { env });
    assert.equal(missing.code, 74, 'not archived');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.deepEqual(readdirSync(cache), [older], 'nothing follows S3 in the archive: no child');
    const first = await runWalg(['wal-fetch', S1, join(root, 'r1')], { env });
    assert.equal(first.code, 0, first.stderr);
    await waitFor(() => existsSync(join(cache, S2)) && existsSync(join(cache, S3)), 'the prefetch child');
    await waitFor(() => !existsSync(join(cache, older)), 'its cleanup');
  });

  test('wal-fetch starts no prefetch child for names a live child has queued, and one when the queuer is gone', async () => {
    const prefetchDir = makeTempDir({ prefix: 'walnut-prefetch-' });
    const { env, root, walDir } = setup({ WALG_PG_WAL_SIZE: '1', WALG_DOWNLOAD_CONCURRENCY: '4', WALG_PREFETCH_DIR: prefetchDir });
    const names = [S1, S2, S3, S4, '000000010000000000000005'];
    for (const name of names) {
      writeFileSync(join(walDir, name), fakeSegment());
      assert.equal((await runWalg(['wal-push', join(walDir, name)], { env })).code, 0);
    }
    const cache = join(prefetchDir, '.wal-g', 'prefetch');
    const queued = join(cache, 'queued');
    mkdirSync(queued, { recursive: true });
    // The window after S1 is S2..S5: all queued by a live process (this test) means nothing to start.
    for (const name of names.slice(1)) writeFileSync(join(queued, name), `${process.pid}\n`);
    // A child would also clean this older cached name up: its staying shows that none started.
    const older = '000000010000000000000000';
    writeFileSync(join(cache, older), 'older');
    const first = await runWalg(['wal-fetch', S1, join(root, 'r1')], { env });
    assert.equal(first.code, 0, first.stderr);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.deepEqual(readdirSync(cache).sort(), [older, 'queued'], 'no child started');
    // The same markers from a process that has exited count for nothing: a child starts and takes the names over.
    const gone = spawnSync('true').pid!;
    for (const name of names.slice(1)) writeFileSync(join(queued, name), `${gone}\n`);
    const second = await runWalg(['wal-fetch', S1, join(root, 'r2')], { env });
    assert.equal(second.code, 0, second.stderr);
    await waitFor(() => names.slice(1).every((name) => existsSync(join(cache, name))), 'the prefetch child');
    await waitFor(() => readdirSync(queued).length === 0, 'the child removing the markers');
    assert.equal(existsSync(join(cache, older)), false, 'and cleaned up');
  });

  test('the prefetch child caches the next segments, which later fetches use even after wal_005 is gone', async () => {
    const prefetchDir = makeTempDir({ prefix: 'walnut-prefetch-' });
    const { env, root, walDir, storage } = setup({ WALG_PG_WAL_SIZE: '1', WALG_DOWNLOAD_CONCURRENCY: '3', WALG_PREFETCH_DIR: prefetchDir });
    const segments = new Map<string, Buffer>();
    for (const name of [S1, S2, S3, S4]) {
      segments.set(name, fakeSegment());
      writeFileSync(join(walDir, name), segments.get(name)!);
    }
    for (const name of [S1, S2, S3, S4]) {
      const pushed = await runWalg(['wal-push', join(walDir, name)], { env });
      assert.equal(pushed.code, 0, pushed.stderr);
    }
    assert.deepEqual(storedNames(storage).length, 4);
    const first = await runWalg(['wal-fetch', S1, join(root, 'r1')], { env });
    assert.equal(first.code, 0, first.stderr);
    const cache = join(prefetchDir, '.wal-g', 'prefetch');
    await waitFor(() => [S2, S3, S4].every((name) => existsSync(join(cache, name))), 'the prefetch child');
    rmSync(join(storage, 'wal_005'), { recursive: true });
    for (const name of [S2, S3, S4]) {
      const result = await runWalg(['wal-fetch', name, join(root, name)], { env: { ...env, WALG_DOWNLOAD_CONCURRENCY: '1' } });
      assert.equal(result.code, 0, result.stderr);
      assert.ok(readFileSync(join(root, name)).equals(segments.get(name)!), `${name} from the prefetch cache`);
    }
  });
});
