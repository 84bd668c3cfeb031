// wal-push, wal-fetch and wal-prefetch over failover storages (WALG_FAILOVER_STORAGES in the config file): pushes go
// to the first alive storage or the one --target-storage names, fetches take a segment from the first storage that
// has it, and a segment in no chosen storage is exit 74.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runWalg, type WalgResult } from '../helpers/walg.ts';
import { makeTempDir, removeTempDir } from '../helpers/tmp.ts';

const S1 = '000000010000000000000001';
const S2 = '000000010000000000000002';
const S3 = '000000010000000000000003';

interface Box {
  readonly root: string;
  readonly config: string;
  readonly env: NodeJS.ProcessEnv;
  readonly walDir: string;
  store(name: 'default' | 'alpha' | 'beta'): string;
}

function failoverBox(t: { after(fn: () => void): void }): Box {
  const root = makeTempDir({ prefix: 'walnut-walfo-' });
  t.after(() => removeTempDir(root));
  const stores = { default: join(root, 'primary'), alpha: join(root, 'alpha'), beta: join(root, 'beta') };
  for (const dir of Object.values(stores)) mkdirSync(dir);
  const walDir = join(root, 'data', 'pg_wal');
  mkdirSync(join(walDir, 'archive_status'), { recursive: true });
  const config = join(root, 'walg.yaml');
  writeFileSync(
    config,
    `WALG_FILE_PREFIX: ${stores.default}\nWALG_FAILOVER_STORAGES:\n  beta:\n    WALG_FILE_PREFIX: ${stores.beta}\n` +
      `  alpha:\n    WALG_FILE_PREFIX: ${stores.alpha}\n`,
  );
  const env = { PATH: process.env.PATH, HOME: root, TZ: 'UTC', PGDATA: join(root, 'data'), WALG_DOWNLOAD_CONCURRENCY: '1' };
  return { root, config, env, walDir, store: (name) => stores[name] };
}

function walg(box: Box, args: string[]): Promise<WalgResult> {
  return runWalg(['--config', box.config, ...args], { env: box.env, cwd: box.root });
}

function segment(box: Box, name: string): Buffer {
  const bytes = randomBytes(1024 * 1024);
  writeFileSync(join(box.walDir, name), bytes);
  return bytes;
}

function storedNames(dir: string): string[] {
  const wal = join(dir, 'wal_005');
  return existsSync(wal) ? readdirSync(wal).sort() : [];
}

test('wal-push writes to the primary, or to the storage --target-storage names', async (t) => {
  const box = failoverBox(t);
  segment(box, S1);
  segment(box, S2);

  const first = await walg(box, ['wal-push', join(box.walDir, S1)]);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stderr, /Files will be uploaded to storage: default/);
  assert.deepEqual(storedNames(box.store('default')), [`${S1}.lz4`]);

  const second = await walg(box, ['wal-push', '--target-storage', 'alpha', join(box.walDir, S2)]);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stderr, /Files will be uploaded to storage: alpha/);
  assert.deepEqual(storedNames(box.store('alpha')), [`${S2}.lz4`]);
  assert.deepEqual(storedNames(box.store('beta')), []);

  const unknown = await walg(box, ['wal-push', '--target-storage', 'gamma', join(box.walDir, S2)]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /gamma/);
});

test('wal-fetch takes each segment from the first storage that has it; a segment in none is exit 74', async (t) => {
  const box = failoverBox(t);
  const inPrimary = segment(box, S1);
  const inAlpha = segment(box, S2);
  assert.equal((await walg(box, ['wal-push', join(box.walDir, S1)])).code, 0);
  assert.equal((await walg(box, ['wal-push', '--target-storage', 'alpha', join(box.walDir, S2)])).code, 0);
  // Only in the failover storage: wal-fetch must find it there.
  const fetchedAlpha = await walg(box, ['wal-fetch', S2, join(box.root, 'out2')]);
  assert.equal(fetchedAlpha.code, 0, fetchedAlpha.stderr);
  assert.ok(readFileSync(join(box.root, 'out2')).equals(inAlpha));

  const fetchedPrimary = await walg(box, ['wal-fetch', S1, join(box.root, 'out1')]);
  assert.equal(fetchedPrimary.code, 0, fetchedPrimary.stderr);
  assert.ok(readFileSync(join(box.root, 'out1')).equals(inPrimary));

  const missing = await walg(box, ['wal-fetch', S3, join(box.root, 'out3')]);
  assert.equal(missing.code, 74, missing.stderr);
  assert.equal(existsSync(join(box.root, 'out3')), false);

  // Restricted to beta, the segment in alpha is not there.
  const restricted = await walg(box, ['wal-fetch', '--target-storage', 'beta', S2, join(box.root, 'out2b')]);
  assert.equal(restricted.code, 74, restricted.stderr);
  assert.equal(existsSync(join(box.root, 'out2b')), false);
});
