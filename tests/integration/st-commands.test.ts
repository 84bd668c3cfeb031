// Runs the built binary's `st` commands against file storage and pins their output, log lines and exit codes.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { runWalg, WALG_BIN, type WalgResult } from '../helpers/walg.ts';
import { makeTempDir, removeTempDir } from '../helpers/tmp.ts';

/** 2024-01-31 12:00:00 UTC: listed times are pinned to it. */
const PINNED_SECONDS = Date.UTC(2024, 0, 31, 12, 0, 0) / 1000;
const LOG_LINE = /^(INFO|WARNING|ERROR): \d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d\.\d{6} (.*)$/;

interface Sandbox {
  readonly root: string;
  readonly store: string;
  readonly env: NodeJS.ProcessEnv;
  file(path: string): string;
}

/** A temp dir with an empty home, a storage folder holding `objects` (mtime pinned), and an env pointing at it. */
function sandbox(t: { after(fn: () => void): void }, objects: Record<string, string | Buffer> = {}, extraEnv: NodeJS.ProcessEnv = {}): Sandbox {
  const root = makeTempDir({ prefix: 'walnut-st-' });
  t.after(() => removeTempDir(root));
  const store = join(root, 'store');
  const home = join(root, 'home');
  mkdirSync(store);
  mkdirSync(home);
  for (const [path, content] of Object.entries(objects)) {
    const full = join(store, path);
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, content);
    utimesSync(full, PINNED_SECONDS, PINNED_SECONDS);
  }
  const env = { PATH: process.env.PATH, HOME: home, TZ: 'UTC', WALG_FILE_PREFIX: store, ...extraEnv };
  return { root, store, env, file: (path) => join(root, path) };
}

function walg(box: Sandbox, args: string[], input?: string | Buffer): Promise<WalgResult> {
  return runWalg(args, { env: box.env, input, cwd: box.root });
}

/** stderr as `LEVEL: message` lines, timestamps checked and dropped. */
function logLines(stderr: string): string[] {
  return stderr
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const match = LOG_LINE.exec(line);
      assert.ok(match, `not a WAL-G log line: ${JSON.stringify(line)}`);
      return `${match[1]}: ${match[2]}`;
    });
}

test('st ls prints folders, then objects, in a tab-aligned table with Go time format', async (t) => {
  const box = sandbox(t, {
    'wal_005/000000010000000000000001.lz4': 'x',
    'basebackups_005/base_000000010000000000000002_backup_stop_sentinel.json': '{}',
    'a.txt': 'hello',
    'long-name.bin': Buffer.alloc(1234),
  });
  utimesSync(join(box.store, 'long-name.bin'), PINNED_SECONDS, PINNED_SECONDS + 0.25);
  const result = await walg(box, ['st', 'ls']);
  assert.equal(result.stderr, '');
  assert.equal(result.code, 0);
  assert.equal(
    result.stdout,
    'type size last modified                    name\n' +
      'dir  0    0001-01-01 00:00:00 +0000 UTC    basebackups_005/ \n' +
      'dir  0    0001-01-01 00:00:00 +0000 UTC    wal_005/         \n' +
      'obj  5    2024-01-31 12:00:00 +0000 UTC    a.txt            \n' +
      'obj  1234 2024-01-31 12:00:00.25 +0000 UTC long-name.bin    \n',
  );
});

test('st ls on an empty storage prints only the header', async (t) => {
  const box = sandbox(t);
  const result = await walg(box, ['st', 'ls']);
  assert.equal(result.code, 0);
  assert.equal(result.stdout, 'type size last modified name\n');
});

