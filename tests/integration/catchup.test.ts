// catchup-push/list/fetch and catchup-send/receive against real clusters: a replica stopped behind its primary is
// brought level (files of a dropped table removed), then replays the primary's archived WAL to the same data.

import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { availablePostgresVersions, createEmptyDataDir, startCluster, startClusterOnDataDir, type Cluster, type ProcessResult } from '../helpers/postgres.ts';
import { WALG_BIN } from '../helpers/walg.ts';
import { makeWalWorkspace, type WalWorkspace } from '../helpers/wal-postgres.ts';

const STATE_QUERY =
  "select md5(coalesce((select string_agg(id || ':' || v, ',' order by id) from acct), '') || '|' || " +
  "coalesce((select string_agg(id || ':' || v, ',' order by id) from fresh), ''))";

interface Setup {
  readonly workspace: WalWorkspace;
  readonly primary: Cluster;
}

function walg(cluster: Cluster, workspace: WalWorkspace, args: readonly string[], options: { config?: boolean } = {}): Promise<ProcessResult> {
  const config = options.config === false ? [] : ['--config', workspace.configFile];
  return cluster.exec(WALG_BIN, [...args, ...config], { env: { ...workspace.env, ...cluster.env }, timeoutMs: 180_000 });
}

async function walgOk(cluster: Cluster, workspace: WalWorkspace, args: readonly string[]): Promise<ProcessResult> {
  const result = await walg(cluster, workspace, args);
  assert.equal(result.exitCode, 0, `wal-g ${args.join(' ')} failed:\n${result.stderr}`);
  return result;
}

/** The single error line a failing command ends with. */
function errorLines(result: ProcessResult): string[] {
  return result.stderr.split('\n').filter((line) => line.startsWith('ERROR'));
}

async function startPrimary(major: number): Promise<Setup> {
  const workspace = makeWalWorkspace();
  const archiveCommand = `WALG_ADDON_DIR=${workspace.addonDir} ${WALG_BIN} wal-push %p --config ${workspace.configFile}`;
  const primary = await startCluster({ major, conf: { archive_mode: 'on', archive_command: archiveCommand, wal_level: 'replica' } });
  await primary.query(
    "create table acct as select g as id, md5(g::text) as v from generate_series(1, 20000) g; " +
      "create table doomed as select g as id, repeat('x', 200) as v from generate_series(1, 5000) g; " +
      "create table fresh (id int primary key, v text); checkpoint",
  );
  return { workspace, primary };
}

/** A copy of the primary (backup-push, backup-fetch), started as a standby replaying the archive, then stopped. */
async function makeStoppedReplica(setup: Setup): Promise<Cluster> {
  const directory = createEmptyDataDir();
  const primary = setup.primary;
  await walgOk(primary, setup.workspace, ['backup-push', primary.dataDir]);
  await walgOk(primary, setup.workspace, ['backup-fetch', directory, 'LATEST']);
  const replica = await startClusterOnDataDir({ dataDir: directory, major: primary.major, signal: 'standby', conf: { restore_command: restoreCommand(setup), hot_standby: 'on', archive_mode: 'off' } });
  await waitForState(replica, await primary.query(STATE_QUERY));
  await replica.stop({ mode: 'fast' });
  return replica;
}

function restoreCommand(setup: Setup): string {
  return `WALG_ADDON_DIR=${setup.workspace.addonDir} WALG_DOWNLOAD_CONCURRENCY=1 ${WALG_BIN} wal-fetch %f %p --config ${setup.workspace.configFile}`;
}

