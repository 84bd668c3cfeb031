// A real OpenStack Swift all-in-one on loopback for storage tests: native API with tempauth, and S3 through s3api.
//
// Usage (one server per test file; startup takes about 10 s):
//   let swift: SwiftServer;
//   before(async () => { swift = await startSwiftServer(); });
//   after(() => swift.stop());
//
// What runs: memcached (tempauth keeps its tokens there), one account, one container and one object server
// (1 replica, 1 device: a plain directory, mount_check off) and the proxy with
// `bulk s3api tempauth copy slo dlo` in its pipeline, each on a free loopback port, all in one temporary
// directory (configs, rings, data, logs). The user is tempauth's `test:tester` with key `testing` (account
// AUTH_test); for S3 the same pair is the access key and secret. Servers run as the `swift` user when the tests
// run as root (created by the Debian packages), else as the current user.
//
// Cleanup: stop() in an `after` hook; a process exit/signal hook (tests/helpers/tmp.ts) kills whatever is still
// running and removes the directory, so a failing test leaves nothing behind.

import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync, chownSync } from 'node:fs';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { describeError, lookupUser, makeTempDir, registerExitCleanup, removeTempDir } from './tmp.ts';

export const SWIFT_USER = 'test:tester';
export const SWIFT_KEY = 'testing';
export const SWIFT_ACCOUNT = 'AUTH_test';

const SERVER_KINDS = ['account', 'container', 'object'] as const;
type ServerKind = (typeof SERVER_KINDS)[number] | 'proxy';

export interface SwiftServerOptions {
  /** How long to wait for the whole cluster to answer; default 60 s. */
  readyTimeoutMs?: number;
}

export interface SwiftServer {
  /** http://127.0.0.1:<proxy port> */
  readonly proxyUrl: string;
  /** tempauth's v1 auth URL (`<proxy>/auth/v1.0`). */
  readonly authUrl: string;
  /** `<proxy>/v1/AUTH_test` */
  readonly storageUrl: string;
  readonly user: string;
  readonly key: string;
  /** The directory holding configs, rings, data and logs. */
  readonly directory: string;
  /** A fresh tempauth token for direct requests. */
  token(): Promise<string>;
  /** Creates a container (idempotent). */
  createContainer(name: string): Promise<void>;
  /** Stops only the proxy (data and back-end servers stay): clients see connection refused. */
  stopProxy(): Promise<void>;
  /** Starts the proxy again on the same port and waits until it answers. */
  startProxy(): Promise<void>;
  /** The last lines of a server's log, for failure messages. */
  logTail(kind: ServerKind, lines?: number): string;
  /** Stops every process and removes the directory; idempotent. */
  stop(): Promise<void>;
}

export class SwiftServerError extends Error {
  override name = 'SwiftServerError';
}

/** Starts the cluster and waits until tempauth hands out tokens and a container can be created. */
export async function startSwiftServer(options: SwiftServerOptions = {}): Promise<SwiftServer> {
  for (const program of ['swift-ring-builder', 'swift-proxy-server', 'swift-object-server', 'memcached']) {
    if (spawnSync('which', [program]).status !== 0) {
      throw new SwiftServerError(
        `${program} is not installed: run scripts/ci/install-system-deps.sh as root (it installs the swift packages and memcached)`,
      );
    }
  }
  const runAs = serverUser();
  const directory = makeTempDir({ prefix: 'walnut-swift-', owner: { uid: runAs.uid, gid: runAs.gid }, mode: 0o755 });
  const server = new LocalSwift(directory, runAs);
  try {
    // Four Python servers on a loaded 2-core machine can take minutes; a slow start is not a failure.
    await server.start(options.readyTimeoutMs ?? 180_000);
  } catch (error) {
    await server.stop();
    throw error;
  }
  return server;
}

interface RunAs {
  name: string;
  uid: number;
  gid: number;
}

function serverUser(): RunAs {
  const current = userInfo();
  if (current.uid !== 0) return { name: current.username, uid: current.uid, gid: current.gid };
  const swift = lookupUser('swift');
  if (swift === undefined) {
    throw new SwiftServerError('the "swift" user is missing: run scripts/ci/install-system-deps.sh as root (the swift packages create it)');
  }
  return { name: swift.name, uid: swift.uid, gid: swift.gid };
}

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

class LocalSwift implements SwiftServer {
  readonly directory: string;
  readonly user = SWIFT_USER;
  readonly key = SWIFT_KEY;
  private readonly runAs: RunAs;
  private readonly etc: string;
  private readonly logs: string;
  private readonly ports = new Map<ServerKind | 'memcached', number>();
  private readonly processes = new Map<ServerKind | 'memcached', ChildProcess>();
  private stopped = false;
  private unregisterExitCleanup: (() => void) | undefined;

