// Moves one object between a local file or stream and storage through the chunk pipeline:
// push is source → compress → encrypt → storage, fetch is storage → decrypt → decompress → file.

import { constants as fsConstants } from 'node:fs';
import { nodeFsPromises } from '../native/lazy-builtins.ts';
import type { FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { PassThrough, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { once } from 'node:events';
import type { Codec, DecompressionFormat } from '../compression/codec.ts';
import { codecForExtension } from '../compression/registry.ts';
import { readCachedExtension, walExtensionProbeOrder, writeCachedExtension } from '../compression/decompressor-cache.ts';
import type { Crypter } from '../crypto/crypter.ts';
import { NotFoundError, type Folder } from '../storage/driver.ts';
import { PooledFileReader } from '../stream/file-source.ts';
import type { Filter } from '../stream/filter.ts';
import { pushPipeline, fetchPipeline } from '../stream/pipeline.ts';
import { WalgError, errorMessage } from '../errors.ts';
import { temporaryNameHex } from '../storage/temporary-name.ts';
import { giveBack } from '../stream/recycling-pool.ts';

export interface EncodeOptions {
  /** undefined = store uncompressed (st put --no-compress). */
  readonly codec?: Codec;
  readonly crypter?: Crypter;
}

export interface DecodeOptions {
  /** undefined = return the stored bytes undecompressed. */
  readonly format?: DecompressionFormat;
  readonly crypter?: Crypter;
}

/** The stored name of an object compressed with codec: `name.ext`, or `name.` for `none` (as WAL-G names it). */
export function storedName(name: string, codec: Codec | undefined): string {
  return codec ? `${name}.${codec.extension}` : name;
}

function encodeFilters(options: EncodeOptions): Filter[] {
  const filters: Filter[] = [];
  if (options.codec) filters.push(() => options.codec!.compressor());
  if (options.crypter) filters.push(() => options.crypter!.encrypter());
  return filters;
}

function decodeFilters(options: DecodeOptions): Filter[] {
  const filters: Filter[] = [];
  if (options.crypter) filters.push(() => options.crypter!.decrypter());
  if (options.format) filters.push(() => options.format!.decompressor());
  return filters;
}

/** Prefixes an error with the object it concerns, keeping the exit code of a WalgError. */
export function objectError(objectPath: string, error: unknown): WalgError {
  if (error instanceof NotFoundError) return error;
  const exitCode = error instanceof WalgError ? error.exitCode : 1;
  return new WalgError(`${objectPath}: ${errorMessage(error)}`, exitCode, { cause: error });
}

/**
 * Uploads a readable through the encode filters to `key`. The storage driver makes the object visible only
 * once every byte is stored, so a failure anywhere leaves no object behind under that name.
 */
export async function uploadStream(
  folder: Folder,
  key: string,
  source: Readable,
  options: EncodeOptions & { overwrite?: boolean; sizeHint?: number; signal?: AbortSignal } = {},
): Promise<void> {
  const tail = new PassThrough({ highWaterMark: 1024 * 1024 });
  // Aborting fails the pipeline, which destroys the tail, which fails the put: nothing is stored.
  const flowing = pushPipeline(source, encodeFilters(options), tail, { signal: options.signal });
  try {
    await Promise.all([folder.put(key, tail, { overwrite: options.overwrite ?? true, sizeHint: options.sizeHint }), flowing]);
  } catch (error) {
    tail.destroy();
    throw objectError(key, error);
  }
}

/** Uploads a local file; a missing or unreadable file is named in the error. */
export async function uploadFile(folder: Folder, key: string, localPath: string, options: EncodeOptions & { overwrite?: boolean } = {}): Promise<void> {
  try {
    await nodeFsPromises().access(localPath, fsConstants.R_OK);
  } catch (error) {
    throw new WalgError(`upload: could not open '${localPath}': ${errorMessage(error)}`);
  }
  await uploadStream(folder, key, new PooledFileReader(localPath), options);
}

/** Opens a stored object and returns its decoded bytes as a stream (decrypt, then decompress). */
export async function openDecoded(folder: Folder, key: string, options: DecodeOptions): Promise<Readable> {
  const raw = await folder.get(key);
  const filters = decodeFilters(options);
  if (!filters.length) return raw;
  const out = new PassThrough({ highWaterMark: 1024 * 1024 });
  fetchPipeline(raw, filters, out).catch((error) => out.destroy(objectError(key, error)));
  return out;
}

/**
 * Appends every chunk of `decoded` to `handle` and gives each back once written: a decoder's pooled slices are
 * refilled instead of faulted in afresh (fs.createWriteStream never gives a chunk back; for a 16 MiB WAL segment
 * that was ~4000 page faults, docs/PERFORMANCE.md session 5). The decoder keeps decoding ahead while a write runs.
 * Destroys `decoded` when a write fails.
 */
export async function writeChunksToFile(decoded: Readable, handle: FileHandle): Promise<void> {
  try {
    for await (const chunk of decoded as AsyncIterable<Buffer>) {
      let written = 0;
      while (written < chunk.length) written += (await handle.write(chunk, written, chunk.length - written, null)).bytesWritten;
      giveBack(chunk);
    }
  } catch (error) {
    decoded.destroy();
    throw error;
  }
}

/**
 * Downloads `key`, decoded, into `destination`: written to a temporary name beside it, fsynced, then renamed,
 * so a failure (bad key, truncated object, full disk) never leaves a partial file under the destination name.
 * With exclusive, an existing destination is an error (WAL-G opens it with O_EXCL).
 */
export async function downloadToFile(folder: Folder, key: string, destination: string, options: DecodeOptions & { exclusive?: boolean; fsync?: boolean } = {}): Promise<void> {
  if (options.exclusive) {
    // Fail early, before any download, like WAL-G's O_EXCL open.
    try {
      const existing = await nodeFsPromises().open(destination, fsConstants.O_RDONLY);
      await existing.close();
      throw new WalgError(`open ${destination}: file exists`);
    } catch (error) {
      if (error instanceof WalgError) throw error;
    }
  }
  const temporary = join(dirname(destination), `.${basename(destination)}.walnut-${temporaryNameHex(12)}`);
  let handle;
  try {
    handle = await nodeFsPromises().open(temporary, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o640);
  } catch (error) {
    throw new WalgError(`cannot write ${destination}: ${errorMessage(error)}`);
  }
  try {
    await writeChunksToFile(await openDecoded(folder, key, options), handle);
    if (options.fsync !== false) await handle.sync();
    await handle.close();
    handle = undefined;
    await nodeFsPromises().rename(temporary, destination);
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await nodeFsPromises().unlink(temporary).catch(() => undefined);
    throw objectError(key, error);
  }
}

/** Streams the decoded object into any writable (st cat → stdout). */
export async function downloadToStream(folder: Folder, key: string, sink: Writable, options: DecodeOptions): Promise<void> {
  try {
    const raw = await folder.get(key);
    const stages = decodeFilters(options).map((make) => make());
    // The sink (stdout) stays open: several objects may be written to it one after another. events.once
    // rejects when the sink fails (EPIPE) while we wait for it to drain.
    const writeToSink = async (source: AsyncIterable<Buffer>): Promise<void> => {
      for await (const chunk of source) {
        if (!sink.write(chunk)) await once(sink, 'drain');
      }
    };
    await pipeline([raw, ...stages, writeToSink] as unknown as [Readable, Writable]);
  } catch (error) {
    throw objectError(key, error);
  }
}

export interface FoundObject {
  /** The stored key, e.g. `wal_005/000000010000000000000001.lz4`. */
  readonly key: string;
  /** How to decompress it; undefined for a bare name (stored raw). */
  readonly format: DecompressionFormat | undefined;
  readonly extension: string | undefined;
}

/**
 * Finds an object stored under a base name with any known compression extension, in WAL-G's probing order
 * (the extension that worked last time first, then lz4, lzma, gz, '', br, lzo, zst), and finally the bare name.
 */
export async function findByBaseName(folder: Folder, baseKey: string, useCache = true): Promise<FoundObject | undefined> {
  const cached = useCache ? readCachedExtension() : undefined;
  for (const extension of walExtensionProbeOrder(cached)) {
    const key = `${baseKey}.${extension}`;
    if (await folder.exists(key)) {
      if (useCache && extension !== cached) writeCachedExtension(extension);
      return { key, format: codecForExtension(extension), extension };
    }
  }
  if (await folder.exists(baseKey)) return { key: baseKey, format: undefined, extension: undefined };
  return undefined;
}