test('st ls of a sub-folder shows nested names with a leading slash, as WAL-G file storage does', async (t) => {
  const box = sandbox(t, {
    'base/b/deep/x': '1',
    'base/a.json': '22',
    'base/c/y': '333',
  });
  const plain = await walg(box, ['st', 'ls', 'base']);
  assert.equal(plain.code, 0);
  assert.equal(
    plain.stdout,
    'type size last modified                 name\n' +
      'dir  0    0001-01-01 00:00:00 +0000 UTC /b/    \n' +
      'dir  0    0001-01-01 00:00:00 +0000 UTC /c/    \n' +
      'obj  2    2024-01-31 12:00:00 +0000 UTC a.json \n',
  );
  // Breadth first: the folder's own objects, then each level below.
  const recursive = await walg(box, ['st', 'ls', '-r', 'base/']);
  assert.equal(recursive.code, 0);
  assert.deepEqual(
    recursive.stdout.split('\n').slice(1, -1).map((line) => line.trimEnd().split(/ +/).pop()),
    ['a.json', '/c/y', '/b/deep/x'],
  );
});

test('st ls --glob prints each matching folder, its listing and a blank line', async (t) => {
  const box = sandbox(t, {
    'basebackups_005/base_1/metadata.json': '{}',
    'basebackups_005/base_2/metadata.json': '{}',
    'basebackups_005/other/metadata.json': '{}',
    'basebackups_005/base_3.json': '{}',
  });
  const result = await walg(box, ['st', 'ls', '--glob', 'basebackups_005/base_*']);
  assert.equal(result.code, 0);
  const table =
    'type size last modified                 name\n' +
    'obj  2    2024-01-31 12:00:00 +0000 UTC metadata.json \n';
  assert.equal(result.stdout, `basebackups_005/base_1:\n${table}\nbasebackups_005/base_2:\n${table}\n`);
  const bad = await walg(box, ['st', 'ls', '-g', 'basebackups_005/[']);
  assert.equal(bad.code, 1);
  assert.deepEqual(logLines(bad.stderr), ['ERROR: syntax error in pattern']);
});

test('st put stores <destination>.lz4 and st get decodes it back into a new file', async (t) => {
  const box = sandbox(t);
  const content = 'The quick brown fox\n'.repeat(5000);
  writeFileSync(box.file('input.txt'), content);
  const put = await walg(box, ['st', 'put', 'input.txt', 'folder/object']);
  assert.equal(put.code, 0, put.stderr);
  assert.equal(put.stderr, '');
  assert.deepEqual(readdirSync(join(box.store, 'folder')), ['object.lz4']);
  assert.equal(readFileSync(join(box.store, 'folder/object.lz4')).readUInt32LE(0), 0x184d2204);

  const get = await walg(box, ['st', 'get', 'folder/object.lz4', 'restored.txt']);
  assert.equal(get.code, 0, get.stderr);
  assert.equal(get.stderr, '');
  assert.equal(readFileSync(box.file('restored.txt'), 'utf8'), content);

  // A directory as destination receives the object's base name.
  mkdirSync(box.file('into'));
  const intoDirectory = await walg(box, ['st', 'get', '/folder/object.lz4', 'into']);
  assert.equal(intoDirectory.code, 0, intoDirectory.stderr);
  assert.equal(readFileSync(box.file('into/object.lz4'), 'utf8'), content);
});

test('st put refuses to replace an object without -f, and replaces it with -f', async (t) => {
  const box = sandbox(t);
  writeFileSync(box.file('one'), 'first');
  writeFileSync(box.file('two'), 'second');
  assert.equal((await walg(box, ['st', 'put', 'one', 'dir/obj'])).code, 0);
  const refused = await walg(box, ['st', 'put', 'two', 'dir/obj']);
  assert.equal(refused.code, 1);
  assert.deepEqual(logLines(refused.stderr), [
    'ERROR: check file overwrite: object dir/obj.lz4 already exists. To overwrite it, add the -f flag',
  ]);
  const forced = await walg(box, ['st', 'put', '-f', 'two', 'dir/obj']);
  assert.equal(forced.code, 0, forced.stderr);
  const cat = await walg(box, ['st', 'cat', '--decompress', 'dir/obj.lz4']);
  assert.equal(cat.stdout, 'second');
});

