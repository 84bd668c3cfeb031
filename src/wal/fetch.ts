// wal-fetch (WAL-G's HandleWALFetch): serve a segment from the prefetch cache when it is there and sane, otherwise
// download `wal_005/<name>.<ext>` to the destination, never leaving a partial file under the destination name.

import { realpathSync } from 'node:fs';
import { link, lstat, open, readdir, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Crypter } from '../crypto/crypter.ts';
import { EXIT_WAL_NOT_FOUND, WalgError, errorMessage } from '../errors.ts';
import { log } from '../log/logger.ts';
import { findByBaseName, openDecoded, writeChunksToFile, type FoundObject } from '../objects/transfer.ts';
import type { Folder } from '../storage/driver.ts';
import { pathErrorText, systemErrorReason } from '../storage/go-text.ts';
import { prefetchLocations } from './prefetch-names.ts';
import { temporaryNameHex } from '../storage/temporary-name.ts';

/** The smallest valid first word of a WAL page header: xlp_magic 0xD061 plus xlp_info in the high half. */
export const MINIMUM_WAL_MAGIC = 0xd061;
/** wal-fetch polls a growing `running/` file this often... */
export const PREFETCH_POLL_MS = 2;
/** ...and downloads by itself once it has not grown for this many polls (WAL-G: 100 × 2 ms). */
export const PREFETCH_STALL_POLLS = 100;

/** The WAL file is in no form in the storage: wal-fetch exits 74, the daemon answers `N`. */
export class WalNotFoundError extends WalgError {
  readonly walName: string;
  constructor(walName: string) {
    // WAL-G's text ends with a newline that its logger swallows; ours adds its own.
    super(`Archive '${walName}' does not exist.`, EXIT_WAL_NOT_FOUND);
    this.name = 'WalNotFoundError';
    this.walName = walName;
  }
}

/** WAL-G resolves symlinks in the destination; a path that does not resolve (the usual case) stays as given. */
export function resolveDestination(destination: string): string {
  try {
    return realpathSync(destination);
  } catch {
    return destination;
  }
}

/** Whether the first four bytes, little-endian, are a plausible WAL page magic (WAL-G's checkWALFileMagic). */
export function hasWalMagic(firstBytes: Uint8Array): boolean {
  if (firstBytes.length < 4) return false;
  return Buffer.from(firstBytes.buffer, firstBytes.byteOffset, 4).readUInt32LE(0) >= MINIMUM_WAL_MAGIC;
}

async function checkWalMagic(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(4), 0, 4, 0);
    if (!hasWalMagic(buffer.subarray(0, bytesRead))) throw new Error('WAL-G: WAL file magic is invalid ');
  } finally {
    await handle.close();
  }
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === 'ENOENT';
}

async function statOrUndefined(path: string): Promise<{ size: number } | undefined> {
  try {
    return await stat(path);
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw new WalgError(pathErrorText('stat', path, error));
  }
}

export interface WalFetchOptions {
  /** `wal_005/` of the storage. */
  readonly walFolder: Folder;
  readonly walName: string;
  /** Already symlink-resolved (resolveDestination). */
  readonly destination: string;
  readonly crypter: Crypter | undefined;
  /** Bytes per segment (WALG_PG_WAL_SIZE): a prefetched file of another size is not used. */
  readonly segmentSize: number;
  /** WALG_PREFETCH_DIR when set (even empty), else undefined. */
  readonly prefetchDirSetting: string | undefined;
}

/** Fetches one WAL file; rejects with WalNotFoundError when no object of that name exists. */
export async function fetchWal(options: WalFetchOptions): Promise<void> {
  log.debug(`HandleWALFetch(folder, ${options.walName}, ${options.destination})`);
  if (await takePrefetched(options)) return;
  await downloadWal(options.walFolder, options.walName, options.destination, options.crypter);
}

/**
 * Moves a prefetched copy into place when there is a complete one, waiting for a prefetch in progress while it
 * still grows. Returns false when wal-fetch has to download the file itself.
 */
async function takePrefetched(options: WalFetchOptions): Promise<boolean> {
  const { runningFile, prefetchedFile } = prefetchLocations(dirname(options.destination), options.walName, options.prefetchDirSetting);
  log.debug(`Going to check prefetch in ${prefetchedFile}`);
  let seenSize = -1;
  let stalledPolls = 0;
  for (;;) {
    const prefetched = await statOrUndefined(prefetchedFile);
    if (prefetched !== undefined) {
      if (prefetched.size !== options.segmentSize) {
        log.error(`Prefetch error: wrong file size of prefetched file ${prefetchedFile}: ${prefetched.size}`);
        // Unlike WAL-G, drop the useless copy right away instead of leaving it to the next cleanup.
        await unlink(prefetchedFile).catch(() => undefined);
        return false;
      }
      try {
        await rename(prefetchedFile, options.destination);
      } catch (error) {
        throw new WalgError(`rename ${prefetchedFile} ${options.destination}: ${systemErrorReason(error)}`);
      }
      try {
        await checkWalMagic(options.destination);
      } catch (error) {
        log.error(`Prefetched file ${options.destination} contain errors: ${errorMessage(error)}`);
        await unlink(options.destination).catch(() => undefined);
        return false;
      }
      log.debug(`Successful prefetch for file ${options.walName}`);
      return true;
    }
    let running: { size: number } | undefined;
    try {
      running = await stat(runningFile);
    } catch {
      return false;
    }
    if (running.size <= seenSize) {
      if (++stalledPolls >= PREFETCH_STALL_POLLS) {
        // The prefetcher seems stuck: take over, and clear its files so they cannot be picked up later.
        await unlink(runningFile).catch(() => undefined);
        await unlink(prefetchedFile).catch(() => undefined);
        return false;
      }
    } else {
      stalledPolls = 0;
      seenSize = running.size;
    }
    await new Promise((resolve) => setTimeout(resolve, PREFETCH_POLL_MS));
  }
}

