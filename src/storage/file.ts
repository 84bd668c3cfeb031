// The local filesystem driver (WALG_FILE_PREFIX): objects are plain files under a root directory, as in WAL-G.
//
// Unlike WAL-G, which truncates and writes the final file in place, a put writes a hidden temporary file in the
// same directory, fsyncs it, renames it over the final name and fsyncs the directory: a reader (or a crash) never
// sees a half-written WAL segment or sentinel. Listings skip those temporary names.

import { Readable } from 'node:stream';
import { nodeFsPromises } from '../native/lazy-builtins.ts';
import type { FileHandle } from 'node:fs/promises';
import * as localFs from './local-fs.ts';
import type { BigIntStats, Stats } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { WalgError, errorMessage } from '../errors.ts';
import { log } from '../log/logger.ts';
import { NotFoundError, ObjectExistsError, checkRange, compareKeys } from './driver.ts';
import type { GetOptions, ListEntry, ListOptions, ObjectInfo, PutOptions, StorageDriver } from './driver.ts';
import { errorCode, goQuote, pathErrorText } from './go-text.ts';
import { fileStorageRoot } from './prefix.ts';
import { giveBack } from '../stream/recycling-pool.ts';
import { temporaryNameHex } from './temporary-name.ts';

/** WAL-G creates storage directories with this mode (before the umask). */
export const DIRECTORY_MODE = 0o755;
/** Files get 0666 before the umask, like Go's os.Create. */
const FILE_MODE = 0o666;
/** Read and copy chunk size: big enough for throughput, small enough to keep memory flat. */
export const READ_CHUNK_SIZE = 1024 * 1024;
/** How many files deleteMany removes at once. */
const DELETE_CONCURRENCY = 16;
/** Longest file name most filesystems accept (NAME_MAX). */
const NAME_MAX = 255;

const TEMPORARY_MARKER = '.walnut-tmp-';
const TEMPORARY_NAME = /^\..*\.walnut-tmp-[0-9a-f]{16}$/s;

/** True for the hidden names puts write before renaming; listings never show them. */
export function isTemporaryName(name: string): boolean {
  return TEMPORARY_NAME.test(name);
}

function temporaryNameFor(name: string): string {
  const suffix = `${TEMPORARY_MARKER}${temporaryNameHex(16)}`;
  let base = name;
  // Keep the temporary name within NAME_MAX even for very long object names (counted in UTF-8 bytes).
  while (Buffer.byteLength(`.${base}${suffix}`) > NAME_MAX) base = base.slice(0, -1);
  return `.${base}${suffix}`;
}

/**
 * Opens a file storage the way WAL-G's fs adapter does: `file://localhost` is stripped and the root directory
 * must already exist. The error text is WAL-G's, without the `configure storage with prefix` wrapper.
 */
export async function openFileStorage(prefix: string): Promise<FileStorageDriver> {
  const root = fileStorageRoot(prefix);
  try {
    await localFs.stat(root);
  } catch (error) {
    throw new WalgError(
      `create FS storage: FS storage root directory doesn't exist or is inaccessible: ${pathErrorText('stat', root, error)}`,
      1,
      { cause: error },
    );
  }
  return new FileStorageDriver(root);
}

