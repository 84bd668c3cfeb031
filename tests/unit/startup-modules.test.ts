// What a per-segment command pays for at start: wal-push and wal-fetch (lz4) to a file storage load neither node:crypto,
// node:zlib nor node:net (each ~10–20 ms of CPU under --jitless, docs/PERFORMANCE.md sessions 5 and 6): no md5 of the storage config
// without failover storages, temporary names without node:crypto, and process.stdout (a net.Socket on a pipe)
// only when something is printed there.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { temporaryNameHex } from '../../src/storage/temporary-name.ts';
import { isTemporaryName } from '../../src/storage/file.ts';
import { makeTempDir, removeTempDir } from '../helpers/tmp.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

test('temporary name digits are hex of the asked length, unique in a process, and file storage knows them', () => {
  const seen = new Set<string>();
  for (let index = 0; index < 5000; index++) {
    const digits = temporaryNameHex(16);
    assert.match(digits, /^[0-9a-f]{16}$/);
    assert.ok(!seen.has(digits), `no repeat at ${index}`);
    seen.add(digits);
  }
  assert.match(temporaryNameHex(12), /^[0-9a-f]{12}$/);
  assert.ok(temporaryNameHex(12).startsWith((process.pid & 0xffffff).toString(16).padStart(6, '0')), 'the process id comes first');
  assert.throws(() => temporaryNameHex(8), RangeError);
  assert.ok(isTemporaryName(`.000000010000000000000001.lz4.walnut-tmp-${temporaryNameHex(16)}`));
});

test('wal-push and wal-fetch on a file storage do not load node:crypto or node:zlib', (t) => {
  const dir = makeTempDir({ prefix: 'walnut-startup-' });
  t.after(() => removeTempDir(dir));
  const storage = join(dir, 'storage');
  const pgWal = join(dir, 'pg_wal');
  mkdirSync(storage);
  mkdirSync(join(pgWal, 'archive_status'), { recursive: true });
  const segment = Buffer.alloc(16 * 1024 * 1024);
  for (let offset = 0; offset < segment.length; offset += 8192) segment.write(`page ${offset / 8192};`, offset);
  writeFileSync(join(pgWal, '000000010000000000000001'), segment);
  // The CLI in a child, from the sources; at exit the builtins it loaded. (node:net is not checked here: running
  // TypeScript sources makes Node's own loader load it. The next test checks what would load it.)
  const script = `
    const before = new Set(process.moduleLoadList);
    const { runCli } = await import(${JSON.stringify(join(root, 'src/cli/run.ts'))});
    process.exitCode = await runCli(process.argv.slice(1));
    const loaded = process.moduleLoadList.filter((name) => !before.has(name) && name.startsWith('NativeModule '));
    process.stdout.write('LOADED ' + JSON.stringify(loaded.map((name) => name.slice('NativeModule '.length))));
  `;
  const { NODE_TEST_CONTEXT: _testContext, NODE_OPTIONS: _options, ...inherited } = process.env;
  const env = { ...inherited, WALG_FILE_PREFIX: storage, WALG_COMPRESSION_METHOD: 'lz4', PGDATA: dir, WALG_LOG_LEVEL: 'NORMAL' };
  const run = (args: string[]): string[] => {
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script, ...args], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    assert.equal(result.status, 0, `${args.join(' ')} exited ${result.status}: ${result.stderr}`);
    const marker = result.stdout.lastIndexOf('LOADED ');
    assert.ok(marker >= 0, `no module list in: ${result.stdout}`);
    return JSON.parse(result.stdout.slice(marker + 'LOADED '.length)) as string[];
  };
  const pushed = run(['wal-push', join(pgWal, '000000010000000000000001')]);
  const fetched = run(['wal-fetch', '000000010000000000000001', join(dir, 'fetched')]);
  assert.ok(readFileSync(join(dir, 'fetched')).equals(segment), 'the segment comes back');
  for (const [command, loaded] of [['wal-push', pushed], ['wal-fetch', fetched]] as const) {
    assert.ok(loaded.includes('stream'), `${command}: the list is real (${loaded.join(' ')})`);
    // (wal-fetch starts its prefetch child, so node:child_process is not on this list.)
    for (const heavy of ['crypto', 'tls', 'http', 'https', 'zlib']) {
      assert.ok(!loaded.includes(heavy), `${command} loaded node:${heavy}: ${loaded.join(' ')}`);
    }
  }
});

test('a wal-push that prints nothing on stdout never opens process.stdout', async (t) => {
  const { runCli } = await import('../../src/cli/run.ts');
  const dir = makeTempDir({ prefix: 'walnut-stdout-' });
  t.after(() => removeTempDir(dir));
  mkdirSync(join(dir, 'storage'));
  mkdirSync(join(dir, 'pg_wal', 'archive_status'), { recursive: true });
  writeFileSync(join(dir, 'pg_wal', '000000010000000000000001'), Buffer.alloc(1024 * 1024, 5));
  const asked: string[] = [];
  const io = {
    env: { WALG_FILE_PREFIX: join(dir, 'storage'), WALG_COMPRESSION_METHOD: 'lz4', PGDATA: dir, WALG_LOG_LEVEL: 'NORMAL' } as NodeJS.ProcessEnv,
    homeDir: dir,
    get stdout(): NodeJS.WritableStream {
      asked.push('stdout');
      return process.stdout;
    },
    get stderr(): NodeJS.WritableStream {
      asked.push('stderr');
      return process.stderr;
    },
  };
  assert.equal(await runCli(['wal-push', join(dir, 'pg_wal', '000000010000000000000001')], io), 0);
  assert.deepEqual(asked, []);
  const printed: string[] = [];
  const capture = { write: (text: string) => printed.push(text) } as unknown as NodeJS.WritableStream;
  assert.equal(await runCli(['--version'], { ...io, stdout: capture }), 0);
  assert.match(printed.join(''), /^wal-g version /);
});
