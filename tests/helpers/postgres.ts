// Real PostgreSQL servers (13 to 18) for integration tests: private, unprivileged, on free ports, and always cleaned up.
//
// Usage:
//   test('wal-push archives a segment', async (t) => {
//     await using cluster = await startCluster({ major: 17, conf: { archive_mode: 'on', archive_command: '...' } });
//     await cluster.query('create table t (id int)');
//     const result = await cluster.exec('/path/to/wal-g', ['wal-push', ...]);   // runs as the cluster's OS user
//   });
//
// Cleanup happens in three layers, so a failing or throwing test never leaves a server or a directory behind:
//   1. `await using cluster = ...` or `t.after(() => cluster.cleanup())` in the test (write one of them: it says
//      when the server goes away, and `cleanup()` is idempotent);
//   2. startCluster itself registers node:test's `after` hook on the test that called it, unless
//      `keepAfterTest: true`. Pass that for a cluster shared between tests and started in a `before` hook (node:test
//      runs an `after` registered inside a hook as soon as the hook ends), and clean it up in your own `after`;
//   3. a process 'exit' / SIGINT / SIGTERM hook (tests/helpers/tmp.ts) that stops any still-running server with
//      `pg_ctl stop -m immediate` and removes the directories; and the next run sweeps clusters whose test
//      process was killed with SIGKILL.
//
// Servers run as an unprivileged OS user because PostgreSQL refuses to run as root: `walnut-test` (created with
// useradd when missing) when the tests run as root, otherwise the current user. archive_command and
// restore_command run as that user too, so anything they touch (the walnut binary, a storage directory, a config
// file) must be reachable by it: make such directories with `makeTempDir({ owner: cluster.user })`.
// Each cluster gets its own directory (mode 0700, owned by the cluster user) holding `data/` (PGDATA),
// `socket/` (the unix socket), `server.log` and nothing else; it is also HOME for commands run with `exec`.
//
// Environment knobs: WALNUT_TEST_PG_VERSIONS=15,17 limits availablePostgresVersions();
// WALNUT_TEST_PG_CLIENT_BIN points at a directory with psql/pgbench (default: Debian's newest).