export class FileStorageDriver implements StorageDriver {
  readonly kind = 'file';
  /** The root directory exactly as configured (relative roots stay relative to the working directory, as in WAL-G). */
  readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  /** The file behind a key. Like WAL-G (path.Join), '.', '..' and doubled slashes in keys are cleaned. */
  filePath(key: string): string {
    return join(this.root, key);
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ListEntry> {
    yield* this.listDirectory(prefix, options.recursive === true);
  }

  /** One directory in key order; recursion happens in place so the whole listing comes out in key order. */
  private async *listDirectory(prefix: string, recursive: boolean): AsyncGenerator<ListEntry> {
    const directory = this.filePath(prefix);
    const entries = await this.readDirectory(directory);
    for (const entry of entries) {
      const key = prefix + entry.name;
      if (entry.isFolder) {
        if (recursive) yield* this.listDirectory(`${key}/`, true);
        else yield { kind: 'folder', key: `${key}/` };
        continue;
      }
      const info = await objectStats(join(directory, entry.name));
      if (info === undefined) continue; // removed while we were listing
      yield { kind: 'object', key, size: Number(info.size), modified: millisecondDate(info.mtimeNs), modifiedNanoseconds: info.mtimeNs };
    }
  }

  /** Entry names with folder flags, sorted as S3 would list them ('a.txt' before 'a/b', since '.' < '/'). */
  private async readDirectory(directory: string): Promise<{ name: string; isFolder: boolean }[]> {
    let dirents;
    try {
      dirents = await nodeFsPromises().readdir(directory, { withFileTypes: true });
    } catch (error) {
      const code = errorCode(error);
      if (code === 'ENOENT' || code === 'ENOTDIR') return [];
      throw new WalgError(`unable to list FS folder ${goQuote(directory)}: ${pathErrorText('open', directory, error)}`, 1, {
        cause: error,
      });
    }
    const entries: { name: string; isFolder: boolean; sortKey: string }[] = [];
    for (const dirent of dirents) {
      if (isTemporaryName(dirent.name)) continue;
      // As in WAL-G only real directories are folders; a symbolic link is an object, so recursion cannot loop.
      const isFolder = dirent.isDirectory();
      entries.push({ name: dirent.name, isFolder, sortKey: isFolder ? `${dirent.name}/` : dirent.name });
    }
    entries.sort((a, b) => compareKeys(a.sortKey, b.sortKey));
    return entries;
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    const path = this.filePath(key);
    let info: BigIntStats;
    try {
      info = await localFs.stat(path, { bigint: true });
    } catch (error) {
      const code = errorCode(error);
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw new WalgError(`unable to get file stats ${key}: ${pathErrorText('stat', path, error)}`, 1, { cause: error });
    }
    if (info.isDirectory()) return undefined;
    return { kind: 'object', key, size: Number(info.size), modified: millisecondDate(info.mtimeNs), modifiedNanoseconds: info.mtimeNs };
  }

  async get(key: string, options?: GetOptions): Promise<Readable> {
    const { offset, length } = checkRange(key, options);
    const path = this.filePath(key);
    let handle: FileHandle;
    try {
      handle = await nodeFsPromises().open(path, 'r');
    } catch (error) {
      const code = errorCode(error);
      if (code === 'ENOENT' || code === 'ENOTDIR') throw new NotFoundError(key, path);
      throw new WalgError(`unable to read file ${path}: ${pathErrorText('open', path, error)}`, 1, { cause: error });
    }
    try {
      const info = await handle.stat();
      if (info.isDirectory()) throw new NotFoundError(key, path);
      if (length === 0 || offset >= info.size) {
        await handle.close();
        return Readable.from([], { objectMode: false });
      }
      return handle.createReadStream({
        start: offset,
        end: length === undefined ? undefined : offset + length - 1,
        highWaterMark: READ_CHUNK_SIZE,
      });
    } catch (error) {
      await handle.close().catch(() => {});
      throw error;
    }
  }

  async put(key: string, body: Readable, options: PutOptions = {}): Promise<void> {
    const path = this.filePath(key);
    const overwrite = options.overwrite ?? true;
    // Fail before reading a possibly huge body; the link() below still catches a racing writer.
    if (!overwrite && (await this.stat(key)) !== undefined) {
      body.destroy();
      throw new ObjectExistsError(key, path);
    }
    const directory = dirname(path);
    const temporaryPath = join(directory, temporaryNameFor(basename(path)));
    let handle: localFs.LocalFile | undefined;
    try {
      await this.createDirectory(directory, key);
      try {
        handle = await localFs.open(temporaryPath, 'wx', FILE_MODE);
      } catch (error) {
        throw this.writeError(path, 'open', temporaryPath, error);
      }
      await copyBodyInto(body, handle, (error) => this.writeError(path, 'write', temporaryPath, error));
      try {
        await handle.sync();
        await handle.close();
        handle = undefined;
      } catch (error) {
        throw this.writeError(path, 'sync', temporaryPath, error);
      }
      await this.publish(key, temporaryPath, path, overwrite);
    } catch (error) {
      body.destroy();
      if (handle !== undefined) await handle.close().catch(() => {});
      await localFs.unlink(temporaryPath).catch(() => {});
      throw error;
    }
    await syncDirectory(directory);
  }

  /** Moves the finished temporary file to its final name; link() refuses to replace, rename() replaces. */
  private async publish(key: string, temporaryPath: string, path: string, overwrite: boolean): Promise<void> {
    if (overwrite) {
      try {
        await localFs.rename(temporaryPath, path);
      } catch (error) {
        throw this.writeError(path, 'rename', path, error);
      }
      return;
    }
    try {
      await localFs.link(temporaryPath, path);
    } catch (error) {
      const code = errorCode(error);
      if (code === 'EEXIST') throw new ObjectExistsError(key, path);
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw this.writeError(path, 'link', path, error);
      // A filesystem without hard links: check, then rename. Only a racing writer can slip in between.
      if ((await this.stat(key)) !== undefined) throw new ObjectExistsError(key, path);
      try {
        await localFs.rename(temporaryPath, path);
      } catch (renameError) {
        throw this.writeError(path, 'rename', path, renameError);
      }
      return;
    }
    await localFs.unlink(temporaryPath).catch(() => {});
  }

  private async createDirectory(directory: string, key: string): Promise<void> {
    try {
      await localFs.mkdir(directory, { recursive: true, mode: DIRECTORY_MODE });
    } catch (error) {
      throw new WalgError(
        `unable to open file ${goQuote(this.filePath(key))}: unable to create a directory ${goQuote(directory)}: ` +
          pathErrorText('mkdir', directory, error),
        1,
        { cause: error },
      );
    }
  }

  private writeError(path: string, operation: string, subject: string, error: unknown): WalgError {
    return new WalgError(`unable to write file ${goQuote(path)}: ${pathErrorText(operation, subject, error)}`, 1, {
      cause: error,
    });
  }

  /** Removes the files; missing ones and directories are skipped and no empty directory is pruned (as WAL-G). */
  async deleteMany(keys: string[]): Promise<void> {
    let next = 0;
    let failure: unknown;
    const worker = async (): Promise<void> => {
      while (failure === undefined && next < keys.length) {
        const key = keys[next++];
        try {
          await nodeFsPromises().unlink(this.filePath(key));
        } catch (error) {
          const code = errorCode(error);
          // EISDIR/EPERM: the key names a directory, which is no object (S3 would not delete a prefix either).
          if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') continue;
          if (code === 'EPERM' && (await statOrUndefined(this.filePath(key)))?.isDirectory()) continue;
          failure ??= new WalgError(`unable to delete file ${goQuote(key)}: ${pathErrorText('remove', this.filePath(key), error)}`, 1, {
            cause: error,
          });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(DELETE_CONCURRENCY, keys.length) }, worker));
    if (failure !== undefined) throw failure;
  }

  /**
   * The hidden temporary files of unfinished puts under `prefix` (a folder path, '' for the root) last modified
   * before `before`, as keys relative to the root. A put in progress keeps writing its temporary file, so an old one
   * belongs to a process that died (kill -9, power loss): `delete garbage` removes them (sweepTemporaries).
   */
  async staleTemporaries(prefix: string, before: Date): Promise<string[]> {
    const found: string[] = [];
    const walk = async (relative: string): Promise<void> => {
      let dirents;
      try {
        dirents = await nodeFsPromises().readdir(relative === '' ? this.root : join(this.root, relative), { withFileTypes: true });
      } catch (error) {
        const code = errorCode(error);
        if (code === 'ENOENT' || code === 'ENOTDIR') return;
        throw error;
      }
      for (const dirent of dirents) {
        const key = relative === '' ? dirent.name : `${relative}/${dirent.name}`;
        if (dirent.isDirectory()) await walk(key);
        else if (isTemporaryName(dirent.name)) {
          const info = await statOrUndefined(join(this.root, key));
          if (info !== undefined && info.mtimeMs < before.getTime()) found.push(key);
        }
      }
    };
    await walk(prefix.replace(/\/+$/, ''));
    return found.sort();
  }

  /** Removes temporary files found by staleTemporaries (already gone is fine). */
  async sweepTemporaries(keys: readonly string[]): Promise<void> {
    for (const key of keys) {
      if (!isTemporaryName(basename(key))) throw new WalgError(`${key}: not a temporary file of an unfinished upload`);
      await nodeFsPromises().unlink(join(this.root, key)).catch((error: unknown) => {
        if (errorCode(error) !== 'ENOENT') throw error;
      });
    }
  }

  async copy(sourceKey: string, destinationKey: string): Promise<void> {
    const sourcePath = this.filePath(sourceKey);
    let handle: FileHandle;
    try {
      handle = await nodeFsPromises().open(sourcePath, 'r');
    } catch (error) {
      const code = errorCode(error);
      if (code === 'ENOENT' || code === 'ENOTDIR') throw new NotFoundError(sourceKey);
      throw new WalgError(`unable to open file to copy ${goQuote(sourceKey)}: ${pathErrorText('open', sourcePath, error)}`, 1, {
        cause: error,
      });
    }
    let info: Stats;
    try {
      info = await handle.stat();
    } catch (error) {
      await handle.close().catch(() => {});
      throw new WalgError(`unable to get file stats ${goQuote(sourceKey)}: ${errorMessage(error)}`, 1, { cause: error });
    }
    if (!info.isFile()) {
      await handle.close().catch(() => {});
      if (info.isDirectory()) throw new NotFoundError(sourceKey);
      throw new WalgError(`unable to copy file: ${sourceKey} is not a regular file`);
    }
    const source = handle.createReadStream({ highWaterMark: READ_CHUNK_SIZE });
    try {
      await this.put(destinationKey, source);
    } finally {
      source.destroy();
    }
  }

  async close(): Promise<void> {
    /* nothing is held open between calls */
  }
}

/**
 * Writes every chunk of body to the file, pulling the next chunk only after the previous one is on its way, so
 * memory stays at one chunk. A body error is rethrown untouched (it is the caller's error, e.g. a failed
 * compression); a file error goes through describeWriteError and stops the body.
 */
async function copyBodyInto(
  body: Readable,
  handle: localFs.LocalFile,
  describeWriteError: (error: unknown) => Error,
): Promise<void> {
  const chunks = body[Symbol.asyncIterator]();
  for (;;) {
    const step = await chunks.next();
    if (step.done) return;
    const chunk: Uint8Array = typeof step.value === 'string' ? Buffer.from(step.value) : step.value;
    try {
      let written = 0;
      while (written < chunk.byteLength) {
        const result = await handle.write(chunk, written, chunk.byteLength - written);
        written += result.bytesWritten;
      }
    } catch (error) {
      await chunks.return?.();
      throw describeWriteError(error);
    }
    // This loop is the chunk's last reader: a stage output lent by a recycling pool can be reused now.
    giveBack(chunk);
  }
}

/** Makes a rename durable. Some filesystems cannot fsync a directory (EINVAL); the data itself is synced already. */
async function syncDirectory(directory: string): Promise<void> {
  let handle: localFs.LocalFile | undefined;
  try {
    handle = await localFs.open(directory, 'r');
    await handle.sync();
  } catch (error) {
    const code = errorCode(error);
    if (code !== 'EINVAL' && code !== 'ENOTSUP' && code !== 'EISDIR') {
      log.debug(`file storage: cannot sync directory ${directory}: ${errorMessage(error)}`);
    }
  } finally {
    await handle?.close().catch(() => {});
  }
}

/** The Date Node's regular stats would give for a nanosecond time (rounded to the nearest millisecond). */
function millisecondDate(nanoseconds: bigint): Date {
  return new Date(Math.round(Number(nanoseconds / 1000n) / 1000));
}

/**
 * A listed file's size and time (bigint stats: nanosecond mtimes, which backup-list shows and LATEST compares): a
 * symbolic link reports its target, or itself when the target is no file.
 */
async function objectStats(path: string): Promise<BigIntStats | undefined> {
  try {
    const target = await nodeFsPromises().stat(path, { bigint: true });
    if (!target.isDirectory()) return target;
  } catch {
    // a dangling link: fall back to the link itself
  }
  try {
    return await nodeFsPromises().lstat(path, { bigint: true });
  } catch {
    return undefined;
  }
}

async function statOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await nodeFsPromises().stat(path);
  } catch {
    return undefined;
  }
}