/** Finds the object under any known extension (or bare); WalNotFoundError when there is none. */
async function findWal(walFolder: Folder, walName: string): Promise<FoundObject> {
  const found = await findByBaseName(walFolder, walName);
  if (found === undefined) throw new WalNotFoundError(walName);
  return found;
}

async function writeDecoded(walFolder: Folder, found: FoundObject, handle: FileHandle, crypter: Crypter | undefined): Promise<void> {
  const decoded = await openDecoded(walFolder, found.key, { format: found.format, crypter });
  try {
    // The decoder's slices go back to it once written (src/objects/transfer.ts).
    await writeChunksToFile(decoded, handle);
  } catch (error) {
    throw new WalgError(`${found.key}: ${errorMessage(error)}`, 1, { cause: error });
  }
}

/**
 * Downloads to `destination` with WAL-G's O_EXCL rule (an existing destination is an error) but through a
 * temporary name published with link(), so the destination appears only complete: a failure or a kill -9 half-way
 * leaves nothing under its name.
 */
export async function downloadWal(walFolder: Folder, walName: string, destination: string, crypter: Crypter | undefined): Promise<void> {
  const existsError = new WalgError(`open ${destination}: file exists`);
  try {
    await lstat(destination);
    throw existsError;
  } catch (error) {
    if (error === existsError) throw error;
  }
  await removeAbandonedTemporaries(destination);
  const temporary = join(dirname(destination), `${temporaryPrefix(destination)}${temporaryNameHex(12)}`);
  let handle: FileHandle | undefined;
  try {
    handle = await open(temporary, 'wx', 0o666);
  } catch (error) {
    // Reported as WAL-G reports its failed open of the destination.
    throw new WalgError(pathErrorText('open', destination, error));
  }
  try {
    const found = await findWal(walFolder, walName);
    await writeDecoded(walFolder, found, handle, crypter);
    await handle.close();
    handle = undefined;
    await publishExclusively(temporary, destination);
  } finally {
    await handle?.close().catch(() => undefined);
    await unlink(temporary).catch(() => undefined);
  }
}

function temporaryPrefix(destination: string): string {
  return `.${basename(destination)}.walnut-`;
}

/**
 * Removes temporary files an earlier wal-fetch to the same destination left when it was killed (kill -9 cannot be
 * cleaned up after). PostgreSQL runs one restore_command at a time, so none of them is still being written.
 */
async function removeAbandonedTemporaries(destination: string): Promise<void> {
  const prefix = temporaryPrefix(destination);
  let names: string[];
  try {
    names = await readdir(dirname(destination));
  } catch {
    return;
  }
  for (const name of names) {
    if (name.startsWith(prefix) && /^[0-9a-f]{12}$/.test(name.slice(prefix.length))) {
      await unlink(join(dirname(destination), name)).catch(() => undefined);
    }
  }
}

/** Gives the finished file its final name without replacing anything that appeared there meanwhile. */
async function publishExclusively(temporary: string, destination: string): Promise<void> {
  try {
    await link(temporary, destination);
    return;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new WalgError(`open ${destination}: file exists`);
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EXDEV') {
      throw new WalgError(pathErrorText('link', destination, error));
    }
  }
  // A filesystem without hard links: check, then rename (only a racing writer can slip in between).
  try {
    await lstat(destination);
    throw new WalgError(`open ${destination}: file exists`);
  } catch (error) {
    if (error instanceof WalgError) throw error;
  }
  try {
    await rename(temporary, destination);
  } catch (error) {
    throw new WalgError(`rename ${temporary} ${destination}: ${systemErrorReason(error)}`);
  }
}

/**
 * Downloads into `path` directly, created with O_EXCL (the prefetcher's `running/` file, whose growth wal-fetch
 * watches). Any failure removes the file; the caller renames it to its final name only on success.
 */
export async function downloadWalInPlace(walFolder: Folder, walName: string, path: string, crypter: Crypter | undefined): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'wx', 0o666);
  } catch (error) {
    throw new WalgError(pathErrorText('open', path, error));
  }
  let complete = false;
  try {
    const found = await findWal(walFolder, walName);
    await writeDecoded(walFolder, found, handle, crypter);
    complete = true;
  } finally {
    await handle.close().catch(() => undefined);
    if (!complete) await unlink(path).catch(() => undefined);
  }
}
