// The peers a benchmark compares: wal-g-compatible binaries (walnut, WAL-G), pgBackRest, and raw limits (cp, lz4,
// tar); each knows the command lines for the operations it has and the executables whose processes are its own.

import { copyFileSync, chmodSync, existsSync, mkdirSync, rmSync, writeFileSync, chownSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { resolveExecutable } from './proc-sampler.mjs';

/** The exit and message of a wal-g-compatible command that walnut has not built yet. */
export function isNotImplemented(result) {
  return result.code === 1 && /not implemented yet/i.test(`${result.stderr}\n${result.stdout}`);
}

/** The first line of a tool's answer to --version, or the error that kept it from answering. */
function versionLine(binary, args = ['--version']) {
  try {
    return execFileSync(binary, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 }).trim().split('\n')[0];
  } catch (error) {
    return `(no version: ${String(error.message).split('\n')[0]})`;
  }
}

/** Copies a binary into the bench's own directory: a rebuild of dist/wal-g during the run must not change it. */
function installPrivateCopy(source, directory, name, owner) {
  mkdirSync(directory, { recursive: true, mode: 0o755 });
  const target = join(directory, name);
  copyFileSync(source, target);
  chmodSync(target, 0o755);
  if (owner && process.getuid?.() === 0) chownSync(target, owner.uid, owner.gid);
  return target;
}

/**
 * A wal-g-compatible binary: the candidate (walnut) or a reference (WAL-G). Settings reach it through the
 * environment, the same for every such tool: file storage, lz4, and whatever --env adds.
 */
export class WalgTool {
  /**
   * @param {{label: string, role: 'candidate' | 'reference', binary: string, daemonClient?: string, toolsDir: string,
   *          home: string, extraEnv: Record<string, string>, owner: {uid: number, gid: number}}} options
   */
  constructor({ label, role, binary, daemonClient, toolsDir, home, extraEnv, owner }) {
    this.kind = 'walg';
    this.label = label;
    this.role = role;
    this.sourceBinary = binary;
    const directory = join(toolsDir, label.replace(/[^\w.-]/g, '_'));
    this.binary = installPrivateCopy(resolveExecutable(binary), directory, 'wal-g', owner);
    this.sourceDaemonClient = daemonClient ?? findDaemonClient(binary);
    this.daemonClient = this.sourceDaemonClient ? installPrivateCopy(resolveExecutable(this.sourceDaemonClient), directory, 'walg-daemon-client', owner) : undefined;
    this.home = home;
    this.extraEnv = extraEnv;
    this.version = versionLine(this.binary);
    this.daemonClientVersion = this.daemonClient ? versionLine(this.daemonClient, ['--version']) : undefined;
    this.exes = [this.binary, ...(this.daemonClient ? [this.daemonClient] : [])];
    /** Operations found not built ('not implemented yet') or failing: operation -> reason. */
    this.unavailable = new Map();
  }

  /** The environment a command of this tool runs with (storage prefix, codec, HOME for the addon cache, PG*). */
  env({ storage, pgEnv = {}, pgData } = {}) {
    return {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: this.home,
      ...(storage ? { WALG_FILE_PREFIX: storage } : {}),
      WALG_COMPRESSION_METHOD: 'lz4',
      ...(pgData ? { PGDATA: pgData } : {}),
      ...pgEnv,
      ...this.extraEnv,
    };
  }

  /** `env K=V ... BIN args` as one shell word list, for archive_command and restore_command. */
  shellCommand(envVars, args) {
    const assignments = Object.entries(envVars)
      .filter(([key]) => key !== 'PATH')
      .map(([key, value]) => shellQuote(`${key}=${value}`));
    return ['/usr/bin/env', ...assignments, shellQuote(this.binary), ...args].join(' ');
  }

  walPush(segmentPath, storage) {
    return { cmd: this.binary, args: ['wal-push', segmentPath], env: this.env({ storage }) };
  }

  archiveCommand(storage) {
    return this.shellCommand(this.env({ storage }), ['wal-push', '%p']);
  }