import { spawn, spawnSync } from 'node:child_process';
import {
  accessSync,
  appendFileSync,
  chmodSync,
  chownSync,
  constants as fsConstants,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import {
  chownRecursive,
  describeError,
  lookupUser,
  makeTempDir,
  registerExitCleanup,
  removeTempDir,
  type UserEntry,
} from './tmp.ts';

/** The OS user that runs test servers when the tests run as root. */
export const DEFAULT_CLUSTER_USER = 'walnut-test';
/** The database superuser initdb creates (trust authentication, no password). */
export const CLUSTER_SUPERUSER = 'postgres';

const repositoryRoot = fileURLToPath(new URL('../../', import.meta.url));
const debianPostgresRoot = '/usr/lib/postgresql';
const serverBinaries = ['initdb', 'pg_ctl', 'postgres'];
const pgCtlTimeoutSeconds = 60;
const clusterDirectoryPrefix = 'walnut-pg';
const harnessMarkerFile = 'walnut-harness.json';
const harnessConfFile = 'walnut-harness.conf';

export class PostgresHarnessError extends Error {
  override name = 'PostgresHarnessError';
}

// ---------------------------------------------------------------------------------------------------------------
// Finding binaries

/** The PostgreSQL majors whose server binaries are installed, ascending (filtered by WALNUT_TEST_PG_VERSIONS). */
export function availablePostgresVersions(): number[] {
  const found = new Set<number>();
  for (const directory of safeReaddir(debianPostgresRoot)) {
    const major = Number(directory);
    if (Number.isInteger(major) && findServerBinDir(major) !== undefined) found.add(major);
  }
  for (const entry of safeReaddir(join(repositoryRoot, 'node_modules'))) {
    const match = /^pg(\d+)$/.exec(entry);
    if (match && findServerBinDir(Number(match[1])) !== undefined) found.add(Number(match[1]));
  }
  let majors = [...found].sort((a, b) => a - b);
  const wanted = process.env.WALNUT_TEST_PG_VERSIONS?.trim();
  if (wanted) {
    const wantedMajors = new Set(wanted.split(/[\s,]+/).map(Number));
    majors = majors.filter((major) => wantedMajors.has(major));
  }
  return majors;
}

/**
 * The directory holding initdb, pg_ctl and postgres for a major: Debian's /usr/lib/postgresql/<major>/bin when
 * installed (it has the full toolset), else the npm alias node_modules/pg<major>/native/bin (server only; its
 * binaries find their libraries through RUNPATH, no LD_LIBRARY_PATH needed).
 */
export function postgresBinDir(major: number): string {
  const binDir = findServerBinDir(major);
  if (binDir === undefined) {
    throw new PostgresHarnessError(
      `PostgreSQL ${major} is not installed: looked in ${debianPostgresRoot}/${major}/bin and ` +
        `${join(repositoryRoot, 'node_modules', `pg${major}`, 'native', 'bin')}; install the Debian package ` +
        `postgresql-${major} or the npm alias pg${major}`,
    );
  }
  return binDir;
}

function findServerBinDir(major: number): string | undefined {
  const candidates = [
    join(debianPostgresRoot, String(major), 'bin'),
    join(repositoryRoot, 'node_modules', `pg${major}`, 'native', 'bin'),
  ];
  return candidates.find((directory) => serverBinaries.every((name) => isExecutable(join(directory, name))));
}

/**
 * The path of a PostgreSQL client tool (psql, pgbench, pg_waldump, ...). Prefers the tool of the same major when
 * given, then $WALNUT_TEST_PG_CLIENT_BIN, then Debian's newest install. psql and pgbench 15 work against 13-18;
 * pg_basebackup does not work against a newer server.
 */
export function postgresClientTool(tool: string, major?: number): string {
  const directories: string[] = [];
  if (major !== undefined) {
    const serverDir = findServerBinDir(major);
    if (serverDir !== undefined) directories.push(serverDir);
  }
  if (process.env.WALNUT_TEST_PG_CLIENT_BIN) directories.push(process.env.WALNUT_TEST_PG_CLIENT_BIN);
  const debianMajors = safeReaddir(debianPostgresRoot)
    .map(Number)
    .filter((value) => Number.isInteger(value))
    .sort((a, b) => b - a);
  for (const debianMajor of debianMajors) directories.push(join(debianPostgresRoot, String(debianMajor), 'bin'));
  for (const directory of directories) {
    if (isExecutable(join(directory, tool))) return join(directory, tool);
  }
  throw new PostgresHarnessError(
    `PostgreSQL client tool ${tool} was not found in ${directories.join(', ') || '(no directories)'}: ` +
      `run scripts/ci/install-system-deps.sh (it installs postgresql-client-15) or set WALNUT_TEST_PG_CLIENT_BIN`,
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Users and processes

const userCreationChecked = new Map<string, UserEntry>();

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/**
 * The OS user a cluster runs as: `requested` or walnut-test when we are root (created with useradd when
 * missing), the current user otherwise (asking for another user then is an error: only root can switch).
 */
export function resolveClusterUser(requested?: string): UserEntry {
  if (!isRoot()) {
    const current = userInfo();
    if (requested !== undefined && requested !== current.username) {
      throw new PostgresHarnessError(
        `cannot run a test cluster as user "${requested}": the tests run as "${current.username}", not root; ` +
          `leave the user option out or run the tests as root`,
      );
    }
    return { name: current.username, uid: current.uid, gid: current.gid, home: current.homedir };
  }
  const name = requested ?? DEFAULT_CLUSTER_USER;
  const known = userCreationChecked.get(name);
  if (known) return known;
  let entry = lookupUser(name);
  if (entry === undefined) entry = createSystemUser(name);
  if (entry.uid === 0) throw new PostgresHarnessError(`cannot run a test cluster as "${name}": it has uid 0 and PostgreSQL refuses to run as root`);
  userCreationChecked.set(name, entry);
  return entry;
}

function createSystemUser(name: string): UserEntry {
  // Parallel test processes may race to create the user: useradd then fails on the lock or on "already exists",
  // so look again before retrying.
  let lastError = '';
  for (let attempt = 0; attempt < 20; attempt++) {
    const result = spawnSync(
      'useradd',
      ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', name],
      { encoding: 'utf8' },
    );
    const entry = lookupUser(name);
    if (entry !== undefined) return entry;
    lastError = (result.error ? describeError(result.error) : result.stderr).trim();
    spawnSync('sleep', ['0.1']);
  }
  throw new PostgresHarnessError(`could not create the test user "${name}" with useradd: ${lastError}`);
}

/** What a finished child process left behind; `exitCode` is null when it died of a signal. */
export interface ProcessResult {
  readonly command: string;
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
}

export interface RunOptions {
  /** Added to (and overriding) the inherited environment. */
  readonly env?: Record<string, string | undefined>;
  /** Written to the child's stdin, which is then closed. */
  readonly input?: string | Buffer;
  /** Killed with SIGKILL after this long; default 120 s. */
  readonly timeoutMs?: number;
  readonly cwd?: string;
}

/**
 * Runs a command as `user` (switching uid/gid when we are root; supplementary groups are dropped, like runuser)
 * and collects its output. Never throws for a non-zero exit: look at `exitCode`.
 */
export function runAsUser(user: UserEntry, command: string, args: readonly string[], options: RunOptions = {}): Promise<ProcessResult> {
  const switchUser = isRoot() && user.uid !== 0;
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries({ ...process.env, USER: user.name, LOGNAME: user.name, ...options.env })) {
    if (value !== undefined) env[key] = value;
  }
  const commandLine = [command, ...args].join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env,
      cwd: options.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(switchUser ? { uid: user.uid, gid: user.gid } : {}),
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? 120_000);
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.stdin.on('error', () => {
      // The child may exit without reading its input; that is its business, the exit code tells the story.
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new PostgresHarnessError(`could not run ${commandLine} as ${user.name}: ${describeError(error)}`));
    });
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      resolve({
        command: commandLine,
        exitCode,
        signal,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
        timedOut,
      });
    });
    child.stdin.end(options.input ?? '');
  });
}