test('st put -s reads stdin; --no-compress and method none choose the stored name', async (t) => {
  const box = sandbox(t);
  const fromStdin = await walg(box, ['st', 'put', '-s', 'piped/data'], 'from stdin\n');
  assert.equal(fromStdin.code, 0, fromStdin.stderr);
  assert.equal((await walg(box, ['st', 'cat', '--decompress', 'piped/data.lz4'])).stdout, 'from stdin\n');

  const raw = await walg(box, ['st', 'put', '-s', '--no-compress', 'piped/raw'], 'plain');
  assert.equal(raw.code, 0, raw.stderr);
  assert.equal(readFileSync(join(box.store, 'piped/raw'), 'utf8'), 'plain');

  const none = await runWalg(['st', 'put', '-s', 'piped/none'], { env: { ...box.env, WALG_COMPRESSION_METHOD: 'none' }, input: 'none' });
  assert.equal(none.code, 0, none.stderr);
  assert.equal(readFileSync(join(box.store, 'piped/none.'), 'utf8'), 'none');
  assert.deepEqual(readdirSync(join(box.store, 'piped')).sort(), ['data.lz4', 'none.', 'raw']);
});

test('st put names its argument errors in WAL-G words', async (t) => {
  const box = sandbox(t);
  const oneArgument = await walg(box, ['st', 'put', 'only']);
  assert.equal(oneArgument.code, 1);
  assert.deepEqual(logLines(oneArgument.stderr), ['ERROR: should specify localPath on read-from stdin flag']);

  mkdirSync(box.file('adir'));
  const directory = await walg(box, ['st', 'put', 'adir', 'x']);
  assert.equal(directory.code, 1);
  assert.deepEqual(logLines(directory.stderr), ['ERROR: provided local path (adir) points to a directory, exiting']);

  const missing = await walg(box, ['st', 'put', 'nothing-here', 'x']);
  assert.equal(missing.code, 1);
  assert.deepEqual(logLines(missing.stderr), ['ERROR: open the local file: open nothing-here: no such file or directory']);
  assert.deepEqual(readdirSync(box.store), []);
});

test('st get fails on an existing destination and leaves it untouched', async (t) => {
  const box = sandbox(t, { 'obj.': 'stored' });
  writeFileSync(box.file('exists'), 'mine');
  const result = await walg(box, ['st', 'get', 'obj.', 'exists']);
  assert.equal(result.code, 1);
  assert.deepEqual(logLines(result.stderr), ['ERROR: open the destination file: open exists: file exists']);
  assert.equal(readFileSync(box.file('exists'), 'utf8'), 'mine');
});

test('st get of a missing object exits 1 and leaves no file', async (t) => {
  const box = sandbox(t);
  const result = await walg(box, ['st', 'get', 'wal_005/nothing.lz4', 'out']);
  assert.equal(result.code, 1);
  assert.deepEqual(logLines(result.stderr), [`ERROR: download the file: object '${box.store}/wal_005/nothing.lz4' not found in storage`]);
  assert.deepEqual(readdirSync(box.root).sort(), ['home', 'store']);
});

test('st get --no-decompress keeps the stored bytes; an unknown extension warns and copies them', async (t) => {
  const box = sandbox(t, { 'doc.json': '{"a":1}' });
  await walg(box, ['st', 'put', '-s', 'blob'], 'payload');
  const stored = readFileSync(join(box.store, 'blob.lz4'));
  const raw = await walg(box, ['st', 'get', '--no-decompress', 'blob.lz4', 'raw.lz4']);
  assert.equal(raw.code, 0, raw.stderr);
  assert.deepEqual(readFileSync(box.file('raw.lz4')), stored);

  const unknown = await walg(box, ['st', 'get', 'doc.json', 'doc']);
  assert.equal(unknown.code, 0);
  assert.deepEqual(logLines(unknown.stderr), [
    "WARNING: decompressor for extension '.json' was not found (supported methods: [lz4 lzma none brotli zstd]), will download uncompressed",
  ]);
  assert.equal(readFileSync(box.file('doc'), 'utf8'), '{"a":1}');
});

