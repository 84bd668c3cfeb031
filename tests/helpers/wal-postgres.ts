// The archive-and-replay scenario the WAL integration tests run against every PostgreSQL major: archive with the
// given archive_command under a pgbench write load, check every archived segment against pg_wal, then replay a base
// copy through the given restore_command and compare the database state.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createEmptyDataDir,
  pgbench,
  postgresClientTool,
  resolveClusterUser,
  startCluster,
  startClusterOnDataDir,
  waitForRecoveryEnd,
  type Cluster,
} from './postgres.ts';
import { chownRecursive, makeTempDir, registerExitCleanup } from './tmp.ts';
import { runWalg } from './walg.ts';

export const WALG_CLIENT_BIN = process.env.WALNUT_CLIENT_BIN ?? join(import.meta.dirname, '../../dist/walg-daemon-client');

/** A private place for one scenario, owned by the cluster user: storage, config file, addon cache, sockets. */
export interface WalWorkspace {
  readonly directory: string;
  readonly storage: string;
  readonly configFile: string;
  readonly addonDir: string;
  /** Environment for running the binary (as root or as the cluster user). */
  readonly env: NodeJS.ProcessEnv;
}

export function makeWalWorkspace(settings: Record<string, string> = {}): WalWorkspace {
  const user = resolveClusterUser();
  const directory = makeTempDir({ prefix: 'walnut-walpg-', mode: 0o755 });
  const storage = join(directory, 'storage');
  const addonDir = join(directory, 'addons');
  mkdirSync(storage);
  mkdirSync(addonDir);
  const configFile = join(directory, 'walg.json');
  writeFileSync(configFile, JSON.stringify({ WALG_FILE_PREFIX: storage, WALG_COMPRESSION_METHOD: 'lz4', ...settings }));
  chownRecursive(directory, user.name);
  return { directory, storage, configFile, addonDir, env: { PATH: process.env.PATH, HOME: directory, WALG_ADDON_DIR: addonDir } };
}

