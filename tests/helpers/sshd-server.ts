// A private OpenSSH server for SFTP integration tests: its own host key, user, keys and config, on a free loopback port, always stopped.
//
// Usage:
//   await using sshd = await startSshd({ password: true });
//   const root = sshd.makeStorageDirectory();               // a fresh directory the SSH user owns
//   // settings: SSH_PORT=sshd.port, SSH_USERNAME=sshd.user, SSH_PRIVATE_KEY_PATH=sshd.privateKeyPath,
//   //           SSH_PASSWORD=sshd.password; prefix ssh://127.0.0.1<root>
//
// As root (the CI case) the server lets in a dedicated unprivileged user, `walnut-sftp`, created with useradd
// when missing; it may only run internal-sftp (ForceCommand) and only on this server (AllowUsers, loopback).
// Key auth always works; password auth is offered when asked for, with a random password set by chpasswd and
// removed again (`usermod -p '*'`) on cleanup. (So two processes with password servers at once would trample each
// other's password; the test files use one server each.) Not as root, sshd runs as the current user and only key auth
// works. stop() kills the listener and every session process it forked, like a crash; start() brings the server
// back on the same port. An exit hook does the same killing if a test forgets.

import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, chmodSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freeLoopbackPort, portAnswers } from './azurite-server.ts';
import { lookupUser, makeTempDir, registerExitCleanup, removeTempDir } from './tmp.ts';

/** The unprivileged user SFTP sessions run as when the tests run as root. */
export const SFTP_TEST_USER = 'walnut-sftp';
const SSHD = '/usr/sbin/sshd';
const READY_TIMEOUT_MS = 30_000;

export interface StartSshdOptions {
  /** Also accept password logins (root only: the user needs a password). */
  password?: boolean;
}

export interface SshdServer extends AsyncDisposable {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** The user's password, when password logins are on. */
  readonly password: string | undefined;
  /** An unencrypted ed25519 private key the server accepts for `user`. */
  readonly privateKeyPath: string;
  /** A fresh directory owned by `user` (mode 0755), removed at cleanup at the latest. */
  makeStorageDirectory(): string;
  /** Kills the listener and all its session processes at once (SIGKILL), like a crash. */
  stop(): Promise<void>;
  /** Starts the server again on the same port. */
  start(): Promise<void>;
  cleanup(): Promise<void>;
}