function runAsUserSync(user: UserEntry, command: string, args: readonly string[], timeoutMs: number): { status: number | null; output: string } {
  const switchUser = isRoot() && user.uid !== 0;
  const result = spawnSync(command, args, {
    encoding: 'utf8',
    timeout: timeoutMs,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(switchUser ? { uid: user.uid, gid: user.gid } : {}),
  });
  return { status: result.status, output: `${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? describeError(result.error) : ''}` };
}

function describeFailure(result: ProcessResult): string {
  const how = result.timedOut
    ? 'timed out and was killed'
    : result.signal
      ? `was killed by ${result.signal}`
      : `exited with code ${result.exitCode}`;
  const output = `${result.stderr}${result.stdout}`.trim();
  return `${how}${output ? `: ${lastLines(output, 20)}` : ''}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Clusters

/** Server settings; strings are quoted for postgresql.conf, so pass them unquoted (`archive_command: 'x %p'`). */
export type ServerSettings = Record<string, string | number | boolean>;

export type StopMode = 'smart' | 'fast' | 'immediate';

export interface Cluster extends AsyncDisposable {
  readonly major: number;
  /** PGDATA: <rootDir>/data for fresh clusters, or the directory given to startClusterOnDataDir. */
  readonly dataDir: string;
  /** The cluster's private directory (socket dir, server log, HOME for `exec`). */
  readonly rootDir: string;
  readonly port: number;
  readonly socketDir: string;
  readonly binDir: string;
  readonly logFile: string;
  /** The OS user the server (and `exec`) runs as. */
  readonly user: string;
  readonly uid: number;
  readonly gid: number;
  /** PGHOST/PGPORT/PGUSER/PGDATABASE for clients (PGHOST is the unix socket directory). */
  readonly env: Readonly<Record<'PGHOST' | 'PGPORT' | 'PGUSER' | 'PGDATABASE', string>>;
  /** Runs SQL (several statements allowed) and returns the rows like `psql -At`: `|` between fields, one line per row. */
  query(sql: string): Promise<string>;
  /** A connected `pg` client (text values, not parsed); the caller must `end()` it. */
  connect(): Promise<pg.Client>;
  /** Runs psql (-X, ON_ERROR_STOP) against the cluster and returns its stdout; throws with stderr on failure. */
  psql(args: readonly string[], options?: RunOptions): Promise<string>;
  /** Runs a command as the cluster's OS user, with the cluster's PG* env, HOME=<rootDir>, cwd=<rootDir>. */
  exec(command: string, args: readonly string[], options?: RunOptions): Promise<ProcessResult>;
  /** Runs a `sh -c` script as the cluster's OS user, like `exec`. */
  shell(script: string, options?: RunOptions): Promise<ProcessResult>;
  /** Starts the stopped server (pg_ctl start -w); settings written with `configure` apply. */
  start(): Promise<void>;
  stop(options?: { mode?: StopMode }): Promise<void>;
  restart(options?: { mode?: StopMode }): Promise<void>;
  /** Rewrites the harness settings file (merged with the previous ones); takes effect on the next start/reload. */
  configure(settings: ServerSettings): void;
  /** The postmaster's pid from postmaster.pid while it is alive, else undefined. */
  postmasterPid(): number | undefined;
  isRunning(): boolean;
  /** The last lines of the server log, for error messages and debugging. */
  logTail(lines?: number): string;
  /** Stops the server (immediate mode) if it runs and removes every directory of the cluster; idempotent. */
  cleanup(): Promise<void>;
}

export interface StartClusterOptions {
  readonly major: number;
  /** Extra initdb arguments, e.g. ['--data-checksums'] or ['--wal-segsize=1']. */
  readonly initdbArgs?: readonly string[];
  /** Server settings on top of the harness defaults (which they override). */
  readonly conf?: ServerSettings;
  /** The OS user to run as (root only); default walnut-test, or the current user when not root. */
  readonly user?: string;
  /** Do not register node:test's `after` hook; the caller cleans up (the exit hook remains as a safety net). */
  readonly keepAfterTest?: boolean;
}

/** Creates a fresh cluster with initdb and starts it. */
export async function startCluster(options: StartClusterOptions): Promise<Cluster> {
  sweepAbandonedClustersOnce();
  const binDir = postgresBinDir(options.major);
  const user = resolveClusterUser(options.user);
  const layout = createClusterDirectory(options.major, user);
  const cluster = new PostgresCluster(options.major, binDir, user, layout.rootDir, join(layout.rootDir, 'data'), [], options.conf ?? {});
  cluster.attachCleanup(options.keepAfterTest ?? false);
  try {
    const initdb = await runAsUser(
      user,
      join(binDir, 'initdb'),
      ['-D', cluster.dataDir, '-U', CLUSTER_SUPERUSER, '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale=C', ...(options.initdbArgs ?? [])],
      { cwd: layout.rootDir, timeoutMs: 120_000 },
    );
    if (initdb.exitCode !== 0) {
      throw new PostgresHarnessError(`initdb for PostgreSQL ${options.major} in ${cluster.dataDir} ${describeFailure(initdb)}`);
    }
    await cluster.startOnFreePort();
  } catch (error) {
    await cluster.cleanup();
    throw error;
  }
  return cluster;
}

export interface EmptyDataDirOptions {
  /** The OS user that will own it (root only); default as for startCluster. */
  readonly user?: string;
}

const emptyDataDirRoots = new Map<string, string>();

/**
 * Makes an empty data directory (mode 0700, owned by the cluster user) for a restore to fill, e.g. the target of
 * `wal-g backup-fetch`; then start it with startClusterOnDataDir. Removed at exit, or by that cluster's cleanup.
 */
export function createEmptyDataDir(options: EmptyDataDirOptions = {}): string {
  const user = resolveClusterUser(options.user);
  const rootDir = makeTempDir({ prefix: 'walnut-pgdata-', owner: { uid: user.uid, gid: user.gid }, mode: 0o700 });
  const dataDir = join(rootDir, 'data');
  mkdirSync(dataDir, { mode: 0o700 });
  chmodSync(dataDir, 0o700);
  if (isRoot()) chownSync(dataDir, user.uid, user.gid);
  emptyDataDirRoots.set(dataDir, rootDir);
  return dataDir;
}

export interface StartOnDataDirOptions {
  readonly dataDir: string;
  readonly major: number;
  /** Server settings on top of the harness defaults, e.g. restore_command and recovery targets. */
  readonly conf?: ServerSettings;
  readonly user?: string;
  /** Create recovery.signal (archive recovery, then promotion) or standby.signal before starting. */
  readonly signal?: 'recovery' | 'standby';
  readonly keepAfterTest?: boolean;
}

/**
 * Starts a server on an existing data directory, e.g. one a backup was restored into. The directory is handed to
 * the cluster user (chown -R, mode 0700), gets the harness settings (port, socket, ...) and, if asked, a signal
 * file. Cleanup removes the data directory too.
 */
export async function startClusterOnDataDir(options: StartOnDataDirOptions): Promise<Cluster> {
  sweepAbandonedClustersOnce();
  const binDir = postgresBinDir(options.major);
  const user = resolveClusterUser(options.user);
  if (!existsSync(join(options.dataDir, 'PG_VERSION'))) {
    throw new PostgresHarnessError(
      `${options.dataDir} is not a PostgreSQL data directory (it has no PG_VERSION file): restore a backup into it first`,
    );
  }
  const layout = createClusterDirectory(options.major, user);
  const extraDirectories = [options.dataDir];
  const emptyRoot = emptyDataDirRoots.get(options.dataDir);
  if (emptyRoot !== undefined) extraDirectories.push(emptyRoot);
  const cluster = new PostgresCluster(options.major, binDir, user, layout.rootDir, options.dataDir, extraDirectories, options.conf ?? {});
  cluster.attachCleanup(options.keepAfterTest ?? false);
  try {
    if (isRoot()) chownRecursive(options.dataDir, { uid: user.uid, gid: user.gid });
    chmodSync(options.dataDir, 0o700);
    const mainConf = join(options.dataDir, 'postgresql.conf');
    if (!existsSync(mainConf)) cluster.writeOwnedFile(mainConf, '# created by the walnut test harness: the restored data directory had none\n');
    if (options.signal !== undefined) cluster.writeOwnedFile(join(options.dataDir, `${options.signal}.signal`), '');
    await cluster.startOnFreePort();
  } catch (error) {
    await cluster.cleanup();
    throw error;
  }
  return cluster;
}

/** Runs pgbench (Debian's, it works against 13-18) against the cluster and returns its stdout; throws on failure. */
export async function pgbench(cluster: Cluster, args: readonly string[], options: RunOptions = {}): Promise<string> {
  const result = await runAsUser(currentUserEntry(), postgresClientTool('pgbench'), args, {
    ...options,
    env: { ...cluster.env, ...options.env },
  });
  if (result.exitCode !== 0) {
    throw new PostgresHarnessError(`pgbench ${args.join(' ')} against PostgreSQL ${cluster.major} on port ${cluster.port} ${describeFailure(result)}${logSection(cluster)}`);
  }
  return result.stdout;
}

/**
 * Waits until the server has left recovery (pg_is_in_recovery() is false), polling; fails fast with the server
 * log when the server dies, and after `timeoutMs` (default 60 s) otherwise.
 */
export async function waitForRecoveryEnd(cluster: Cluster, options: { timeoutMs?: number } = {}): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  let lastProblem = 'no answer yet';
  while (Date.now() < deadline) {
    if (!cluster.isRunning()) {
      throw new PostgresHarnessError(`PostgreSQL ${cluster.major} in ${cluster.dataDir} stopped while we waited for recovery to end${logSection(cluster)}`);
    }
    try {
      if ((await cluster.query('select pg_is_in_recovery()')) === 'f') return;
      lastProblem = 'pg_is_in_recovery() is still true';
    } catch (error) {
      // While recovering without hot standby the server refuses connections; keep polling.
      lastProblem = describeError(error);
    }
    await sleep(200);
  }
  throw new PostgresHarnessError(
    `PostgreSQL ${cluster.major} in ${cluster.dataDir} did not finish recovery within ${options.timeoutMs ?? 60_000} ms (${lastProblem})${logSection(cluster)}`,
  );
}

function currentUserEntry(): UserEntry {
  const current = userInfo();
  return { name: current.username, uid: current.uid, gid: current.gid, home: current.homedir };
}

function createClusterDirectory(major: number, user: UserEntry): { rootDir: string } {
  const rootDir = makeTempDir({ prefix: `${clusterDirectoryPrefix}${major}-`, owner: { uid: user.uid, gid: user.gid }, mode: 0o700 });
  const socketDir = join(rootDir, 'socket');
  mkdirSync(socketDir, { mode: 0o700 });
  if (isRoot()) chownSync(socketDir, user.uid, user.gid);
  return { rootDir };
}

const portsHandedOut = new Set<number>();

async function findFreePort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        const chosen = typeof address === 'object' && address !== null ? address.port : 0;
        server.close(() => resolve(chosen));
      });
    });
    if (port !== 0 && !portsHandedOut.has(port)) {
      portsHandedOut.add(port);
      return port;
    }
  }
  throw new PostgresHarnessError('could not find a free TCP port on 127.0.0.1 for a test cluster');
}

/** The harness defaults; small and fast, with WAL fit for base backups and archiving. */
function defaultSettings(port: number, socketDir: string): ServerSettings {
  return {
    listen_addresses: '127.0.0.1',
    port,
    unix_socket_directories: socketDir,
    wal_level: 'replica',
    // Durability is the one thing tests do not need: every server here is thrown away.
    fsync: 'off',
    shared_buffers: '16MB',
    max_connections: 20,
    max_wal_senders: 5,
    max_replication_slots: 5,
    logging_collector: 'off',
    log_line_prefix: '%m [%p] ',
  };
}

function quoteSetting(value: string | number | boolean): string {
  if (typeof value === 'boolean') return value ? 'on' : 'off';
  return `'${String(value).replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;
}