/** `wal-g daemon` running as the cluster user for one data directory; stop() ends it (SIGTERM to its pid). */
export interface RunningDaemon {
  readonly socketPath: string;
  readonly process: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

export async function startWalDaemon(workspace: WalWorkspace, walgBin: string, pgData: string, name: string): Promise<RunningDaemon> {
  const user = resolveClusterUser();
  const socketPath = join(workspace.directory, `${name}.sock`);
  const child = spawn(walgBin, ['daemon', socketPath, '--config', workspace.configFile], {
    env: { ...workspace.env, PGDATA: pgData },
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: workspace.directory,
    ...(process.getuid?.() === 0 ? { uid: user.uid, gid: user.gid } : {}),
  });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (text: string) => (output += text));
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (output += text));
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  const unregister = registerExitCleanup(`stop wal-g daemon ${socketPath}`, () => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const deadline = Date.now() + 30_000;
  while (!existsSync(socketPath)) {
    if (child.exitCode !== null) throw new Error(`wal-g daemon exited with ${child.exitCode} before listening: ${output}`);
    if (Date.now() > deadline) throw new Error(`wal-g daemon did not create ${socketPath} within 30 s: ${output}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return {
    socketPath,
    process: child,
    output: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      unregister();
    },
  };
}

export interface ScenarioCommands {
  /** archive_command for the primary. */
  archiveCommand(workspace: WalWorkspace): string;
  /** restore_command for the restored copy; `restoredDataDir` is where it replays. */
  restoreCommand(workspace: WalWorkspace, restoredDataDir: string): string;
  /** Called with the primary's data directory before it starts archiving, and with the copy's before it replays. */
  beforeStart?(workspace: WalWorkspace, dataDir: string, phase: 'primary' | 'restore'): Promise<void>;
  afterStop?(phase: 'primary' | 'restore'): Promise<void>;
}

/** A hash of everything pgbench writes, to compare the primary with the replayed copy. */
const STATE_QUERY = `
  select md5(string_agg(x, '|' order by x)) from (
    select 'a' || aid || ':' || abalance as x from pgbench_accounts
    union all select 'b' || bid || ':' || bbalance from pgbench_branches
    union all select 't' || tid || ':' || tbalance from pgbench_tellers
    union all select 'h' || count(*) || ':' || coalesce(sum(delta), 0) from pgbench_history
    union all select 'm' || note from walnut_marker
  ) s`;

const SEGMENT_OBJECT = /^([0-9A-F]{24})\.lz4$/;

/**
 * Runs the whole scenario for one major. The base copy is a cold copy of the stopped primary taken before the
 * load, except for PostgreSQL 15 where Debian's pg_basebackup 15 takes an online copy (-X none) during the load.
 */
export async function archiveAndReplay(major: number, walgBin: string, commands: ScenarioCommands, workspace = makeWalWorkspace()): Promise<void> {
  const user = resolveClusterUser();
  const primary = await startCluster({
    major,
    conf: {
      archive_mode: 'on',
      // Paused (segments queue up as .ready) until the archiver side is ready, so setup causes no archive failures.
      archive_command: '',
      // Keep every segment in pg_wal so the archived copies can be compared with PostgreSQL's own files.
      wal_keep_size: '4GB',
      max_wal_size: '4GB',
      checkpoint_timeout: '1h',
    },
  });
  let restored: Cluster | undefined;
  try {
    await primary.query('create table walnut_marker (note text)');
    const useBasebackup = major === 15 && existsSync(join('/usr/lib/postgresql/15/bin', 'pg_basebackup'));
    const baseCopy = createEmptyDataDir();
    if (!useBasebackup) {
      await primary.stop();
      const copy = await primary.exec('cp', ['-a', `${primary.dataDir}/.`, baseCopy]);
      assert.equal(copy.exitCode, 0, copy.stderr);
    }
    await commands.beforeStart?.(workspace, primary.dataDir, 'primary');
    primary.configure({ archive_command: commands.archiveCommand(workspace) });
    if (useBasebackup) await primary.query('select pg_reload_conf()');
    else await primary.start();

    await pgbench(primary, ['-i', '-s', '1', '-q']);
    await primary.query("insert into walnut_marker values ('after init'); select pg_switch_wal()");
    if (useBasebackup) {
      const backup = await primary.exec(join('/usr/lib/postgresql/15/bin', 'pg_basebackup'), [
        '-D', baseCopy, '-X', 'none', '-c', 'fast', '-h', primary.socketDir, '-p', String(primary.port), '-U', 'postgres',
      ]);
      assert.equal(backup.exitCode, 0, backup.stderr);
    }
    await pgbench(primary, ['-c', '2', '-T', '2', '-n']);
    await primary.query("insert into walnut_marker values ('after load'); select pg_switch_wal()");
    await pgbench(primary, ['-c', '2', '-t', '50', '-n']);
    await primary.query("insert into walnut_marker values ('last')");
    // pg_switch_wal returns the end of the segment it completed; pg_walfile_name of that names the segment.
    const lastSegment = await primary.query('select pg_walfile_name(pg_switch_wal())');
    await waitForArchived(primary, lastSegment);
    const stats = await primary.query('select archived_count, failed_count from pg_stat_archiver');
    const [archivedCount, failedCount] = stats.split('|').map(Number);
    assert.equal(failedCount, 0, `archive failures on PostgreSQL ${major}:\n${primary.logTail(40)}`);
    assert.ok(archivedCount >= 3, `only ${archivedCount} segments archived`);
    const expectedState = await primary.query(STATE_QUERY);

    // Every archived segment, fetched back through wal-fetch, is byte for byte what PostgreSQL wrote.
    const archived = readdirSync(join(workspace.storage, 'wal_005'))
      .map((name) => SEGMENT_OBJECT.exec(name)?.[1])
      .filter((name): name is string => name !== undefined)
      .sort();
    assert.ok(archived.length >= 3, `archive holds ${archived.join(', ')}`);
    const fetchDir = makeTempDir({ prefix: 'walnut-walcmp-' });
    let compared = 0;
    for (const name of archived) {
      const local = join(primary.dataDir, 'pg_wal', name);
      if (!existsSync(local)) continue; // initdb's first segments may have been recycled before archiving began
      const result = await runWalg(['wal-fetch', name, join(fetchDir, name), '--config', workspace.configFile], {
        env: { ...workspace.env, WALG_DOWNLOAD_CONCURRENCY: '1' },
      });
      assert.equal(result.code, 0, result.stderr);
      assert.ok(readFileSync(join(fetchDir, name)).equals(readFileSync(local)), `segment ${name} differs from pg_wal`);
      compared++;
    }
    assert.ok(compared >= archived.length - 1, `compared only ${compared} of ${archived.length} archived segments with pg_wal`);
    await primary.stop();
    await commands.afterStop?.('primary');

    // Replay: only the archive provides WAL.
    for (const entry of readdirSync(join(baseCopy, 'pg_wal'))) {
      if (entry !== 'archive_status') await primary.exec('rm', ['-rf', join(baseCopy, 'pg_wal', entry)]);
    }
    for (const entry of readdirSync(join(baseCopy, 'pg_wal', 'archive_status'))) {
      await primary.exec('rm', ['-f', join(baseCopy, 'pg_wal', 'archive_status', entry)]);
    }
    chownRecursive(baseCopy, user.name);
    await commands.beforeStart?.(workspace, baseCopy, 'restore');
    restored = await startClusterOnDataDir({
      dataDir: baseCopy,
      major,
      signal: 'recovery',
      conf: { archive_mode: 'off', restore_command: commands.restoreCommand(workspace, baseCopy) },
    });
    await waitForRecoveryEnd(restored, { timeoutMs: 120_000 });
    assert.equal(await restored.query(STATE_QUERY), expectedState, `replayed state differs on PostgreSQL ${major}:\n${restored.logTail(40)}`);
    assert.equal(await restored.query("select note from walnut_marker order by note desc limit 1"), 'last');
    await restored.stop();
    await commands.afterStop?.('restore');
  } finally {
    await restored?.cleanup();
    await primary.cleanup();
  }
}

/** Waits until pg_stat_archiver reports `segment` (or a later one) archived. */
export async function waitForArchived(cluster: Cluster, segment: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    last = await cluster.query("select coalesce(last_archived_wal, '') || '|' || failed_count || '|' || coalesce(last_failed_wal, '') from pg_stat_archiver");
    const [archived] = last.split('|');
    if (archived !== '' && archived >= segment) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`segment ${segment} was not archived within ${timeoutMs} ms (archiver: ${last})\n${cluster.logTail(40)}`);
}

/** The psql binary, to show in failure messages which client the scenario used. */
export function clientTools(): string {
  return `${postgresClientTool('psql')}, ${postgresClientTool('pgbench')}`;
}