  constructor(directory: string, runAs: RunAs) {
    this.directory = directory;
    this.runAs = runAs;
    this.etc = join(directory, 'etc');
    this.logs = join(directory, 'logs');
  }

  get proxyUrl(): string {
    return `http://127.0.0.1:${this.ports.get('proxy')}`;
  }

  get authUrl(): string {
    return `${this.proxyUrl}/auth/v1.0`;
  }

  get storageUrl(): string {
    return `${this.proxyUrl}/v1/${SWIFT_ACCOUNT}`;
  }

  async start(readyTimeoutMs: number): Promise<void> {
    this.unregisterExitCleanup = registerExitCleanup(`stop Swift in ${this.directory}`, () => {
      for (const child of this.processes.values()) killQuietly(child, 'SIGKILL');
      removeTempDir(this.directory);
    });
    for (const kind of ['memcached', ...SERVER_KINDS, 'proxy'] as const) this.ports.set(kind, await freePort());
    for (const sub of ['etc', 'logs', 'cache', 'run', 'srv/sdb1']) this.makeOwnedDirectory(join(this.directory, sub));
    this.writeConfigs();
    this.buildRings();

    this.spawnProcess('memcached', 'memcached', ['-l', '127.0.0.1', '-p', String(this.ports.get('memcached')), '-U', '0', '-m', '64', '-t', '1']);
    for (const kind of [...SERVER_KINDS, 'proxy'] as const) this.spawnServer(kind);
    await this.waitUntilReady(readyTimeoutMs);
  }

  private makeOwnedDirectory(path: string): void {
    mkdirSync(path, { recursive: true, mode: 0o755 });
    if (process.getuid?.() === 0) chownSync(path, this.runAs.uid, this.runAs.gid);
  }

  private writeOwnedFile(path: string, content: string): void {
    writeFileSync(path, content);
    if (process.getuid?.() === 0) chownSync(path, this.runAs.uid, this.runAs.gid);
  }

  private writeConfigs(): void {
    const common = [
      '[DEFAULT]',
      `swift_dir = ${this.etc}`,
      `devices = ${join(this.directory, 'srv')}`,
      'mount_check = false',
      'bind_ip = 127.0.0.1',
      `user = ${this.runAs.name}`,
      'workers = 0',
      `recon_cache_path = ${join(this.directory, 'cache')}`,
      'log_level = INFO',
      // No syslog here: -v sends the log to the console, which goes to logs/<server>.log.
      'log_facility = LOG_LOCAL0',
    ];
    this.writeOwnedFile(
      join(this.etc, 'swift.conf'),
      [
        '[swift-hash]',
        'swift_hash_path_suffix = walnut-test',
        'swift_hash_path_prefix = walnut-test',
        '[storage-policy:0]',
        'name = gold',
        'default = yes',
        '',
      ].join('\n'),
    );
    for (const kind of SERVER_KINDS) {
      this.writeOwnedFile(
        join(this.etc, `${kind}-server.conf`),
        [
          ...common,
          `bind_port = ${this.ports.get(kind)}`,
          '',
          '[pipeline:main]',
          `pipeline = ${kind}-server`,
          '',
          `[app:${kind}-server]`,
          `use = egg:swift#${kind}`,
          ...(kind === 'container' ? ['allow_versions = true'] : []),
          '',
        ].join('\n'),
      );
    }
    this.writeOwnedFile(
      join(this.etc, 'proxy-server.conf'),
      [
        ...common,
        `bind_port = ${this.ports.get('proxy')}`,
        '',
        '[pipeline:main]',
        'pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk s3api tempauth copy slo dlo proxy-logging proxy-server',
        '',
        '[app:proxy-server]',
        'use = egg:swift#proxy',
        'account_autocreate = true',
        'allow_account_management = true',
        '',
        '[filter:catch_errors]',
        'use = egg:swift#catch_errors',
        '[filter:gatekeeper]',
        'use = egg:swift#gatekeeper',
        '[filter:healthcheck]',
        'use = egg:swift#healthcheck',
        '[filter:proxy-logging]',
        'use = egg:swift#proxy_logging',
        '[filter:cache]',
        'use = egg:swift#memcache',
        `memcache_servers = 127.0.0.1:${this.ports.get('memcached')}`,
        '[filter:listing_formats]',
        'use = egg:swift#listing_formats',
        '[filter:bulk]',
        'use = egg:swift#bulk',
        '[filter:s3api]',
        'use = egg:swift#s3api',
        'location = us-east-1',
        '[filter:tempauth]',
        'use = egg:swift#tempauth',
        `user_test_tester = ${SWIFT_KEY} .admin`,
        '[filter:copy]',
        'use = egg:swift#copy',
        '[filter:slo]',
        'use = egg:swift#slo',
        '[filter:dlo]',
        'use = egg:swift#dlo',
        '',
      ].join('\n'),
    );
  }