class PostgresCluster implements Cluster {
  readonly major: number;
  readonly binDir: string;
  readonly rootDir: string;
  readonly dataDir: string;
  readonly socketDir: string;
  readonly logFile: string;
  readonly user: string;
  readonly uid: number;
  readonly gid: number;
  private readonly userEntry: UserEntry;
  private readonly extraDirectories: readonly string[];
  private settings: ServerSettings;
  private currentPort = 0;
  private cleanedUp = false;
  private unregisterExitCleanup: (() => void) | undefined;

  constructor(
    major: number,
    binDir: string,
    user: UserEntry,
    rootDir: string,
    dataDir: string,
    extraDirectories: readonly string[],
    settings: ServerSettings,
  ) {
    this.major = major;
    this.binDir = binDir;
    this.userEntry = user;
    this.user = user.name;
    this.uid = user.uid;
    this.gid = user.gid;
    this.rootDir = rootDir;
    this.dataDir = dataDir;
    this.socketDir = join(rootDir, 'socket');
    this.logFile = join(rootDir, 'server.log');
    this.extraDirectories = extraDirectories;
    this.settings = { ...settings };
  }

  get port(): number {
    return this.currentPort;
  }

  get env(): Record<'PGHOST' | 'PGPORT' | 'PGUSER' | 'PGDATABASE', string> {
    return { PGHOST: this.socketDir, PGPORT: String(this.currentPort), PGUSER: CLUSTER_SUPERUSER, PGDATABASE: 'postgres' };
  }

