// Every backup WAL-G v3.0.8 wrote into the compat fixtures, restored with our backup-fetch and started with
// PostgreSQL: each one at its own end point (recovery_target = 'immediate') gives the manifest's state hash, and
// LATEST replayed through our wal-fetch to the end of the archive gives the final hash (as
// /work/shared/tools/restore-check.sh checks). The tablespace set restores with and without --restore-spec.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { availablePostgresVersions, createEmptyDataDir, resolveClusterUser, startClusterOnDataDir, type Cluster } from '../helpers/postgres.ts';
import { makeTempDir, removeTempDir } from '../helpers/tmp.ts';
import { runWalg, WALG_BIN } from '../helpers/walg.ts';

const FIXTURES = join(import.meta.dirname, '../../compat-fixtures');
const TABLESPACE_SET = 'pg16-lzma-tablespace';

interface Manifest {
  readonly pg_version_num: number;
  readonly settings: Record<string, string>;
  readonly state_query: string;
  readonly backups: ReadonlyArray<{ readonly name: string; readonly state_md5_at_backup_end: string }>;
  readonly final_state_md5_after_all_wal: string;
}

const sets = readdirSync(FIXTURES).filter((entry) => existsSync(join(FIXTURES, entry, 'manifest.json')));
const installed = new Set(availablePostgresVersions());
const user = resolveClusterUser();

function manifestOf(set: string): Manifest {
  return JSON.parse(readFileSync(join(FIXTURES, set, 'manifest.json'), 'utf8')) as Manifest;
}

function majorOf(manifest: Manifest): number {
  return Math.floor(manifest.pg_version_num / 10000);
}

/**
 * Stops wal-prefetch children the restores left behind (restore_command starts them detached); they are ours: their
 * command line names this test's own config file.
 */