  private buildRings(): void {
    for (const kind of SERVER_KINDS) {
      const builder = join(this.etc, `${kind}.builder`);
      // 2^6 partitions are plenty for one device and keep the builder fast.
      this.ringBuilder([builder, 'create', '6', '1', '1']);
      this.ringBuilder([builder, 'add', `r1z1-127.0.0.1:${this.ports.get(kind)}/sdb1`, '1']);
      this.ringBuilder([builder, 'rebalance']);
    }
    if (process.getuid?.() === 0) spawnSync('chown', ['-R', `${this.runAs.uid}:${this.runAs.gid}`, this.etc]);
  }

  private ringBuilder(args: string[]): void {
    const result = spawnSync('swift-ring-builder', args, { encoding: 'utf8' });
    // rebalance exits 1 with a warning when nothing had to move; anything else is a real failure.
    if (result.status !== 0 && !(args[1] === 'rebalance' && result.status === 1)) {
      throw new SwiftServerError(`swift-ring-builder ${args.join(' ')} failed (${result.status}): ${result.stderr}${result.stdout}`);
    }
  }

  private spawnServer(kind: ServerKind): void {
    this.spawnProcess(kind, `swift-${kind}-server`, [join(this.etc, `${kind}-server.conf`), '-v']);
  }

  private spawnProcess(kind: ServerKind | 'memcached', program: string, args: string[]): void {
    const logFile = join(this.logs, `${kind}.log`);
    const output = openSync(logFile, 'a');
    const asRoot = process.getuid?.() === 0;
    const child = spawn(program, args, {
      cwd: this.directory,
      stdio: ['ignore', output, output],
      env: { ...process.env, HOME: this.directory, PYTHONUNBUFFERED: '1' },
      // Servers drop privileges to `user` themselves; memcached refuses root unless told whom to become.
      ...(asRoot ? { uid: this.runAs.uid, gid: this.runAs.gid } : {}),
    });
    closeSync(output);
    child.on('error', (error) => {
      writeFileSync(logFile, `walnut swift helper: could not start ${program}: ${describeError(error)}\n`, { flag: 'a' });
    });
    this.processes.set(kind, child);
  }

  private async waitUntilReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let lastProblem = 'nothing answered yet';
    while (Date.now() < deadline) {
      for (const [kind, child] of this.processes) {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new SwiftServerError(`Swift ${kind} server exited during startup (${child.exitCode ?? child.signalCode})\n${this.logTail(kind as ServerKind)}`);
        }
      }
      try {
        await this.createContainer('walnut-ready-check');
        return;
      } catch (error) {
        lastProblem = describeError(error);
      }
      await sleep(200);
    }
    throw new SwiftServerError(
      `Swift did not become ready within ${timeoutMs} ms: ${lastProblem}\n--- proxy log ---\n${this.logTail('proxy')}`,
    );
  }

  async token(): Promise<string> {
    const response = await fetch(this.authUrl, { headers: { 'X-Auth-User': SWIFT_USER, 'X-Auth-Key': SWIFT_KEY } });
    await response.arrayBuffer();
    const token = response.headers.get('x-auth-token');
    if (response.status !== 200 || token === null) throw new SwiftServerError(`tempauth answered ${response.status} without a token`);
    return token;
  }

  async createContainer(name: string): Promise<void> {
    const token = await this.token();
    const response = await fetch(`${this.storageUrl}/${encodeURIComponent(name)}`, { method: 'PUT', headers: { 'X-Auth-Token': token } });
    const text = await response.text();
    if (response.status !== 201 && response.status !== 202) {
      throw new SwiftServerError(`creating container ${name} answered ${response.status}: ${text.slice(0, 200)}`);
    }
  }

  async stopProxy(): Promise<void> {
    const proxy = this.processes.get('proxy');
    if (proxy === undefined) return;
    this.processes.delete('proxy');
    await terminate(proxy);
  }

  async startProxy(): Promise<void> {
    if (this.processes.has('proxy')) return;
    this.spawnServer('proxy');
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        const response = await fetch(`${this.proxyUrl}/healthcheck`);
        await response.arrayBuffer();
        if (response.status === 200) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new SwiftServerError(`the Swift proxy did not come back\n${this.logTail('proxy')}`);
      await sleep(100);
    }
  }

  logTail(kind: ServerKind | 'memcached', lines = 30): string {
    const path = join(this.logs, `${kind}.log`);
    if (!existsSync(path)) return `(no ${kind} log)`;
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.all([...this.processes.values()].map((child) => terminate(child)));
    this.processes.clear();
    this.unregisterExitCleanup?.();
    removeTempDir(this.directory);
  }
}

/** SIGTERM, then SIGKILL after 5 s; resolves once the process is gone. */
async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  killQuietly(child, 'SIGTERM');
  const timer = setTimeout(() => killQuietly(child, 'SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

function killQuietly(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    child.kill(signal);
  } catch {
    // already gone
  }
}

function sleep(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds));
}