  /** Wires the three cleanup layers: the exit hook, the sweep marker, and (optionally) node:test's `after`. */
  attachCleanup(keepAfterTest: boolean): void {
    this.unregisterExitCleanup = registerExitCleanup(`stop PostgreSQL ${this.major} in ${this.dataDir}`, () => {
      this.stopImmediatelySync();
      for (const directory of this.extraDirectories) rmSync(directory, { recursive: true, force: true });
    });
    writeFileSync(
      join(this.rootDir, harnessMarkerFile),
      JSON.stringify({ ownerPid: process.pid, binDir: this.binDir, dataDir: this.dataDir, uid: this.uid, gid: this.gid, extraDirectories: this.extraDirectories }),
    );
    if (!keepAfterTest) after(() => this.cleanup());
  }

  configure(settings: ServerSettings): void {
    this.settings = { ...this.settings, ...settings };
    this.writeSettings();
  }

  private writeSettings(): void {
    const all = { ...defaultSettings(this.currentPort, this.socketDir), ...this.settings };
    const lines = Object.entries(all).map(([key, value]) => `${key} = ${quoteSetting(value)}`);
    this.writeOwnedFile(
      join(this.dataDir, harnessConfFile),
      `# Written by the walnut test harness (tests/helpers/postgres.ts); rewritten on every start.\n${lines.join('\n')}\n`,
    );
    // Included last from postgresql.conf, so these win over whatever a restored data directory brings along
    // (ALTER SYSTEM's postgresql.auto.conf still wins over both). The path is relative to the data directory.
    const mainConf = join(this.dataDir, 'postgresql.conf');
    const includeLine = `include_if_exists '${harnessConfFile}'`;
    if (!readFileSync(mainConf, 'utf8').includes(includeLine)) appendFileSync(mainConf, `\n${includeLine}\n`);
  }