function stopChildrenUsing(config: string): void {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let commandLine: string;
    try {
      commandLine = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (!commandLine.split('\0').includes(config)) continue;
    try {
      process.kill(Number(entry), 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

function ownedFile(path: string, content: string): void {
  writeFileSync(path, content, { mode: 0o600 });
  if (process.getuid?.() === 0) chownSync(path, user.uid, user.gid);
}

/** A WAL-G config file for the set (keys included), readable by the cluster user who runs restore_command. */
function configFor(set: string, manifest: Manifest, t: { after(fn: () => void): void }): { directory: string; config: string } {
  const directory = makeTempDir({ prefix: `walnut-fetch-${set}-`, owner: { uid: user.uid, gid: user.gid }, mode: 0o755 });
  const config = join(directory, 'walg.json');
  t.after(() => {
    stopChildrenUsing(config);
    removeTempDir(directory);
  });
  // restore_command's wal-fetch without prefetch children: a handful of segments comes faster one by one than with
  // ten background downloads competing for two cores. backup-fetch gets its own concurrency (fetchAs).
  ownedFile(config, JSON.stringify({ WALG_DOWNLOAD_CONCURRENCY: '1', ...manifest.settings, WALG_FILE_PREFIX: join(FIXTURES, set, 'storage') }));
  return { directory, config };
}

/** Where the binary unpacks its native addons: the cluster user's HOME is not writable. */
function addonDirectory(directory: string): string {
  return join(directory, 'addons');
}

async function fetchAs(config: string, home: string, args: readonly string[]): Promise<string> {
  // Durability is not what this test checks (the unit tests fetch with fsync); a thousand fsyncs per restore are slow.
  const env = { PATH: process.env.PATH, HOME: home, WALG_ADDON_DIR: addonDirectory(home), WALG_DOWNLOAD_CONCURRENCY: '4', WALG_TAR_DISABLE_FSYNC: 'true' };
  const result = await runWalg(['--config', config, 'backup-fetch', ...args], { user: user.name, env, timeoutMs: 300_000 });
  assert.equal(result.code, 0, `backup-fetch ${args.join(' ')} failed:\n${result.stderr}`);
  assert.equal(result.stdout, '');
  assert.match(result.stderr, /INFO: \S+ \S+ \nBackup extraction complete\.\n/);
  return result.stderr;
}

/** The superuser of the fixture clusters: the generator ran initdb as `walfix` (restore-check.sh's FIXUSER). */
const FIXTURE_ROLE = 'walfix';

async function sql(cluster: Cluster, query: string): Promise<string> {
  return (await cluster.psql(['-U', FIXTURE_ROLE, '-d', 'postgres', '-tA', '-c', query])).trim();
}

/** waitForRecoveryEnd, but as the fixtures' role (the harness asks as `postgres`, which they lack). */
async function waitUntilPromoted(cluster: Cluster, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (!cluster.isRunning()) throw new Error(`PostgreSQL stopped during recovery:\n${cluster.logTail(30)}`);
    try {
      if ((await sql(cluster, 'select pg_is_in_recovery()')) === 'f') return;
    } catch (error) {
      last = String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  throw new Error(`recovery did not end within ${timeoutMs} ms (${last}):\n${cluster.logTail(30)}`);
}

/** Starts PostgreSQL on a restored directory, lets recovery finish, and returns the state hash. */
async function stateAfterRecovery(dataDir: string, major: number, manifest: Manifest, config: string, immediate: boolean): Promise<string> {
  const cluster = await startClusterOnDataDir({
    dataDir,
    major,
    signal: 'recovery',
    conf: {
      // The restored configuration archives into the fixture's storage; never let it.
      archive_mode: 'off',
      // A hot standby refuses to recover with less than the primary had (PostgreSQL's defaults there).
      max_connections: 100,
      max_wal_senders: 10,
      max_replication_slots: 10,
      restore_command: `WALG_ADDON_DIR=${addonDirectory(dirname(config))} ${WALG_BIN} --config ${config} wal-fetch %f %p`,
      recovery_target_action: 'promote',
      ...(immediate ? { recovery_target: 'immediate' } : {}),
      // PostgreSQL 15+ decodes WAL ahead; over the fixtures' mostly switched-out segments that asks the
      // restore_command for a dozen segments before reaching consistency, slower than pg_ctl's start timeout.
      ...(major >= 15 ? { recovery_prefetch: 'off' } : {}),
    },
  });
  try {
    await waitUntilPromoted(cluster, 240_000);
    return await sql(cluster, manifest.state_query);
  } finally {
    // Prefetching children still writing into pg_wal would make removing the data directory fail.
    stopChildrenUsing(config);
    await cluster.cleanup();
  }
}

/** A --restore-spec for the backup: PGDATA is the restore directory, each tablespace goes under `under`. */
function restoreSpecFor(set: string, backupName: string, dataDir: string, under: string, file: string): string[] {
  const sentinel = JSON.parse(readFileSync(join(FIXTURES, set, 'storage/basebackups_005', `${backupName}_backup_stop_sentinel.json`), 'utf8'));
  const spec = sentinel.Spec as Record<string, unknown> & { tablespaces: string[] };
  spec.base_prefix = dataDir;
  for (const oid of spec.tablespaces) (spec[oid] as { loc: string }).loc = join(under, `ts_${oid}`);
  ownedFile(file, JSON.stringify(spec));
  return spec.tablespaces;
}

describe('every compat-fixture backup restores to the state WAL-G recorded', { concurrency: 2 }, () => {
  for (const set of sets) {
    const manifest = manifestOf(set);
    const major = majorOf(manifest);
    test(`${set}: each backup restores at its end point, and LATEST replays all WAL to the final state`, { skip: installed.has(major) ? false : `PostgreSQL ${major} is not installed`, timeout: 900_000 }, async (t) => {
      const { directory, config } = configFor(set, manifest, t);
      const targets = [...manifest.backups.map((backup) => ({ name: backup.name, md5: backup.state_md5_at_backup_end, immediate: true })), { name: 'LATEST', md5: manifest.final_state_md5_after_all_wal, immediate: false }];
      for (const target of targets) {
        const dataDir = createEmptyDataDir();
        const args = [dataDir, target.name];
        let tablespaceRoot: string | undefined;
        if (set === TABLESPACE_SET) {
          tablespaceRoot = makeTempDir({ prefix: 'walnut-fetch-fixture-ts-', owner: { uid: user.uid, gid: user.gid }, mode: 0o755 });
          const specFile = join(directory, 'spec.json');
          const name = target.name === 'LATEST' ? manifest.backups[manifest.backups.length - 1].name : target.name;
          const oids = restoreSpecFor(set, name, dataDir, tablespaceRoot, specFile);
          args.push('--restore-spec', specFile);
          t.after(() => removeTempDir(tablespaceRoot!));
          await fetchAs(config, directory, args);
          for (const oid of oids) assert.equal(readlinkSync(join(dataDir, 'pg_tblspc', oid)), join(tablespaceRoot, `ts_${oid}`));
          assert.equal(existsSync(join(dataDir, 'tablespace_map')), false, 'tablespace_map is not restored with --restore-spec');
        } else {
          await fetchAs(config, directory, args);
        }
        const state = await stateAfterRecovery(dataDir, major, manifest, config, target.immediate);
        assert.equal(state, target.md5, `${set} ${target.name}: state after recovery`);
        if (tablespaceRoot !== undefined) removeTempDir(tablespaceRoot);
      }
    });
  }

  const tablespaceManifest = existsSync(join(FIXTURES, TABLESPACE_SET, 'manifest.json')) ? manifestOf(TABLESPACE_SET) : undefined;
  const tablespaceMajor = tablespaceManifest === undefined ? 0 : majorOf(tablespaceManifest);
  test(`${TABLESPACE_SET} without --restore-spec: pg_tblspc links inside the restore directory and PostgreSQL starts`, { skip: installed.has(tablespaceMajor) ? false : 'the tablespace set or its PostgreSQL is missing', timeout: 600_000 }, async (t) => {
    const manifest = tablespaceManifest!;
    const { directory, config } = configFor(TABLESPACE_SET, manifest, t);
    const backup = manifest.backups[0];
    const sentinel = JSON.parse(readFileSync(join(FIXTURES, TABLESPACE_SET, 'storage/basebackups_005', `${backup.name}_backup_stop_sentinel.json`), 'utf8'));
    const oid: string = sentinel.Spec.tablespaces[0];
    const recorded: string = sentinel.Spec[oid].loc;
    // The recorded location is under the fixture generator's old temp folder; whatever this test creates there goes.
    const recordedParent = dirname(recorded);
    const parentExisted = existsSync(recordedParent);
    t.after(() => {
      if (!parentExisted) rmSync(recordedParent, { recursive: true, force: true });
    });
    const dataDir = createEmptyDataDir();
    const log = await fetchAs(config, directory, [dataDir, backup.name]);
    const link = join(dataDir, 'pg_tblspc', oid);
    assert.ok(lstatSync(link).isSymbolicLink(), 'pg_tblspc/<oid> is a link inside the restore directory');
    const location = readlinkSync(link);
    if (!parentExisted) {
      assert.equal(location, recorded, 'a usable recorded location is used');
      assert.ok(existsSync(join(dataDir, 'tablespace_map')));
    } else {
      assert.equal(location, `${dataDir}_tablespaces/${oid}`);
      assert.match(log, /WARNING: .* Tablespace \d+: the recorded location .* cannot be used/);
    }
    assert.ok(readdirSync(location).some((entry) => entry.startsWith('PG_16_')));
    assert.equal(await stateAfterRecovery(dataDir, tablespaceMajor, manifest, config, true), backup.state_md5_at_backup_end);
  });
});