  daemon(socketPath, storage, pgData) {
    return { cmd: this.binary, args: ['daemon', socketPath], env: this.env({ storage, pgData }) };
  }

  daemonArchiveCommand(socketPath, client = this.daemonClient) {
    return `${shellQuote(client)} ${shellQuote(socketPath)} wal-push %f`;
  }

  daemonRestoreCommand(socketPath, client = this.daemonClient) {
    return `${shellQuote(client)} ${shellQuote(socketPath)} wal-fetch %f %p`;
  }

  backupPush(storage, cluster) {
    return { cmd: this.binary, args: ['backup-push', cluster.dataDir], env: this.env({ storage, pgEnv: cluster.env, pgData: cluster.dataDir }) };
  }

  backupFetch(storage, destination) {
    return { cmd: this.binary, args: ['backup-fetch', destination, 'LATEST'], env: this.env({ storage }) };
  }

  restoreCommand(storage) {
    return this.shellCommand(this.env({ storage }), ['wal-fetch', '%f', '%p']);
  }

  describe() {
    return {
      label: this.label,
      kind: this.kind,
      role: this.role,
      binary: this.sourceBinary,
      version: this.version,
      daemonClient: this.sourceDaemonClient ?? null,
      daemonClientVersion: this.daemonClientVersion ?? null,
    };
  }
}

function findDaemonClient(binary) {
  const nextToIt = join(dirname(binary), 'walg-daemon-client');
  return existsSync(nextToIt) ? nextToIt : undefined;
}

/**
 * pgBackRest (Debian's package): archive-push (sync and async), backup, restore, archive-get, each with a private
 * config file per repository so the package's /etc/pgbackrest.conf never matters.
 */
export class PgBackRestTool {
  constructor({ processMax = 2, owner }) {
    this.kind = 'pgbackrest';
    this.label = 'pgbackrest';
    this.role = 'peer';
    this.binary = resolveExecutable('pgbackrest');
    this.exes = [this.binary];
    this.processMax = processMax;
    this.owner = owner;
    this.version = versionLine(this.binary, ['version']);
    this.stanza = `bench${process.pid}`;
    this.unavailable = new Map();
  }

  /**
   * Writes the config of a repository in `repoRoot` (repo/, spool/, log/, lock/ beneath it) for the cluster whose
   * data directory is `pgData`; returns the config path. `socket`/`port` are for commands that talk to the server.
   */
  writeConfig(repoRoot, { pgData, socketDir, port, async = false }) {
    for (const sub of ['', 'repo', 'spool', 'log', 'lock']) {
      mkdirSync(join(repoRoot, sub), { recursive: true, mode: 0o750 });
      if (this.owner && process.getuid?.() === 0) chownSync(join(repoRoot, sub), this.owner.uid, this.owner.gid);
    }
    const config = join(repoRoot, 'pgbackrest.conf');
    const lines = [
      '[global]',
      `repo1-path=${join(repoRoot, 'repo')}`,
      'repo1-retention-full=1',
      `spool-path=${join(repoRoot, 'spool')}`,
      `log-path=${join(repoRoot, 'log')}`,
      `lock-path=${join(repoRoot, 'lock')}`,
      'log-level-console=warn',
      'log-level-file=off',
      'compress-type=lz4',
      'start-fast=y',
      `process-max=${this.processMax}`,
      `archive-async=${async ? 'y' : 'n'}`,
      '',
      `[${this.stanza}]`,
      `pg1-path=${pgData}`,
      ...(socketDir ? [`pg1-socket-path=${socketDir}`, `pg1-port=${port}`, 'pg1-user=postgres'] : []),
      '',
    ];
    writeFileSync(config, lines.join('\n'), { mode: 0o644 });
    return config;
  }

  base(config) {
    return [`--config=${config}`, `--stanza=${this.stanza}`];
  }

  /** stanza-create; `online: false` for a stopped cluster (reads pg_control from the data directory). */
  stanzaCreate(config, { online }) {
    return { cmd: this.binary, args: [...this.base(config), ...(online ? [] : ['--no-online']), 'stanza-create'], env: this.env() };
  }