  /** Writes a file the server must own (root-created files in PGDATA would be unreadable or break backups). */
  writeOwnedFile(path: string, content: string): void {
    writeFileSync(path, content, { mode: 0o600 });
    if (isRoot()) chownSync(path, this.uid, this.gid);
  }

  /** First start: picks a free port, retrying with another when a concurrent process grabbed it meanwhile. */
  async startOnFreePort(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      this.currentPort = await findFreePort();
      try {
        await this.start();
        return;
      } catch (error) {
        const portTaken = /could not bind|Address already in use|could not create any TCP\/IP sockets/i.test(this.logTail(50));
        if (!portTaken || attempt >= 5) throw error;
        // Keep the log readable: mark where the retry begins.
        appendFileSync(this.logFile, `--- walnut test harness: port ${this.currentPort} was taken, retrying on another ---\n`);
      }
    }
  }

  async start(): Promise<void> {
    this.assertUsable('start');
    this.writeSettings();
    await this.pgCtl(['start', '-D', this.dataDir, '-l', this.logFile, '-w', '-t', String(pgCtlTimeoutSeconds)], 'start');
  }

  async stop(options: { mode?: StopMode } = {}): Promise<void> {
    this.assertUsable('stop');
    await this.pgCtl(['stop', '-D', this.dataDir, '-m', options.mode ?? 'fast', '-w', '-t', String(pgCtlTimeoutSeconds)], 'stop');
  }

  async restart(options: { mode?: StopMode } = {}): Promise<void> {
    this.assertUsable('restart');
    if (this.isRunning()) await this.stop(options);
    await this.start();
  }

  private async pgCtl(args: string[], action: string): Promise<void> {
    const result = await runAsUser(this.userEntry, join(this.binDir, 'pg_ctl'), args, {
      cwd: this.rootDir,
      timeoutMs: (pgCtlTimeoutSeconds + 30) * 1000,
    });
    if (result.exitCode !== 0) {
      throw new PostgresHarnessError(`pg_ctl ${action} of PostgreSQL ${this.major} in ${this.dataDir} ${describeFailure(result)}${logSection(this)}`);
    }
  }

  private assertUsable(action: string): void {
    if (this.cleanedUp) {
      throw new PostgresHarnessError(
        `cannot ${action} PostgreSQL ${this.major}: the cluster in ${this.dataDir} was already cleaned up ` +
          `(started in a before/beforeEach hook? node:test runs an after hook registered there as soon as that hook ` +
          `ends: pass keepAfterTest: true and clean up in your own after hook)`,
      );
    }
  }

  postmasterPid(): number | undefined {
    return postmasterPidOf(this.dataDir);
  }

  isRunning(): boolean {
    return this.postmasterPid() !== undefined;
  }

  logTail(lines = 30): string {
    try {
      return lastLines(readFileSync(this.logFile, 'utf8'), lines);
    } catch {
      return '(no server log yet)';
    }
  }

  async connect(): Promise<pg.Client> {
    this.assertUsable('connect to');
    const client = new pg.Client({
      host: this.socketDir,
      port: this.currentPort,
      user: CLUSTER_SUPERUSER,
      database: 'postgres',
      // Hand values back as the server's text, like psql, instead of parsing dates and numbers.
      types: { getTypeParser: (() => (value: string) => value) as unknown as pg.CustomTypesConfig['getTypeParser'] },
    });
    try {
      await client.connect();
    } catch (error) {
      await client.end().catch(() => {});
      throw new PostgresHarnessError(
        `could not connect to PostgreSQL ${this.major} on socket ${this.socketDir} port ${this.currentPort}: ${describeError(error)}${logSection(this)}`,
      );
    }
    return client;
  }

  async query(sql: string): Promise<string> {
    const client = await this.connect();
    try {
      const outcome = await client.query({ text: sql, rowMode: 'array' });
      const results = Array.isArray(outcome) ? (outcome as pg.QueryArrayResult[]) : [outcome];
      const lines: string[] = [];
      for (const result of results) {
        for (const row of result.rows ?? []) lines.push(row.map((value) => (value === null ? '' : String(value))).join('|'));
      }
      return lines.join('\n');
    } catch (error) {
      throw new PostgresHarnessError(`query on PostgreSQL ${this.major} failed: ${describeError(error)}\nSQL: ${truncate(sql, 500)}`);
    } finally {
      await client.end().catch(() => {});
    }
  }

  async psql(args: readonly string[], options: RunOptions = {}): Promise<string> {
    this.assertUsable('run psql against');
    const result = await runAsUser(currentUserEntry(), postgresClientTool('psql'), ['-X', '-v', 'ON_ERROR_STOP=1', ...args], {
      ...options,
      env: { ...this.env, ...options.env },
    });
    if (result.exitCode !== 0) {
      throw new PostgresHarnessError(`psql ${args.join(' ')} against PostgreSQL ${this.major} ${describeFailure(result)}`);
    }
    return result.stdout;
  }

  async exec(command: string, args: readonly string[], options: RunOptions = {}): Promise<ProcessResult> {
    this.assertUsable(`run ${command} for`);
    return await runAsUser(this.userEntry, command, args, {
      ...options,
      cwd: options.cwd ?? this.rootDir,
      env: { HOME: this.rootDir, ...this.env, ...options.env },
    });
  }

  shell(script: string, options: RunOptions = {}): Promise<ProcessResult> {
    return this.exec('/bin/sh', ['-c', script], options);
  }

  async cleanup(): Promise<void> {
    if (this.cleanedUp) return;
    this.cleanedUp = true;
    if (this.isRunning()) {
      const result = await runAsUser(this.userEntry, join(this.binDir, 'pg_ctl'), ['stop', '-D', this.dataDir, '-m', 'immediate', '-w', '-t', String(pgCtlTimeoutSeconds)], {
        cwd: this.rootDir,
        timeoutMs: (pgCtlTimeoutSeconds + 30) * 1000,
      }).catch(() => undefined);
      if (result?.exitCode !== 0) killPostmaster(this.dataDir);
    }
    this.unregisterExitCleanup?.();
    for (const directory of this.extraDirectories) rmSync(directory, { recursive: true, force: true });
    for (const directory of this.extraDirectories) {
      const emptyRoot = emptyDataDirRoots.get(directory);
      if (emptyRoot !== undefined) {
        removeTempDir(emptyRoot);
        emptyDataDirRoots.delete(directory);
      }
    }
    removeTempDir(this.rootDir);
    portsHandedOut.delete(this.currentPort);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.cleanup();
  }

  /** The exit hook's stop: synchronous, immediate, and a SIGKILL when pg_ctl cannot do it. */
  stopImmediatelySync(): void {
    if (this.cleanedUp) return;
    this.cleanedUp = true;
    stopClusterSync(this.userEntry, this.binDir, this.dataDir);
  }
}

