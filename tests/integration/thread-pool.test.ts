// libuv pool threads (each has an 8 MiB stack: private writable memory, docs/PERFORMANCE.md session 6): wal-push
// does its local file work synchronously and starts none; the other per-segment WAL commands start one, unless the
// operator's UV_THREADPOOL_SIZE says otherwise.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeTempDir, removeTempDir } from '../helpers/tmp.ts';
import { fakeSegment } from '../helpers/wal-fixtures.ts';
import { WALG_BIN } from '../helpers/walg.ts';

/** Runs the binary and returns the most libuv pool threads seen at once (sampled every 2 ms) and the exit code. */
function poolThreads(args: readonly string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; most: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(WALG_BIN, args, { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    let most = 0;
    const timer = setInterval(() => {
      try {
        let count = 0;
        for (const task of readdirSync(`/proc/${child.pid}/task`)) {
          if (readFileSync(`/proc/${child.pid}/task/${task}/comm`, 'utf8').trim() === 'libuv-worker') count++;
        }
        most = Math.max(most, count);
      } catch {
        /* the process is gone */
      }
    }, 2);
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(timer);
      resolve({ code, most, stderr });
    });
  });
}

test('wal-push starts no libuv pool thread, even with a backlog to upload; wal-fetch one, or the operator\'s UV_THREADPOOL_SIZE', async (t) => {
  const dir = makeTempDir({ prefix: 'walnut-pool-' });
  t.after(() => removeTempDir(dir));
  const pgWal = join(dir, 'pg_wal');
  mkdirSync(join(pgWal, 'archive_status'), { recursive: true });
  const names = ['000000010000000000000001', '000000010000000000000002', '000000010000000000000003'];
  const contents = names.map(() => fakeSegment(32 * 1024 * 1024));
  for (const [index, name] of names.entries()) {
    writeFileSync(join(pgWal, name), contents[index]);
    writeFileSync(join(pgWal, 'archive_status', `${name}.ready`), '');
  }
  const storage = join(dir, 'storage');
  mkdirSync(storage);
  const env: NodeJS.ProcessEnv = { HOME: dir, PGDATA: dir, WALG_FILE_PREFIX: storage, WALG_COMPRESSION_METHOD: 'lz4', WALG_DOWNLOAD_CONCURRENCY: '1' };
  const pushed = await poolThreads(['wal-push', join(pgWal, names[0])], env);
  assert.equal(pushed.code, 0, pushed.stderr);
  assert.equal(pushed.most, 0, 'no pool thread');
  assert.deepEqual(readdirSync(join(storage, 'wal_005')).sort(), names.map((name) => `${name}.lz4`), 'the backlog went up too');
  const fetched = await poolThreads(['wal-fetch', names[1], join(dir, 'one')], env);
  assert.equal(fetched.code, 0, fetched.stderr);
  assert.equal(fetched.most, 1, 'wal-fetch: one pool thread');
  assert.ok(readFileSync(join(dir, 'one')).equals(contents[1]), 'the pushed bytes come back');
  const operators = await poolThreads(['wal-fetch', names[2], join(dir, 'three')], { ...env, UV_THREADPOOL_SIZE: '3' });
  assert.equal(operators.code, 0, operators.stderr);
  assert.equal(operators.most, 3, 'the operator\'s pool size');
});