  env() {
    return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp' };
  }

  walPush(segmentPath, config) {
    return { cmd: this.binary, args: [...this.base(config), 'archive-push', segmentPath], env: this.env() };
  }

  archiveCommand(config) {
    return [this.binary, ...this.base(config), 'archive-push', '%p'].map(shellQuote).join(' ');
  }

  backupPush(config) {
    // No archive check: the benchmark measures copying the cluster; WAL archiving is measured on its own.
    return { cmd: this.binary, args: [...this.base(config), 'backup', '--type=full', '--no-archive-check'], env: this.env() };
  }

  backupFetch(config, destination) {
    return { cmd: this.binary, args: [...this.base(config), `--pg1-path=${destination}`, 'restore'], env: this.env() };
  }

  restoreCommand(config) {
    return [this.binary, ...this.base(config), 'archive-get', '%f', '"%p"'].map((word) => (word === '"%p"' ? word : shellQuote(word))).join(' ');
  }

  describe() {
    return { label: this.label, kind: this.kind, role: this.role, binary: this.binary, version: this.version, processMax: this.processMax };
  }
}

/** The floor: what plain tools take for the same bytes (cp and the lz4 CLI per segment, tar | lz4 for a cluster). */
export class RawTool {
  constructor() {
    this.kind = 'raw';
    this.label = 'raw';
    this.role = 'limit';
    this.lz4 = resolveExecutable('lz4');
    this.cp = resolveExecutable('cp');
    this.tar = resolveExecutable('tar');
    this.exes = [this.lz4, this.cp, this.tar];
    this.version = versionLine(this.lz4, ['--version']);
    this.unavailable = new Map();
  }

  env() {
    return { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  }

  /** One lz4 process per segment: compress and write, what a wal-push does at the least. */
  walPush(segmentPath, storage) {
    return { cmd: this.lz4, args: ['-1', '-q', '-f', segmentPath, join(storage, `${basename(segmentPath)}.lz4`)], env: this.env() };
  }

  copySegment(segmentPath, storage) {
    return { cmd: this.cp, args: [segmentPath, join(storage, basename(segmentPath))], env: this.env() };
  }

  archiveCommand(storage) {
    return `${shellQuote(this.lz4)} -1 -q -f %p ${shellQuote(storage)}/%f.lz4`;
  }

  /** tar of the data directory (pg_wal's contents left out, as backups do) through lz4 into the void. */
  backupPush(dataDir, target = '/dev/null') {
    const script = `${shellQuote(this.tar)} -cf - --exclude=./pg_wal/* --warning=no-file-changed --warning=no-file-removed -C ${shellQuote(dataDir)} . | ${shellQuote(this.lz4)} -1 -q > ${shellQuote(target)}`;
    return { cmd: '/bin/sh', args: ['-c', script], env: this.env() };
  }

  backupFetch(archive, destination) {
    const script = `${shellQuote(this.lz4)} -d -q -c ${shellQuote(archive)} | ${shellQuote(this.tar)} -xf - -C ${shellQuote(destination)}`;
    return { cmd: '/bin/sh', args: ['-c', script], env: this.env() };
  }

  restoreCommand(storage) {
    return `test -f ${shellQuote(storage)}/%f.lz4 && ${shellQuote(this.lz4)} -d -q -f ${shellQuote(storage)}/%f.lz4 %p`;
  }

  describe() {
    return { label: this.label, kind: this.kind, role: this.role, version: this.version, commands: 'lz4 -1 / cp per segment; tar | lz4 -1 per cluster' };
  }
}

/** Quotes a word for /bin/sh unless it is plainly safe. */
export function shellQuote(word) {
  const text = String(word);
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`;
}

/** Empties (or creates) a directory owned by `owner`. */
export function freshDirectory(path, owner, mode = 0o750) {
  rmSync(path, { recursive: true, force: true });
  mkdirSync(path, { recursive: true, mode });
  if (owner && process.getuid?.() === 0) chownSync(path, owner.uid, owner.gid);
  return path;
}
