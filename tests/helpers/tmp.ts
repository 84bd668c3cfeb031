// Temporary directories for tests, and an exit-time cleanup registry that runs even when a test throws or the process is killed by a signal.
//
// Every directory made here is registered for removal when the process exits (normally, through process.exit,
// or on SIGINT/SIGTERM/SIGHUP). Tests should still remove their directories as soon as they are done, with
// `t.after(() => removeTempDir(dir))`; the exit hook is the safety net, not the plan.

import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, lstatSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A synchronous cleanup step run at process exit (it must be synchronous: 'exit' listeners cannot await). */
export type ExitCleanup = () => void;

interface RegisteredCleanup {
  readonly id: number;
  readonly description: string;
  readonly run: ExitCleanup;
}

// Most recent first at run time, so a server registered after its directory is stopped before the directory goes.
const registeredCleanups = new Map<number, RegisteredCleanup>();
let nextCleanupId = 1;
let processHooksInstalled = false;

const terminatingSignals: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Registers `run` to be called once when the process exits, unless the returned function is called first
 * (which unregisters it without running it). Errors thrown by `run` are reported on stderr and do not stop
 * the other cleanups.
 */
export function registerExitCleanup(description: string, run: ExitCleanup): () => void {
  installProcessHooks();
  const id = nextCleanupId++;
  registeredCleanups.set(id, { id, description, run });
  return () => {
    registeredCleanups.delete(id);
  };
}

/** The descriptions of the cleanups still pending, most recent first; tests use it to check nothing leaked. */
export function pendingExitCleanups(): string[] {
  return [...registeredCleanups.values()].reverse().map((cleanup) => cleanup.description);
}

/**
 * Runs every pending cleanup now, most recent first, and forgets them. Called by the exit and signal hooks;
 * tests may call it to check the safety net itself.
 */
export function runExitCleanups(): void {
  const cleanups = [...registeredCleanups.values()].reverse();
  registeredCleanups.clear();
  for (const cleanup of cleanups) {
    try {
      cleanup.run();
    } catch (error) {
      process.stderr.write(`test cleanup "${cleanup.description}" failed: ${describeError(error)}\n`);
    }
  }
}

function installProcessHooks(): void {
  if (processHooksInstalled) return;
  processHooksInstalled = true;
  process.on('exit', runExitCleanups);
  for (const signal of terminatingSignals) {
    const onSignal = (): void => {
      runExitCleanups();
      // When we are the only listener, die of the signal as the process would have without us, so the parent
      // sees the usual "killed by SIGTERM". Other listeners (node's test runner has some) decide for themselves.
      if (process.listenerCount(signal) === 1) {
        process.removeListener(signal, onSignal);
        process.kill(process.pid, signal);
      }
    };
    process.on(signal, onSignal);
  }
}

/** Who should own a temporary directory: a user name (looked up with getent) or numeric ids. */
export type DirectoryOwner = string | { readonly uid: number; readonly gid: number };

export interface TempDirOptions {
  /** The directory name starts with this; default "walnut-test-". */
  readonly prefix?: string;
  /** Give the directory to this user (only possible as root; ignored when it is the current user). */
  readonly owner?: DirectoryOwner;
  /** Permission bits; default 0o700. Use 0o711 or 0o755 when another user must reach files inside. */
  readonly mode?: number;
  /** Parent directory; default $WALNUT_TEST_TMPDIR or the OS temp dir. */
  readonly parent?: string;
}

const trackedTempDirs = new Map<string, () => void>();

/** Creates a fresh private directory that is removed at process exit at the latest; returns its absolute path. */
export function makeTempDir(options: TempDirOptions = {}): string {
  const parent = options.parent ?? process.env.WALNUT_TEST_TMPDIR ?? tmpdir();
  const path = mkdtempSync(join(parent, options.prefix ?? 'walnut-test-'));
  chmodSync(path, options.mode ?? 0o700);
  if (options.owner !== undefined) {
    const { uid, gid } = resolveOwner(options.owner);
    if (uid !== process.getuid?.()) chownSync(path, uid, gid);
  }
  const unregister = registerExitCleanup(`remove ${path}`, () => removeDirectoryNow(path));
  trackedTempDirs.set(path, unregister);
  return path;
}

/** Removes a directory made by makeTempDir (or any directory), and drops its exit-time cleanup. */
export function removeTempDir(path: string): void {
  removeDirectoryNow(path);
  trackedTempDirs.get(path)?.();
  trackedTempDirs.delete(path);
}

/** Leaves a directory made by makeTempDir in place at exit (for inspection). */
export function keepTempDir(path: string): void {
  trackedTempDirs.get(path)?.();
  trackedTempDirs.delete(path);
}

/** The uid and gid of a user name, or of the ids given; throws a readable error for an unknown user. */
export function resolveOwner(owner: DirectoryOwner): { uid: number; gid: number } {
  if (typeof owner !== 'string') return { uid: owner.uid, gid: owner.gid };
  const entry = lookupUser(owner);
  if (entry === undefined) throw new Error(`user "${owner}" does not exist: create it first (useradd) or pick another owner`);
  return { uid: entry.uid, gid: entry.gid };
}

export interface UserEntry {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

/** Looks a user up in the system's passwd database (getent, so NSS sources count); undefined when unknown. */
export function lookupUser(name: string): UserEntry | undefined {
  const result = spawnSync('getent', ['passwd', name], { encoding: 'utf8' });
  if (result.status !== 0 || !result.stdout) return undefined;
  const fields = result.stdout.trim().split(':');
  return { name: fields[0], uid: Number(fields[2]), gid: Number(fields[3]), home: fields[5] };
}

/** Changes the owner of a directory tree (not following symlinks), e.g. to hand a restored data dir to the cluster user. */
export function chownRecursive(path: string, owner: DirectoryOwner): void {
  const { uid, gid } = resolveOwner(owner);
  const visit = (entryPath: string): void => {
    const stats = lstatSync(entryPath);
    if (stats.isSymbolicLink()) return;
    chownSync(entryPath, uid, gid);
    if (stats.isDirectory()) {
      for (const child of readdirSync(entryPath)) visit(join(entryPath, child));
    }
  };
  visit(path);
}

function removeDirectoryNow(path: string): void {
  rmSync(path, { recursive: true, force: true, maxRetries: 3, retryDelay: 50 });
}

export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