async function waitForState(cluster: Cluster, expected: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (!cluster.isRunning()) throw new Error(`the replica stopped:\n${cluster.logTail(40)}`);
    try {
      last = await cluster.query(STATE_QUERY);
      if (last === expected) return;
    } catch (error) {
      last = String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  throw new Error(`the replica did not reach the primary's state within ${timeoutMs} ms (last: ${last}):\n${cluster.logTail(40)}`);
}

/** Latest checkpoint's REDO location (pg_control: checkPointCopy.redo at byte 40), as the decimal --from-lsn wants. */
function redoLsn(cluster: Cluster): bigint {
  return readFileSync(join(cluster.dataDir, 'global', 'pg_control')).readBigUInt64LE(40);
}

/** Writes on the primary the stopped replica has not seen; returns the data file of the dropped table. */
async function diverge(primary: Cluster, round: number): Promise<string> {
  const doomedFile = await primary.query("select pg_relation_filepath('doomed')");
  await primary.query(
    `update acct set v = v || 'r${round}' where id % ${7 + round} = 0; ` +
      `insert into acct select g, 'new${round}' from generate_series(${100_000 * round}, ${100_000 * round + 2000}) g; ` +
      `insert into fresh select g, md5(g::text || '${round}') from generate_series(${10_000 * round}, ${10_000 * round + 3000}) g; ` +
      'drop table doomed; create table doomed as select g as id from generate_series(1, 10) g',
  );
  return doomedFile;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function finishAndCompare(setup: Setup, replica: Cluster): Promise<void> {
  await setup.primary.query('select pg_switch_wal()');
  const expected = await setup.primary.query(STATE_QUERY);
  await replica.start();
  await waitForState(replica, expected);
  assert.equal(await replica.query("select to_regclass('doomed') is not null, (select count(*) from doomed)"), 't|10');
}

const wanted = [13, 15, 17, 18];
const majors = availablePostgresVersions().filter((major) => wanted.includes(major));

for (const major of majors) {
  describe(`catchup on PostgreSQL ${major}`, { concurrency: false }, () => {
    test('catchup-push, catchup-list and catchup-fetch bring a stopped replica level with its primary', async () => {
      const setup = await startPrimary(major);
      const replica = await makeStoppedReplica(setup);
      const fromLsn = redoLsn(replica);
      const doomedFile = await diverge(setup.primary, 1);
      assert.ok(existsSync(join(replica.dataDir, doomedFile)), 'the replica holds the dropped table before catchup');

      const pushed = await walgOk(setup.primary, setup.workspace, ['catchup-push', setup.primary.dataDir, '--from-lsn', String(fromLsn)]);
      const name = /Wrote backup with name (\S+)/.exec(pushed.stderr)?.[1];
      assert.ok(name !== undefined, pushed.stderr);
      const catchupFolder = join(setup.workspace.storage, 'catchup_005');
      const sentinel = JSON.parse(readFileSync(join(catchupFolder, `${name}_backup_stop_sentinel.json`), 'utf8')) as Record<string, unknown>;
      assert.equal(BigInt(String(sentinel.DeltaLSN)), fromLsn);
      assert.equal(sentinel.DeltaFrom, '');
      assert.equal(sentinel.DeltaFullName, '');
      assert.equal(sentinel.DeltaCount, 1);
      const filesMetadata = JSON.parse(readFileSync(join(catchupFolder, name, 'files_metadata.json'), 'utf8')) as { Files: Record<string, unknown> };
      assert.ok(Object.keys(filesMetadata.Files).includes('/PG_VERSION'));
      for (const configuration of ['/postgresql.conf', '/pg_hba.conf', '/postgresql.auto.conf']) assert.ok(!(configuration in filesMetadata.Files), configuration);
      assert.ok(!existsSync(join(setup.workspace.storage, 'basebackups_005', `${name}_backup_stop_sentinel.json`)));

      const listed = await walgOk(setup.primary, setup.workspace, ['catchup-list']);
      assert.match(listed.stdout, new RegExp(`^${name} `, 'm'));
      const listedJson = JSON.parse((await walgOk(setup.primary, setup.workspace, ['catchup-list', '--json'])).stdout) as Array<Record<string, unknown>>;
      assert.deepEqual(listedJson.map((entry) => entry.backup_name), [name]);
      const plainBackups = await walgOk(setup.primary, setup.workspace, ['backup-list', '--json']);
      assert.ok(!plainBackups.stdout.includes(name), 'backup-list does not show catchup backups');

      const replicaConf = readFileSync(join(replica.dataDir, 'postgresql.conf'), 'utf8');
      await walgOk(replica, setup.workspace, ['catchup-fetch', replica.dataDir, name]);
      assert.ok(!existsSync(join(replica.dataDir, doomedFile)), 'the dropped table\'s file is gone');
      assert.equal(readFileSync(join(replica.dataDir, 'postgresql.conf'), 'utf8'), replicaConf, 'the replica keeps its configuration');
      assert.ok(existsSync(join(replica.dataDir, 'backup_label')));
      await finishAndCompare(setup, replica);
    });

    test('catchup-send to catchup-receive over TCP brings a stopped replica level; mismatches fail with one line', async () => {
      const setup = await startPrimary(major);
      const replica = await makeStoppedReplica(setup);
      const doomedFile = await diverge(setup.primary, 2);

      // A destination from another cluster: different system identifier.
      const stranger = await startCluster({ major });
      await stranger.stop({ mode: 'fast' });
      let port = await freePort();
      let receiving = walg(stranger, setup.workspace, ['catchup-receive', stranger.dataDir, String(port)], { config: false });
      await new Promise((resolve) => setTimeout(resolve, 1500));
      let sent = await walg(setup.primary, setup.workspace, ['catchup-send', setup.primary.dataDir, `localhost:${port}`], { config: false });
      assert.equal(sent.exitCode, 1, sent.stderr);
      assert.deepEqual(errorLines(sent).length, 1, sent.stderr);
      assert.match(sent.stderr, /System identifiers do not match/);
      assert.equal((await receiving).exitCode, 1);

      // Nobody listening.
      const refused = await walg(setup.primary, setup.workspace, ['catchup-send', setup.primary.dataDir, `localhost:${await freePort()}`], { config: false });
      assert.equal(refused.exitCode, 1);
      assert.match(errorLines(refused).join('\n'), /dial tcp localhost:\d+: connect: connection refused/);
      const badPort = await walg(replica, setup.workspace, ['catchup-receive', replica.dataDir, 'seventy'], { config: false });
      assert.equal(badPort.exitCode, 1);
      assert.deepEqual(errorLines(badPort).length, 1, badPort.stderr);
      assert.match(badPort.stderr, /strconv.Atoi: parsing "seventy": invalid syntax/);

      // The real transfer.
      port = await freePort();
      receiving = walg(replica, setup.workspace, ['catchup-receive', replica.dataDir, String(port)], { config: false });
      await new Promise((resolve) => setTimeout(resolve, 1500));
      sent = await walg(setup.primary, setup.workspace, ['catchup-send', setup.primary.dataDir, `localhost:${port}`], { config: false });
      assert.equal(sent.exitCode, 0, sent.stderr);
      assert.match(sent.stderr, /Send done/);
      assert.match(sent.stderr, /Received file list of \d+ files/);
      const received = await receiving;
      assert.equal(received.exitCode, 0, received.stderr);
      assert.match(received.stderr, /Receive done/);
      assert.match(received.stderr, /Incremental file base\//, 'relation files the replica had come as increments');
      assert.match(received.stderr, /Deleting files \[/);
      assert.ok(!existsSync(join(replica.dataDir, doomedFile)), 'the dropped table\'s file is gone');
      await finishAndCompare(setup, replica);

      // A destination whose checkpoint is past the primary's position is refused (its pg_control's checkpoint LSN,
      // the field the receiver reports, is moved far ahead; the replica is not started again).
      await replica.stop({ mode: 'fast' });
      const controlPath = join(replica.dataDir, 'global', 'pg_control');
      const control = readFileSync(controlPath);
      control.writeBigUInt64LE(0xfff_0000_0028n, 32);
      writeFileSync(controlPath, control);
      port = await freePort();
      receiving = walg(replica, setup.workspace, ['catchup-receive', replica.dataDir, String(port)], { config: false });
      await new Promise((resolve) => setTimeout(resolve, 1500));
      sent = await walg(setup.primary, setup.workspace, ['catchup-send', setup.primary.dataDir, `localhost:${port}`], { config: false });
      assert.equal(sent.exitCode, 1, sent.stderr);
      assert.deepEqual(errorLines(sent).length, 1, sent.stderr);
      assert.match(sent.stderr, /Catchup destination is already ahead \(our LSN [0-9A-F]+\/[0-9A-F]+, destination LSN FFF\/[0-9A-F]+\)\./);
      assert.equal((await receiving).exitCode, 1);
    });
  });
}

test('catchup-fetch of a backup name that does not exist fails with one line and exit 1', async () => {
  const major = majors[0] ?? 17;
  const setup = await startPrimary(major);
  const result = await walg(setup.primary, setup.workspace, ['catchup-fetch', setup.primary.dataDir, 'base_000000010000000000000042']);
  assert.equal(result.exitCode, 1);
  assert.equal(errorLines(result).length, 1, result.stderr);
  assert.match(result.stderr, /Failed get backup by name: Backup 'base_000000010000000000000042' does not exist\./);
});