test('st cat writes stored bytes unless --decompress; --glob concatenates the matches', async (t) => {
  const box = sandbox(t);
  await walg(box, ['st', 'put', '-s', 'logs/a'], 'first\n');
  await walg(box, ['st', 'put', '-s', 'logs/b'], 'second\n');
  const stored = await walg(box, ['st', 'cat', 'logs/a.lz4']);
  assert.equal(stored.code, 0);
  assert.equal(Buffer.from(stored.stdout, 'latin1').subarray(0, 4).toString('hex'), '04224d18');
  const decoded = await walg(box, ['st', 'cat', '--decompress', 'logs/a.lz4']);
  assert.equal(decoded.stdout, 'first\n');
  const globbed = await walg(box, ['st', 'cat', '--decompress', '--glob', 'logs/*.lz4']);
  assert.equal(globbed.code, 0, globbed.stderr);
  assert.equal(globbed.stdout, 'first\nsecond\n');
  const missing = await walg(box, ['st', 'cat', 'logs/c.lz4']);
  assert.equal(missing.code, 1);
  assert.deepEqual(logLines(missing.stderr), [`ERROR: download the file: object '${box.store}/logs/c.lz4' not found in storage`]);
});

test('st cat ends quietly with 141, like a Go program on SIGPIPE, when its reader goes away', async (t) => {
  const box = sandbox(t, { 'big.': Buffer.alloc(8 * 1024 * 1024, 7) });
  const child = spawn(WALG_BIN, ['st', 'cat', 'big.'], { env: box.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const [first] = (await once(child.stdout, 'data')) as [Buffer];
  assert.ok(first.length > 0);
  child.stdout.destroy();
  const [code] = (await once(child, 'close')) as [number | null];
  assert.equal(code, 141);
  assert.equal(stderr, '');
});

test('st rm removes one object, or a folder with everything under it, and fails when nothing matches', async (t) => {
  const box = sandbox(t, {
    'wal_005/a.lz4': '1',
    'wal_005/ab.lz4': '2',
    'basebackups_005/base_1/tar_partitions/part_001.tar.lz4': '3',
    'basebackups_005/base_1/metadata.json': '4',
    'basebackups_005/base_1_backup_stop_sentinel.json': '5',
  });
  assert.equal((await walg(box, ['st', 'rm', 'wal_005/a.lz4'])).code, 0);
  assert.deepEqual(readdirSync(join(box.store, 'wal_005')), ['ab.lz4']);
  const folder = await walg(box, ['st', 'rm', 'basebackups_005/base_1']);
  assert.equal(folder.code, 0, folder.stderr);
  assert.equal(existsSync(join(box.store, 'basebackups_005/base_1/metadata.json')), false);
  assert.equal(existsSync(join(box.store, 'basebackups_005/base_1/tar_partitions/part_001.tar.lz4')), false);
  assert.equal(existsSync(join(box.store, 'basebackups_005/base_1_backup_stop_sentinel.json')), true);

  const nothing = await walg(box, ['st', 'rm', 'wal_005/zzz']);
  assert.equal(nothing.code, 1);
  assert.deepEqual(logLines(nothing.stderr), ['ERROR: object or folder "wal_005/zzz" does not exist']);

  const globbed = await walg(box, ['st', 'rm', '--glob', 'basebackups_005/*.json']);
  assert.equal(globbed.code, 0, globbed.stderr);
  assert.equal(existsSync(join(box.store, 'basebackups_005/base_1_backup_stop_sentinel.json')), false);
});

test('st check read names the missing files; st check write leaves nothing behind', async (t) => {
  const box = sandbox(t, { 'present.txt': 'x' });
  const ok = await walg(box, ['st', 'check', 'read', 'present.txt']);
  assert.equal(ok.code, 0);
  assert.deepEqual(logLines(ok.stderr), ['INFO: Read check OK']);
  const missing = await walg(box, ['st', 'check', 'read', 'present.txt', 'a', 'b']);
  assert.equal(missing.code, 1);
  assert.deepEqual(logLines(missing.stderr), ['ERROR: files are missing: a, b']);
  const write = await walg(box, ['st', 'check', 'write']);
  assert.equal(write.code, 0);
  assert.deepEqual(logLines(write.stderr), ['INFO: Write check OK']);
  assert.deepEqual(readdirSync(box.store), ['present.txt']);
});

/** A sandbox whose config file declares two failover storages next to the primary one. */
function failoverSandbox(t: { after(fn: () => void): void }, objects: Record<string, string> = {}): Sandbox & { config: string } {
  const box = sandbox(t, objects);
  for (const name of ['alpha', 'beta']) mkdirSync(box.file(name));
  const config = box.file('walg.yaml');
  writeFileSync(
    config,
    `WALG_FILE_PREFIX: ${box.store}\nWALG_FAILOVER_STORAGES:\n  beta:\n    WALG_FILE_PREFIX: ${box.file('beta')}\n  alpha:\n    WALG_FILE_PREFIX: ${box.file('alpha')}\n`,
  );
  const { WALG_FILE_PREFIX: _unused, ...env } = box.env;
  return { ...box, env, config };
}

test('--target chooses a failover storage, rejects unknown names and runs on all storages with "all"', async (t) => {
  const box = failoverSandbox(t, { 'primary.txt': 'p' });
  writeFileSync(box.file('alpha/alpha.txt'), 'a');
  const unknown = await walg(box, ['--config', box.config, 'st', 'ls', '--target', 'gamma']);
  assert.equal(unknown.code, 1);
  assert.deepEqual(logLines(unknown.stderr), [
    'ERROR: failed to init folder for storage "gamma": storage with name "gamma" is not found, available storages: [default alpha beta]',
  ]);
  const alpha = await walg(box, ['--config', box.config, 'st', 'ls', '-t', 'alpha']);
  assert.equal(alpha.code, 0, alpha.stderr);
  assert.match(alpha.stdout, /alpha\.txt/);
  assert.doesNotMatch(alpha.stdout, /primary\.txt/);

  const all = await walg(box, ['--config', box.config, 'st', 'check', 'read', 'primary.txt', '-t', 'all']);
  assert.equal(all.code, 0);
  assert.deepEqual(logLines(all.stderr), [
    'INFO: storage default',
    'INFO: Read check OK',
    'INFO: storage alpha',
    'ERROR: files are missing: primary.txt',
    'INFO: storage beta',
    'ERROR: files are missing: primary.txt',
  ]);
  const allFail = await walg(box, ['--config', box.config, 'st', 'check', 'read', 'nowhere', '-t', 'all']);
  assert.equal(allFail.code, 1);
  assert.equal(logLines(allFail.stderr).at(-1), 'ERROR: all storages failed');

  const getAll = await walg(box, ['--config', box.config, 'st', 'get', 'primary.txt', 'out', '-t', 'all']);
  assert.equal(getAll.code, 1);
  assert.deepEqual(logLines(getAll.stderr), ["ERROR: 'all' target is not supported for st get command"]);
});

test('st transfer backups moves complete backups only, copying the sentinel last and deleting it first', async (t) => {
  const box = failoverSandbox(t, {
    'basebackups_005/base_000000010000000000000002/metadata.json': '{}',
    'basebackups_005/base_000000010000000000000002/tar_partitions/part_001.tar.lz4': 'data',
    'basebackups_005/base_000000010000000000000002_backup_stop_sentinel.json': '{}',
    'basebackups_005/base_000000010000000000000004/metadata.json': '{}',
    'wal_005/000000010000000000000002.lz4': 'wal',
  });
  const result = await walg(box, [
    '--config', box.config, 'st', 'transfer', 'backups', '--source', 'default', '--target', 'alpha', '-c', '1', '--appearance-checks-interval', '1ms',
  ]);
  assert.equal(result.code, 0, result.stderr);
  const sentinel = 'basebackups_005/base_000000010000000000000002_backup_stop_sentinel.json';
  assert.deepEqual(logLines(result.stderr), [
    'INFO: Total files in the source storage: 4',
    'INFO: Files missing in the target storage: 4',
    'INFO: Backups missing in the target storage: 2',
    'INFO: Skip incomplete backup without sentinel file: base_000000010000000000000004',
    'INFO: Backups will be transferred: 1',
    'INFO: Files will be transferred: 3',
    // The data files finish only once the sentinel is gone from the source.
    `INFO: File is transferred (2 left): "${sentinel}"`,
    'INFO: File is transferred (1 left): "basebackups_005/base_000000010000000000000002/metadata.json"',
    'INFO: File is transferred (0 left): "basebackups_005/base_000000010000000000000002/tar_partitions/part_001.tar.lz4"',
  ]);
  assert.equal(readFileSync(box.file(`alpha/${sentinel}`), 'utf8'), '{}');
  assert.equal(readFileSync(box.file('alpha/basebackups_005/base_000000010000000000000002/tar_partitions/part_001.tar.lz4'), 'utf8'), 'data');
  assert.equal(existsSync(join(box.store, sentinel)), false);
  assert.equal(existsSync(join(box.store, 'basebackups_005/base_000000010000000000000004/metadata.json')), true);
  assert.equal(existsSync(join(box.store, 'wal_005/000000010000000000000002.lz4')), true);

  const wals = await walg(box, ['--config', box.config, 'st', 'transfer', 'pg-wals', '-s', 'default', '-t', 'beta', '--preserve']);
  assert.equal(wals.code, 0, wals.stderr);
  assert.equal(readFileSync(box.file('beta/wal_005/000000010000000000000002.lz4'), 'utf8'), 'wal');
  assert.equal(existsSync(join(box.store, 'wal_005/000000010000000000000002.lz4')), true);
});

test('st transfer rejects flag combinations it cannot run, in WAL-G words', async (t) => {
  const box = failoverSandbox(t);
  const cases: [string[], string][] = [
    [['files', 'x'], 'invalid flags: source storage must be specified'],
    [['files', 'x', '-s', 'all'], "invalid flags: an explicit source storage must be specified instead of 'all'"],
    [['pg-wals', '-s', 'alpha', '-t', 'all'], "invalid flags: an explicit target storage must be specified instead of 'all'"],
    [['pg-wals', '-s', 'default'], 'invalid flags: source and target storages must be different'],
    [['pg-wals', '-s', 'alpha', '-c', '0'], 'invalid flags: concurrency level must be >= 1 (which turns it off)'],
    [['pg-wals', '-s', 'nope'], 'configure source storage folder: storage with name "nope" is not found, available storages: [default alpha beta]'],
  ];
  for (const [args, message] of cases) {
    const result = await walg(box, ['--config', box.config, 'st', 'transfer', ...args]);
    assert.equal(result.code, 1, args.join(' '));
    assert.deepEqual(logLines(result.stderr), [`ERROR: ${message}`], args.join(' '));
  }
});

test('st copy copies the objects under a prefix from one config file storage to another', async (t) => {
  const box = sandbox(t, { 'wal_005/a.lz4': 'A', 'wal_005/b.lz4': 'B', 'basebackups_005/x.json': 'X' });
  mkdirSync(box.file('target'));
  writeFileSync(box.file('from.json'), JSON.stringify({ WALG_FILE_PREFIX: box.store }));
  writeFileSync(box.file('to.json'), JSON.stringify({ WALG_FILE_PREFIX: box.file('target') }));
  const result = await walg(box, ['st', 'copy', '--from', 'from.json', '--to', 'to.json', '-p', 'wal_005/']);
  assert.equal(result.code, 0, result.stderr);
  const lines = logLines(result.stderr);
  assert.equal(lines[0], 'INFO: Collecting files with prefix wal_005/.');
  assert.deepEqual(lines.slice(1, 3).sort(), [
    "INFO: Copied 'wal_005/a.lz4' from folder '' to 'wal_005/a.lz4' in folder ''.",
    "INFO: Copied 'wal_005/b.lz4' from folder '' to 'wal_005/b.lz4' in folder ''.",
  ]);
  assert.equal(lines[3], 'INFO: Successfully copied 2 objects');
  assert.equal(readFileSync(box.file('target/wal_005/b.lz4'), 'utf8'), 'B');
  assert.equal(existsSync(box.file('target/basebackups_005')), false);
});
