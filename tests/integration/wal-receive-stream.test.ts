// wal-receive against real PostgreSQL servers: it creates its slot, streams, and the segments it pushes decode to
// exactly the bytes of the server's own pg_wal files; a bad slot name fails with WAL-G's message.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { lz4Codec } from '../../src/compression/lz4.ts';
import { availablePostgresVersions, startCluster, type Cluster } from '../helpers/postgres.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { runWalg, WALG_BIN } from '../helpers/walg.ts';

const installed = availablePostgresVersions();
const majors = [15, 17].filter((major) => installed.includes(major));

async function lz4Decode(data: Buffer): Promise<Buffer> {
  const decoder = lz4Codec.decompressor();
  const chunks: Buffer[] = [];
  decoder.on('data', (chunk: Buffer) => chunks.push(chunk));
  const done = new Promise((resolve, reject) => {
    decoder.on('end', resolve);
    decoder.on('error', reject);
  });
  decoder.end(data);
  await done;
  return Buffer.concat(chunks);
}

function walgEnv(cluster: Cluster, storage: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: storage, ...cluster.env, WALG_FILE_PREFIX: storage, ...extra };
}

async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('close', () => resolve());
    child.kill('SIGTERM');
  });
}

for (const major of majors) {
  test(`wal-receive on PostgreSQL ${major} creates slot walg and pushes segments identical to pg_wal`, { timeout: 150_000 }, async (t) => {
    const cluster = await startCluster({ major });
    t.after(() => cluster[Symbol.asyncDispose]());
    const storage = makeTempDir();
    let stderr = '';
    const child = spawn(WALG_BIN, ['wal-receive'], { env: walgEnv(cluster, storage, { WALG_UPLOAD_WAL_METADATA: 'INDIVIDUAL' }), stdio: ['ignore', 'pipe', 'pipe'] });
    child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    t.after(() => stopChild(child));

    await waitFor('the slot', async () => (await cluster.query("select count(*) from pg_replication_slots where slot_name = 'walg' and active")) === '1' || undefined);
    assert.match(stderr, /INFO: \d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d\.\d{6} Trying to create the replication slot\n/);

    await cluster.query('create table filler (id int, payload text)');
    for (let round = 0; round < 3; round++) {
      await cluster.query(`insert into filler select g, repeat(md5(g::text), 20) from generate_series(1, 20000) g; select pg_switch_wal()`);
    }
    const walFolder = join(storage, 'wal_005');
    const pushed = await waitFor('three pushed segments', () => {
      if (!existsSync(walFolder)) return undefined;
      const names = readdirSync(walFolder).filter((name) => /^[0-9A-F]{24}\.lz4$/.test(name));
      return names.length >= 3 ? names.sort() : undefined;
    });
    await stopChild(child);

    let compared = 0;
    for (const objectName of pushed) {
      const segment = objectName.slice(0, 24);
      const local = join(cluster.dataDir, 'pg_wal', segment);
      if (!existsSync(local)) continue; // removed by a checkpoint meanwhile
      const decoded = await lz4Decode(readFileSync(join(walFolder, objectName)));
      assert.equal(decoded.length, 16 * 1024 * 1024, `${segment} is a whole segment`);
      assert.ok(decoded.equals(readFileSync(local)), `${segment} pushed by wal-receive equals pg_wal/${segment}`);
      compared++;
    }
    assert.ok(compared >= 3, `compared ${compared} segments`);
    // WALG_UPLOAD_WAL_METADATA=INDIVIDUAL: one plain JSON document per pushed segment, stamped with the receive time.
    const metadata = JSON.parse(readFileSync(join(walFolder, `${pushed[0].slice(0, 24)}.json`), 'utf8')) as Record<string, { date_fmt: string }>;
    assert.equal(metadata[pushed[0].slice(0, 24)].date_fmt, '%Y-%m-%dT%H:%M:%S.%fZ');
    assert.equal(readdirSync(walFolder).some((name) => name.includes('partial')), false, 'no .partial without a timeline switch');
  });
}

test('wal-receive rejects a slot name with non-word characters with WAL-G message', { skip: majors.length === 0 ? 'no PostgreSQL installed' : false }, async () => {
  const storage = makeTempDir();
  const result = await runWalg(['wal-receive'], { env: { PATH: process.env.PATH, HOME: storage, WALG_FILE_PREFIX: storage, WALG_SLOTNAME: 'bad-name' } });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /ERROR: .* Slot name \(bad-name\) can only contain 1-63 word characters \(\[0-9A-Za-z_\]\)\n/);
});
