// WAL prefetch (WAL-G's wal-prefetch): after a wal-fetch, download the next segments into
// `<dir>/.wal-g/prefetch/` (via `running/`) so PostgreSQL's next restore_command calls find them locally.

import { readFileSync } from 'node:fs';
import { mkdir, readdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import * as sea from 'node:sea';
import type { Crypter } from '../crypto/crypter.ts';
import { errorMessage } from '../errors.ts';
import { nodeChildProcess } from '../native/lazy-builtins.ts';
import { log } from '../log/logger.ts';
import type { Folder } from '../storage/driver.ts';
import { downloadWalInPlace } from './fetch.ts';
import { parseWalSegmentName } from './names.ts';
import { followingWalNames, isOlderWal, prefetchLocations, queuedMarkerPid } from './prefetch-names.ts';

/** Pause between starting two prefetch downloads, so they finish roughly in order (WAL-G's ramp-up). */
export const PREFETCH_RAMP_UP_MS = 10;

export interface PrefetchOptions {
  /** `wal_005/` of the storage. */
  readonly walFolder: Folder;
  /** The name wal-fetch just fetched. */
  readonly walName: string;
  /** wal-fetch's (symlink-resolved) destination file; its directory is the prefetch base. */
  readonly destination: string;
  /** WALG_DOWNLOAD_CONCURRENCY: how many following names to fetch. */
  readonly concurrency: number;
  readonly segmentSize: number;
  readonly prefetchDirSetting: string | undefined;
  readonly crypter: Crypter | undefined;
}

/** WAL-G's HandleWALPrefetch: downloads the following segments side by side, then cleans up older ones. */
export async function prefetchFollowingWals(options: PrefetchOptions): Promise<void> {
  const directory = dirname(options.destination);
  const names = followingWalNames(options.walName, options.concurrency, options.segmentSize);
  if (options.walFolder.driver.kind === 'file') {
    // From a local directory one at a time, in order: decoding runs on this process's one JavaScript thread, so
    // downloads side by side finish no sooner, and each one in flight holds its decoder's buffers (~15 MiB; ten at
    // once made this child the largest process of a replay, 159 MiB). The next segment, the one replay needs
    // first, is ready soonest this way. Network storages keep WAL-G's concurrency (docs/COMPATIBILITY.md).
    // The names still to download are marked queued (with this process id), so the wal-fetch calls meanwhile do
    // not start a child of their own for them: one process start per window instead of one per segment.
    const ours = await queueNames(options, directory, names);
    try {
      for (const name of ours) {
        await prefetchOne(options, directory, name);
        await unlink(prefetchLocations(directory, name, options.prefetchDirSetting).queuedFile).catch(() => undefined);
      }
    } finally {
      for (const name of ours) await unlink(prefetchLocations(directory, name, options.prefetchDirSetting).queuedFile).catch(() => undefined);
    }
    await cleanupPrefetchFolders(options.walName, directory, options.prefetchDirSetting, options.segmentSize);
    return;
  }
  const downloads: Promise<void>[] = [];
  for (const name of names) {
    downloads.push(prefetchOne(options, directory, name));
    await new Promise((resolve) => setTimeout(resolve, PREFETCH_RAMP_UP_MS));
  }
  downloads.push(cleanupPrefetchFolders(options.walName, directory, options.prefetchDirSetting, options.segmentSize));
  await Promise.all(downloads);
}

/**
 * True when a queued marker names a process that is still running. A child that died leaves a stale marker, which
 * then counts for nothing.
 */
export function queuedByLiveProcess(queuedFile: string): boolean {
  let pid: number | undefined;
  try {
    pid = queuedMarkerPid(readFileSync(queuedFile, 'utf8'));
  } catch {
    return false;
  }
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Marks the names nobody has prefetched, is downloading or has queued (another live process) as queued by this
 * process, and returns them in order: the ones this process downloads. Without a queued folder (it cannot be made)
 * every such name is still returned.
 */
async function queueNames(options: PrefetchOptions, directory: string, names: readonly string[]): Promise<string[]> {
  const ours: string[] = [];
  let marking = true;
  for (const name of names) {
    const locations = prefetchLocations(directory, name, options.prefetchDirSetting);
    if ((await existsOrUnknown(locations.prefetchedFile)) || (await existsOrUnknown(locations.runningFile)) || queuedByLiveProcess(locations.queuedFile)) continue;
    ours.push(name);
    if (!marking) continue;
    try {
      await mkdir(locations.queuedFolder, { recursive: true, mode: 0o755 });
      await writeFile(locations.queuedFile, `${process.pid}\n`);
    } catch (error) {
      log.debug(`WAL-prefetch ${name}, queued marker: ${errorMessage(error)}`);
      marking = false;
    }
  }
  return ours;
}

async function existsOrUnknown(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

/** One following segment: skipped when already cached or being fetched; never throws (errors are logged). */
async function prefetchOne(options: PrefetchOptions, directory: string, walName: string): Promise<void> {
  const locations = prefetchLocations(directory, walName, options.prefetchDirSetting);
  try {
    if ((await existsOrUnknown(locations.runningFile)) || (await existsOrUnknown(locations.prefetchedFile))) return;
    try {
      await mkdir(locations.runningFolder, { recursive: true, mode: 0o755 });
    } catch (error) {
      log.error(`WAL-prefetch ${walName}, make dirs: ${errorMessage(error)}`);
    }
    log.debug(`File prefetched to ${locations.runningFile}`);
    try {
      // Written in place under running/ so a concurrent wal-fetch sees it grow; a failed download is removed.
      await downloadWalInPlace(options.walFolder, walName, locations.runningFile, options.crypter);
    } catch (error) {
      log.error(`WAL-prefetch ${walName}, download: ${errorMessage(error)}`);
      return;
    }
    log.debug(`WAL-prefetch ${walName}, download OK`);
    if ((await existsOrUnknown(locations.runningFile)) && !(await existsOrUnknown(locations.prefetchedFile))) {
      try {
        await rename(locations.runningFile, locations.prefetchedFile);
      } catch (error) {
        log.error(`WAL-prefetch ${walName}, rename ${locations.runningFile} -> ${locations.prefetchedFile}: ${errorMessage(error)}`);
      }
    } else {
      await unlink(locations.runningFile).catch(() => undefined);
    }
  } catch (error) {
    log.error(`WAL-prefetch unsuccessful ${walName} ${errorMessage(error)}`);
  }
}

/** Removes cached and in-progress files older than `walName`: recovery has gone past them. */
export async function cleanupPrefetchFolders(walName: string, directory: string, prefetchDirSetting: string | undefined, segmentSize: number): Promise<void> {
  if (parseWalSegmentName(walName, segmentSize) === undefined) {
    log.warn(`WAL-prefetch cleanup failed: not a WAL file name: ${walName} file: ${walName}`);
    return;
  }
  const locations = prefetchLocations(directory, walName, prefetchDirSetting);
  for (const folder of [locations.prefetchFolder, locations.runningFolder, locations.queuedFolder]) {
    let entries;
    try {
      entries = await readdir(folder, { withFileTypes: true });
    } catch (error) {
      // walnut's own queued folder exists only where a child downloaded one segment after another.
      if (folder === locations.queuedFolder && (error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      log.warn(`WAL-prefetch cleanup failed, : ${errorMessage(error)} cannot enumerate files in dir: ${folder}`);
      continue;
    }
    for (const entry of entries) {
      if (entry.isDirectory() || !isOlderWal(entry.name, walName, segmentSize)) continue;
      const path = join(folder, entry.name);
      await unlink(path).catch((error: unknown) => log.warn(`Tried to remove file: '${path}', but got error: '${errorMessage(error)}'`));
    }
  }
}

export interface PrefetchProcessOptions {
  /** --config given to this process, passed on. */
  readonly configFile: string | undefined;
  /** WALG_STORAGE_PREFIX, passed on as --walg-storage-prefix. */
  readonly storagePrefix: string | undefined;
}

/**
 * The command line that runs `wal-prefetch` with this same program: in the single binary that is the binary
 * itself (process.execPath); from source it is node plus the entry script.
 */
export function prefetchCommandLine(walName: string, destination: string, options: PrefetchProcessOptions): { command: string; args: string[] } {
  const args = ['wal-prefetch', walName, destination];
  if (options.configFile) args.push('--config', options.configFile);
  if (options.storagePrefix) args.push('--walg-storage-prefix', options.storagePrefix);
  if (sea.isSea()) return { command: process.execPath, args };
  return { command: process.execPath, args: [...process.execArgv, process.argv[1], ...args] };
}

/**
 * Starts the prefetch child and does not wait for it (WAL-G's RegularPrefetcher): same environment, same
 * stdout/stderr, no stdin. This process can exit while the child downloads.
 */
export function spawnPrefetchProcess(walName: string, destination: string, options: PrefetchProcessOptions): void {
  const { command, args } = prefetchCommandLine(walName, destination, options);
  try {
    // node:child_process on demand: most wal-fetch calls in a replay start no child (prefetchNeeded).
    const child = nodeChildProcess().spawn(command, args, { env: process.env, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', (error) => log.error(`WAL-prefetch failed:  ${errorMessage(error)}`));
    child.unref();
  } catch (error) {
    log.error(`WAL-prefetch failed:  ${errorMessage(error)}`);
  }
}
