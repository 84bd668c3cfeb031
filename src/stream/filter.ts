// The filter shape every byte transformation plugs in as, and the two generic filters: counting and copying.

import { Transform, type Duplex, type TransformCallback } from 'node:stream';
import { CHUNK_HANDLING, type ChunkHandling, isPooledChunk, releaseChunk } from './chunk-pool.ts';
import { DEFAULT_CHUNK_SIZE, stageStreamOptions } from './memory-budget.ts';
import { noteBufferOutput } from './buffer-garbage.ts';

/**
 * A byte filter (compress, decompress, encrypt, decrypt, count, rate-limit): a factory that returns a fresh
 * single-use stream per pipeline. Streams written here should mark how they treat written chunks
 * (markChunkHandling), so pooled chunks are copied only where needed.
 */
export type Filter = () => Duplex;

/** What a CountingFilter saw: bytes, chunks, and when the first and last bytes passed. */
export interface ByteCount {
  readonly bytes: number;
  readonly chunks: number;
  /** performance.now() of the first chunk, or undefined before any. */
  readonly firstChunkAt: number | undefined;
  /** performance.now() when the stream ended, or undefined before. */
  readonly endedAt: number | undefined;
}

/**
 * Passes chunks on unchanged while counting them: the compressed size sent to storage, the bytes of a
 * WAL file read, throughput for logs. `onChunk` (optional) sees each chunk's size, e.g. for progress.
 */
export class CountingFilter extends Transform implements ByteCount {
  readonly [CHUNK_HANDLING]: ChunkHandling = 'forwards';
  bytes = 0;
  chunks = 0;
  firstChunkAt: number | undefined;
  endedAt: number | undefined;
  readonly #onChunk: ((size: number) => void) | undefined;

  constructor(onChunk?: (size: number) => void, chunkSize: number = DEFAULT_CHUNK_SIZE) {
    super(stageStreamOptions(chunkSize));
    this.#onChunk = onChunk;
  }

  /** Milliseconds from the first chunk to the end (or to now while still running); 0 before any chunk. */
  get elapsedMs(): number {
    if (this.firstChunkAt === undefined) return 0;
    return (this.endedAt ?? performance.now()) - this.firstChunkAt;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.firstChunkAt === undefined) this.firstChunkAt = performance.now();
    this.bytes += chunk.length;
    this.chunks++;
    this.#onChunk?.(chunk.length);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.endedAt = performance.now();
    if (this.firstChunkAt === undefined) this.firstChunkAt = this.endedAt;
    callback();
  }
}

/**
 * Copies each chunk into a buffer of its own and gives pooled chunks back. pushPipeline puts it in front
 * of a stage that might keep written buffers (a storage SDK, a web-stream bridge), so a pooled chunk is
 * never refilled while someone still holds it. The copy is one memcpy per chunk (~0.1 ms per MiB).
 */
export class CopyFilter extends Transform {
  readonly [CHUNK_HANDLING]: ChunkHandling = 'releases';

  constructor(chunkSize: number = DEFAULT_CHUNK_SIZE) {
    super(stageStreamOptions(chunkSize));
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (!isPooledChunk(chunk)) {
      callback(null, chunk); // not pooled: nobody will refill it, so it can travel on as it is
      return;
    }
    const copy = Buffer.allocUnsafe(chunk.length);
    chunk.copy(copy);
    releaseChunk(chunk);
    noteBufferOutput(copy.length);
    callback(null, copy);
  }
}
