// wal-receive across a timeline switch: streaming from a standby that gets promoted, it uploads the unfinished
// timeline-1 segment as .partial, the new 00000002.history, and then timeline-2 segments equal to pg_wal's.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { lz4Codec } from '../../src/compression/lz4.ts';
import { availablePostgresVersions, createEmptyDataDir, postgresClientTool, startCluster, startClusterOnDataDir, waitForRecoveryEnd } from '../helpers/postgres.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { WALG_BIN } from '../helpers/walg.ts';

const major = availablePostgresVersions().includes(15) ? 15 : undefined;

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

async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
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

test('wal-receive uploads .partial, the new history and timeline-2 segments when its standby is promoted', { skip: major === undefined ? 'PostgreSQL 15 (with pg_basebackup) is not installed' : false, timeout: 170_000 }, async (t) => {
  const primary = await startCluster({ major: major! });
  t.after(() => primary[Symbol.asyncDispose]());
  const standbyData = createEmptyDataDir();
  const basebackup = await primary.exec(postgresClientTool('pg_basebackup', major), ['-D', standbyData, '-X', 'stream', '-R', '-c', 'fast']);
  assert.equal(basebackup.exitCode, 0, basebackup.stderr);
  const standby = await startClusterOnDataDir({ dataDir: standbyData, major: major! });
  t.after(() => standby[Symbol.asyncDispose]());

  const storage = makeTempDir();
  let stderr = '';
  const child = spawn(WALG_BIN, ['wal-receive'], { env: { PATH: process.env.PATH, HOME: storage, ...standby.env, WALG_FILE_PREFIX: storage }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  t.after(() => stopChild(child));
  await waitFor('the slot on the standby', async () => ((await standby.query("select count(*) from pg_replication_slots where slot_name = 'walg' and active")) === '1' ? true : undefined));

  await primary.query('create table t (id int); insert into t select generate_series(1, 1000); select pg_switch_wal()');
  await primary.query('insert into t values (0)');
  const walFolder = join(storage, 'wal_005');
  await waitFor('a timeline-1 segment', () => (existsSync(walFolder) && readdirSync(walFolder).some((name) => /^00000001[0-9A-F]{16}\.lz4$/.test(name)) ? true : undefined));

  await standby.query('select pg_promote()');
  await waitForRecoveryEnd(standby);
  await standby.query('insert into t select generate_series(1, 1000); select pg_switch_wal()');
  await standby.query('insert into t values (0)');
  const timeline2 = await waitFor('a timeline-2 segment', () => {
    const names = readdirSync(walFolder).filter((name) => /^00000002[0-9A-F]{16}\.lz4$/.test(name));
    return names.length > 0 ? names : undefined;
  });
  await stopChild(child);

  const names = readdirSync(walFolder);
  assert.ok(names.includes('00000002.history.lz4'), `history uploaded: ${names.join(' ')}\n${stderr}`);
  assert.ok(names.some((name) => /^00000001[0-9A-F]{16}\.partial\.lz4$/.test(name)), `partial uploaded: ${names.join(' ')}`);
  const history = await lz4Decode(readFileSync(join(walFolder, '00000002.history.lz4')));
  assert.deepEqual(history, readFileSync(join(standby.dataDir, 'pg_wal', '00000002.history')));
  for (const name of timeline2) {
    const local = join(standby.dataDir, 'pg_wal', name.slice(0, 24));
    if (!existsSync(local)) continue;
    assert.ok((await lz4Decode(readFileSync(join(walFolder, name)))).equals(readFileSync(local)), `${name} equals pg_wal`);
  }
});