function stopClusterSync(user: UserEntry, binDir: string, dataDir: string): void {
  if (postmasterPidOf(dataDir) === undefined) return;
  const result = runAsUserSync(user, join(binDir, 'pg_ctl'), ['stop', '-D', dataDir, '-m', 'immediate', '-w', '-t', String(pgCtlTimeoutSeconds)], (pgCtlTimeoutSeconds + 10) * 1000);
  if (result.status !== 0) killPostmaster(dataDir);
}

/** SIGKILLs the postmaster; its children notice the postmaster's death and exit on their own. */
function killPostmaster(dataDir: string): void {
  const pid = postmasterPidOf(dataDir);
  if (pid === undefined) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

function postmasterPidOf(dataDir: string): number | undefined {
  let content: string;
  try {
    content = readFileSync(join(dataDir, 'postmaster.pid'), 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number.parseInt(content.split('\n')[0], 10);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return isProcessAlive(pid) ? pid : undefined;
}

/**
 * Whether a process still runs. A zombie counts as gone: a stopped postmaster is re-parented to PID 1, and some
 * container inits take a second or more to reap it.
 */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    // /proc/<pid>/stat is "pid (comm) state ..."; comm may hold spaces and parentheses, so split at the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

let sweepDone = false;

function sweepAbandonedClustersOnce(): void {
  if (sweepDone) return;
  sweepDone = true;
  sweepAbandonedClusters();
}

/**
 * Stops and removes clusters left behind by test processes that died without running their exit hooks
 * (SIGKILL, OOM). A cluster belongs to a dead process when the pid in its marker file is gone. Runs by itself
 * before the first cluster of a process starts; returns the cluster directories it removed.
 */
export function sweepAbandonedClusters(): string[] {
  const removed: string[] = [];
  const parent = process.env.WALNUT_TEST_TMPDIR ?? tmpdir();
  for (const entry of safeReaddir(parent)) {
    if (!entry.startsWith(clusterDirectoryPrefix)) continue;
    const rootDir = join(parent, entry);
    let marker: { ownerPid: number; binDir: string; dataDir: string; uid: number; gid: number; extraDirectories?: string[] };
    try {
      marker = JSON.parse(readFileSync(join(rootDir, harnessMarkerFile), 'utf8'));
    } catch {
      continue;
    }
    if (isProcessAlive(marker.ownerPid)) continue;
    try {
      stopClusterSync({ name: String(marker.uid), uid: marker.uid, gid: marker.gid, home: rootDir }, marker.binDir, marker.dataDir);
      for (const directory of marker.extraDirectories ?? []) rmSync(directory, { recursive: true, force: true });
      rmSync(rootDir, { recursive: true, force: true });
      removed.push(rootDir);
    } catch (error) {
      process.stderr.write(`could not remove the abandoned test cluster ${rootDir}: ${describeError(error)}\n`);
    }
  }
  return removed;
}

// ---------------------------------------------------------------------------------------------------------------
// Small utilities

function logSection(cluster: Pick<Cluster, 'logFile' | 'logTail'>): string {
  return `\n--- last lines of ${cluster.logFile} ---\n${cluster.logTail(30)}`;
}

function lastLines(text: string, count: number): string {
  const lines = text.trimEnd().split('\n');
  return lines.slice(-count).join('\n');
}

function truncate(text: string, length: number): string {
  return text.length <= length ? text : `${text.slice(0, length)}…`;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function safeReaddir(directory: string): string[] {
  try {
    return readdirSync(directory);
  } catch {
    return [];
  }
}

function sleep(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds));
}
