// One tar object of a backup (`part_003.tar.lz4`, `pg_control.tar.lz4`, ...): tar bytes written into it flow at
// once through compress → encrypt → count into a storage put, so nothing larger than the pipeline's chunks is held.

import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import type { Codec } from '../compression/codec.ts';
import type { Crypter } from '../crypto/crypter.ts';
import { errorMessage, WalgError } from '../errors.ts';
import { log } from '../log/logger.ts';
import type { Folder } from '../storage/driver.ts';
import { ChunkPool } from '../stream/chunk-pool.ts';
import { CountingFilter, type Filter } from '../stream/filter.ts';
import { DEFAULT_CHUNK_SIZE } from '../stream/memory-budget.ts';
import { pushPipeline } from '../stream/pipeline.ts';
import { encodeTarHeader, TAR_END_OF_ARCHIVE, tarPaddingLength, type TarHeaderFields } from './tar-header.ts';

/** Where tar objects go and how they are encoded. */
export interface TarUploadTarget {
  /** `basebackups_005/<backup>/tar_partitions/`. */
  readonly folder: Folder;
  readonly codec: Codec;
  readonly crypter?: Crypter;
  /** The pool file chunks are read into; the pipeline gives them back as it consumes them. */
  readonly pool: ChunkPool;
}

/** `part_001.tar.lz4`: three-digit zero-padded part numbers, longer past 999. */
export function partitionName(partNumber: number, extension: string): string {
  return `part_${String(partNumber).padStart(3, '0')}.tar.${extension}`;
}

/**
 * A tar being written and uploaded. Writes wait while the pipeline is full; a failed upload fails the next write
 * (and awaitUpload). Nothing is stored under the name unless the whole object was (the storage driver's contract).
 */
export class TarPartition {
  readonly partNumber: number;
  readonly #target: TarUploadTarget;
  #name: string | undefined;
  #input: PassThrough | undefined;
  #upload: Promise<void> | undefined;
  #counter: CountingFilter | undefined;
  /** Bytes stored, fixed once the upload is done and the pipeline let go. */
  #storedBytes = 0;
  #failure: Error | undefined;
  /** Aborted with the failure: wakes writes waiting for the pipeline to drain. */
  readonly #failedSignal = new AbortController();
  #closed = false;
  readonly #quiet: boolean;
  /** WAL-G's tarball size: the sum of header Size of the members written (no headers, no padding). */
  size = 0;

  /** `quiet`: no "Starting part" / "Finished writing part" lines (streamed backups upload parts silently). */
  constructor(partNumber: number, target: TarUploadTarget, options: { readonly quiet?: boolean } = {}) {
    this.partNumber = partNumber;
    this.#target = target;
    this.#quiet = options.quiet ?? false;
  }

  /** Whether set up (something was or is being written): unused tarballs are dropped without an object. */
  get started(): boolean {
    return this.#name !== undefined;
  }

  get name(): string {
    if (this.#name === undefined) throw new Error(`tar part ${this.partNumber} is not set up`);
    return this.#name;
  }

  /** Bytes sent to storage so far (compressed and encrypted). */
  get storedBytes(): number {
    return this.#counter?.bytes ?? this.#storedBytes;
  }

  /** WAL-G's SetUp: names the object (part_NNN by default) and starts its upload; once only. */
  setUp(name?: string): void {
    if (this.#name !== undefined) return;
    this.#name = name ?? partitionName(this.partNumber, this.#target.codec.extension);
    if (!this.#quiet) log.info(`Starting part ${this.partNumber} ...`);
    const input = new PassThrough({ highWaterMark: DEFAULT_CHUNK_SIZE });
    // pushPipeline finds the pool here and copies pooled chunks before any stage that might keep them.
    Object.assign(input, { pool: this.#target.pool });
    input.on('error', () => undefined);
    this.#input = input;
    const counter = new CountingFilter();
    this.#counter = counter;
    const filters: Filter[] = [() => this.#target.codec.compressor()];
    if (this.#target.crypter !== undefined) filters.push(() => this.#target.crypter!.encrypter());
    filters.push(() => counter);
    const tail = new PassThrough({ highWaterMark: DEFAULT_CHUNK_SIZE });
    const key = this.#name;
    const flowing = pushPipeline(input, filters, tail);
    this.#upload = Promise.all([this.#target.folder.put(key, tail, { overwrite: true }), flowing]).then(
      () => {
        // The composer keeps every partition until the end: let go of the pipeline (the codec's block buffer is
        // 4 MiB) so that a finished part holds nothing but its numbers.
        this.#storedBytes = counter.bytes;
        this.#counter = undefined;
        this.#input = undefined;
      },
      (error: unknown) => {
        tail.destroy();
        input.destroy();
        const failure = new WalgError(`upload: could not upload '${key}': ${errorMessage(error)}`, 1, { cause: error });
        this.#failure ??= failure;
        this.#failedSignal.abort(this.#failure);
        throw failure;
      },
    );
    // Handled where awaited; this keeps an early failure from being reported as unhandled.
    this.#upload.catch(() => undefined);
  }

  /** Writes bytes (a header, file data, padding); waits while the pipeline is full. */
  async write(chunk: Buffer): Promise<void> {
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#closed) throw new Error(`tar part ${this.partNumber} is already closed`);
    const input = this.#input;
    if (input === undefined) throw new Error(`tar part ${this.partNumber} is not set up`);
    if (input.write(chunk)) return;
    // Not a race against a never-settling promise: each such race left a reaction behind, and with it this part's
    // whole pipeline (measured: 4 MiB more peak per finished part).
    try {
      await once(input, 'drain', { signal: this.#failedSignal.signal });
    } catch (error) {
      throw this.#failure ?? error;
    }
  }

  /** A member header as Go's tar writer encodes it. */
  writeHeader(fields: TarHeaderFields): Promise<void> {
    return this.write(encodeTarHeader(fields));
  }

  /** Zeros up to the next 512-byte boundary after a body of `bodyLength` bytes. */
  async writePadding(bodyLength: number): Promise<void> {
    const padding = tarPaddingLength(bodyLength);
    if (padding > 0) await this.write(Buffer.alloc(padding));
  }

  /** A whole small member: header, body, padding; counted in the size. */
  async writeMember(fields: TarHeaderFields, body: Buffer): Promise<void> {
    await this.writeHeader(fields);
    if (body.length > 0) await this.write(body);
    await this.writePadding(body.length);
    this.size += fields.size;
  }

  /**
   * WAL-G's CloseTar: the end-of-archive blocks, then the end of the stream; the upload may still be running.
   * Streamed backups end some objects without the blocks, as WAL-G's stream splitter does (`endOfArchive: false`).
   */
  async close(options: { readonly endOfArchive?: boolean } = {}): Promise<void> {
    if (this.#closed || this.#input === undefined) return;
    if (options.endOfArchive !== false) await this.write(TAR_END_OF_ARCHIVE);
    this.#closed = true;
    this.#input.end();
    if (!this.#quiet) log.info(`Finished writing part ${this.partNumber}.`);
  }

  /** Resolves once the object is stored; rejects with the upload's error. */
  async awaitUpload(): Promise<void> {
    if (this.#upload === undefined) return;
    await this.#upload;
  }

  /** Stops a partition after a failure elsewhere: its upload fails and leaves no object. */
  abort(reason: Error): void {
    this.#failure ??= reason;
    this.#failedSignal.abort(this.#failure);
    this.#input?.destroy(reason);
  }
}