export async function startSshd(options: StartSshdOptions = {}): Promise<SshdServer> {
  const asRoot = process.getuid?.() === 0;
  if (options.password === true && !asRoot) throw new Error('password logins need the tests to run as root (to give the user a password)');
  const user = asRoot ? ensureTestUser() : userInfo().username;
  const password = options.password === true ? randomBytes(18).toString('base64url') : undefined;
  if (asRoot) setPassword(user, password);

  // 0755 so the session process, running as the user, can read authorized_keys.
  const directory = makeTempDir({ prefix: 'walnut-sshd-', mode: 0o755 });
  const storageDirectories: string[] = [];
  const hostKeyPath = join(directory, 'host_ed25519');
  const privateKeyPath = join(directory, 'client_ed25519');
  const authorizedKeysPath = join(directory, 'authorized_keys');
  const configPath = join(directory, 'sshd_config');
  run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'walnut test host', '-f', hostKeyPath]);
  run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'walnut test client', '-f', privateKeyPath]);
  copyFileSync(`${privateKeyPath}.pub`, authorizedKeysPath);
  chmodSync(authorizedKeysPath, 0o644);
  // sshd wants its privilege-separation directory to exist.
  if (asRoot) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });

  const port = await freeLoopbackPort();
  writeFileSync(
    configPath,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKeyPath}`,
      `PidFile ${join(directory, 'sshd.pid')}`,
      `AuthorizedKeysFile ${authorizedKeysPath}`,
      'StrictModes no',
      'UsePAM no',
      'PubkeyAuthentication yes',
      `PasswordAuthentication ${password === undefined ? 'no' : 'yes'}`,
      'KbdInteractiveAuthentication no',
      'PermitRootLogin no',
      `AllowUsers ${user}`,
      'Subsystem sftp internal-sftp',
      'ForceCommand internal-sftp',
      'MaxStartups 64',
      'MaxSessions 64',
      'LogLevel ERROR',
      '',
    ].join('\n'),
  );

  let child: ChildProcess | undefined;
  let stderr = '';
  let cleaned = false;

  // Freeze first, kill after: a session process forked between looking and killing would otherwise survive
  // and keep its client's connection alive. Stopped processes cannot fork, and their children keep their parent.
  const killTree = (): void => {
    if (child?.pid === undefined) return;
    const frozen = new Set<number>();
    for (let round = 0; round < 10; round++) {
      let found = false;
      for (const pid of [child.pid, ...descendantsOf(child.pid)]) {
        if (frozen.has(pid)) continue;
        found = true;
        frozen.add(pid);
        signal(pid, 'SIGSTOP');
      }
      if (!found) break;
    }
    for (const pid of frozen) signal(pid, 'SIGKILL');
  };
  const unregisterKill = registerExitCleanup(`kill sshd on port ${port}`, killTree);

  const launch = async (): Promise<void> => {
    stderr = '';
    const started = spawn(SSHD, ['-D', '-e', '-f', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = started;
    started.stderr?.setEncoding('utf8').on('data', (text: string) => {
      if (stderr.length < 8192) stderr += text;
    });
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (!(await portAnswers(port))) {
      if (started.exitCode !== null || started.signalCode !== null) {
        throw new Error(`sshd exited before listening on 127.0.0.1:${port} (${started.exitCode ?? started.signalCode}): ${stderr}`);
      }
      if (Date.now() > deadline) {
        killTree();
        throw new Error(`sshd did not listen on 127.0.0.1:${port} within ${READY_TIMEOUT_MS} ms: ${stderr}`);
      }
      await sleep(20);
    }
  };

  const stop = async (): Promise<void> => {
    const running = child;
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    killTree();
    await exited;
  };

  const server: SshdServer = {
    host: '127.0.0.1',
    port,
    user,
    password,
    privateKeyPath,
    makeStorageDirectory(): string {
      const path = makeTempDir({ prefix: 'walnut-sftp-storage-', owner: user, mode: 0o755 });
      storageDirectories.push(path);
      return path;
    },
    stop,
    start: launch,
    async cleanup(): Promise<void> {
      if (cleaned) return;
      cleaned = true;
      await stop();
      unregisterKill();
      for (const path of storageDirectories) removeTempDir(path);
      removeTempDir(directory);
      if (asRoot && password !== undefined) setPassword(user, undefined);
    },
    [Symbol.asyncDispose]() {
      return server.cleanup();
    },
  };

  try {
    await launch();
  } catch (error) {
    await server.cleanup();
    throw error;
  }
  return server;
}

/** Creates the SFTP test user when missing: no usable shell, never a root of anything. */
function ensureTestUser(): string {
  if (lookupUser(SFTP_TEST_USER) === undefined) {
    const result = spawnSync('useradd', ['--create-home', '--shell', '/usr/sbin/nologin', SFTP_TEST_USER], { encoding: 'utf8' });
    // 9: created meanwhile by another test process.
    if (result.status !== 0 && result.status !== 9) {
      throw new Error(`useradd ${SFTP_TEST_USER} failed (${result.status}): ${result.stderr}`);
    }
  }
  return SFTP_TEST_USER;
}

/**
 * Gives the user a password, or none. With UsePAM off sshd refuses a locked ('!') account even for key logins,
 * so "no password" is '*': unlocked, but no password matches it.
 */
function setPassword(user: string, password: string | undefined): void {
  if (password === undefined) {
    run('usermod', ['-p', '*', user]);
    return;
  }
  const result = spawnSync('chpasswd', [], { input: `${user}:${password}\n`, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`chpasswd for ${user} failed (${result.status}): ${result.stderr}`);
}

function run(command: string, args: string[]): void {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.status ?? result.signal}): ${result.stderr}`);
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    /* already gone */
  }
}

/** Every process below `pid` (sshd forks one or two per connection), found through /proc. */
function descendantsOf(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let status: string;
    try {
      status = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    // The command name in parentheses may hold spaces; the parent pid is the second field after it.
    const parent = Number(status.slice(status.lastIndexOf(')') + 2).split(' ')[1]);
    const list = children.get(parent) ?? [];
    list.push(Number(entry));
    children.set(parent, list);
  }
  const found: number[] = [];
  const pending = [pid];
  while (pending.length > 0) {
    for (const childPid of children.get(pending.pop()!) ?? []) {
      found.push(childPid);
      pending.push(childPid);
    }
  }
  return found;
}
