// Shared steps of the backup-push integration tests: an archiving cluster with a tablespace, running the built
// binary as the cluster's user, restoring a backup with our backup-fetch and replaying to its end point, and reading
// back what a backup stored (documents, tar members) the way a WAL-G reader would.

import assert from 'node:assert/strict';
import { chownSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { formatForTarPartition } from '../../src/compression/registry.ts';
import { crypterFromSettings } from '../../src/crypto/select-crypter.ts';
import { parseTarHeader } from '../../src/backup-push/tar-stream-parser.ts';
import type { TarHeaderFields } from '../../src/backup-push/tar-header.ts';
import {
  createEmptyDataDir,
  resolveClusterUser,
  startCluster,
  startClusterOnDataDir,
  type Cluster,
  type ProcessResult,
} from '../helpers/postgres.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { WALG_BIN } from '../helpers/walg.ts';
import { makeWalWorkspace, type WalWorkspace } from '../helpers/wal-postgres.ts';

/** A hash of the two test tables (one of them in a tablespace). */
export const STATE_QUERY =
  "select md5(coalesce((select string_agg(id || ':' || v, ',' order by id) from acct), '') || '|' || " +
  "coalesce((select string_agg(id || ':' || v, ',' order by id) from blob), ''))";

export interface BackupCluster {
  readonly cluster: Cluster;
  readonly workspace: WalWorkspace;
  readonly settings: Record<string, string>;
  readonly tablespaceDirectory: string;
  /** The environment the binary runs with (PG* of the cluster, HOME, addon cache). */
  readonly env: NodeJS.ProcessEnv;
}

/** A cluster archiving with our wal-push into a fresh file storage, with tables `acct` and `blob` (in tablespace ts1). */
export async function startBackupCluster(major: number, settings: Record<string, string> = {}, initdbArgs: readonly string[] = []): Promise<BackupCluster> {
  const workspace = makeWalWorkspace(settings);
  const user = resolveClusterUser();
  const tablespaceRoot = makeTempDir({ prefix: 'walnut-ts-', owner: user.name, mode: 0o700 });
  const tablespaceDirectory = join(tablespaceRoot, 'ts1');
  mkdirSync(tablespaceDirectory, { mode: 0o700 });
  chownSync(tablespaceDirectory, user.uid, user.gid);
  const archiveCommand = `WALG_ADDON_DIR=${workspace.addonDir} ${WALG_BIN} wal-push %p --config ${workspace.configFile}`;
  const cluster = await startCluster({ major, initdbArgs, conf: { archive_mode: 'on', archive_command: archiveCommand, wal_level: 'replica' } });
  await cluster.query(`create tablespace ts1 location '${tablespaceDirectory}'`);
  await cluster.query(
    'create table acct as select g as id, md5(g::text) as v from generate_series(1, 20000) g; ' +
      'create table blob tablespace ts1 as select g as id, repeat(md5(g::text), 3) as v from generate_series(1, 4000) g;',
  );
  return { cluster, workspace, settings: { WALG_COMPRESSION_METHOD: 'lz4', ...settings }, tablespaceDirectory, env: { ...workspace.env, ...cluster.env } };
}

/** Some writes to both tables, different each round. */
export async function changeData(cluster: Cluster, round: number): Promise<void> {
  await cluster.query(
    `update acct set v = v || 'r${round}' where id % ${40 + round} = 0; ` +
      `update blob set v = v || 'q${round}' where id % 9 = ${round % 9}; ` +
      `insert into acct select g, 'new${round}' from generate_series(${100_000 * round}, ${100_000 * round + 300}) g`,
  );
}

/** Runs the binary as the cluster's user with the workspace's config. */
export function runWalgAs(setup: BackupCluster, args: readonly string[], extraEnv: Record<string, string> = {}): Promise<ProcessResult> {
  return setup.cluster.exec(WALG_BIN, [...args, '--config', setup.workspace.configFile], { env: { ...setup.env, ...extraEnv }, timeoutMs: 180_000 });
}

export async function runWalgOk(setup: BackupCluster, args: readonly string[], extraEnv: Record<string, string> = {}): Promise<ProcessResult> {
  const result = await runWalgAs(setup, args, extraEnv);
  assert.equal(result.exitCode, 0, `wal-g ${args.join(' ')} failed:\n${result.stderr}`);
  return result;
}

/** The backup named in backup-push's last log line. */
export function pushedBackupName(result: ProcessResult): string {
  const match = /Wrote backup with name (\S+)/.exec(result.stderr);
  assert.ok(match, `no "Wrote backup with name" line in:\n${result.stderr}`);
  return match[1];
}

/**
 * Restores `backupName` with our backup-fetch into a new directory, starts PostgreSQL on it with
 * recovery_target = 'immediate' and our wal-fetch as restore_command, and returns the state hash it reaches. Replay
 * pauses at the target (no promotion: no timeline switch and its history lookups), prefetch is off: fewer
 * processes on a busy test machine.
 */
export async function restoredState(setup: BackupCluster, backupName: string, stateQuery = STATE_QUERY): Promise<string> {
  const target = createEmptyDataDir();
  await runWalgOk(setup, ['backup-fetch', target, backupName]);
  const restoreCommand = `WALG_ADDON_DIR=${setup.workspace.addonDir} WALG_DOWNLOAD_CONCURRENCY=1 ${WALG_BIN} wal-fetch %f %p --config ${setup.workspace.configFile}`;
  const restored = await startClusterOnDataDir({
    dataDir: target,
    major: setup.cluster.major,
    signal: 'recovery',
    conf: { archive_mode: 'off', restore_command: restoreCommand, recovery_target: 'immediate', recovery_target_action: 'pause', hot_standby: 'on' },
  });
  try {
    await waitForReplayPause(restored);
    return await restored.query(stateQuery);
  } finally {
    await restored.cleanup();
  }
}

/** Waits until replay has paused at its target (the server accepts read-only queries from consistency on). */
async function waitForReplayPause(cluster: Cluster, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (!cluster.isRunning()) throw new Error(`the restored server stopped during recovery:\n${cluster.logTail(40)}`);
    try {
      if ((await cluster.query('select pg_is_wal_replay_paused()')) === 't') return;
      last = 'replay is not paused yet';
    } catch (error) {
      last = String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`replay did not reach its target within ${timeoutMs} ms (${last}):\n${cluster.logTail(40)}`);
}

// ---------------------------------------------------------------------------------------------------------------
// Reading what was stored

export function backupsFolder(setup: BackupCluster): string {
  return join(setup.workspace.storage, 'basebackups_005');
}

export function readJson(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
}

/** Top-level keys of a JSON document in written order. */
export function keysOf(path: string): string[] {
  return Object.keys(readJson(path));
}

export function tarObjects(setup: BackupCluster, backupName: string): string[] {
  return readdirSync(join(backupsFolder(setup), backupName, 'tar_partitions')).sort();
}

export interface StoredMember {
  readonly fields: TarHeaderFields;
  readonly body: Buffer;
}

/** A stored tar decrypted and decompressed as WAL-G reads it: its members, and whether it ends with end blocks. */
export async function readStoredTar(path: string, settings: Record<string, string>): Promise<{ members: StoredMember[]; endBlocks: boolean; rawLength: number }> {
  const crypter = crypterFromSettings((name) => settings[name]);
  const chunks: Buffer[] = [];
  const stages: Array<NodeJS.ReadableStream | NodeJS.WritableStream> = [Readable.from([readFileSync(path)])];
  if (crypter !== undefined) stages.push(crypter.decrypter());
  stages.push(formatForTarPartition(path).decompressor());
  stages.push(
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        chunks.push(chunk);
        callback();
      },
    }),
  );
  await pipeline(stages as never);
  const tar = Buffer.concat(chunks);
  const members: StoredMember[] = [];
  let offset = 0;
  while (offset + 512 <= tar.length) {
    const block = tar.subarray(offset, offset + 512);
    if (block.every((byte) => byte === 0)) break;
    const fields = parseTarHeader(block);
    const size = fields.typeflag === '0' ? fields.size : 0;
    members.push({ fields, body: tar.subarray(offset + 512, offset + 512 + size) });
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  const endBlocks = tar.length >= offset + 1024 && tar.subarray(offset).every((byte) => byte === 0);
  return { members, endBlocks, rawLength: readFileSync(path).length };
}
