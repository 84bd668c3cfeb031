// Reads a local file into pooled chunks: the source of push pipelines (a WAL segment, a file going into a tar).

import { open, type LocalFile } from '../storage/local-fs.ts';
import { Readable } from 'node:stream';
import { ChunkPool, releaseChunk } from './chunk-pool.ts';
import { DEFAULT_CHUNK_SIZE, DEFAULT_POOL_CHUNKS } from './memory-budget.ts';

export interface PooledFileReaderOptions {
  /**
   * Pool to read into; by default a private pool of DEFAULT_POOL_CHUNKS × chunkSize. A pool shared by
   * several readers (the files of one tar) loses the chunks in flight when a pipeline fails, so share
   * one only within an operation that fails as a whole.
   */
  readonly pool?: ChunkPool;
  readonly chunkSize?: number;
  /** Read from this byte offset (default 0). */
  readonly start?: number;
  /** Stop after this many bytes (default: to the end of the file). */
  readonly length?: number;
}

/**
 * A Readable whose chunks are views of pooled buffers. It reads the next chunk only once the pool has a
 * free buffer, i.e. once a later stage has consumed an earlier chunk and released it (releaseChunk), so
 * at most pool.chunkCount chunks are in flight. Run it through pushPipeline, which makes sure some stage
 * releases them.
 */
export class PooledFileReader extends Readable {
  readonly path: string;
  readonly pool: ChunkPool;
  /** Bytes read so far. */
  bytesRead = 0;
  #handle: LocalFile | undefined;
  readonly #ownsPool: boolean;
  #position: number;
  #remaining: number;

  constructor(path: string, options: PooledFileReaderOptions = {}) {
    const chunkSize = options.pool?.chunkSize ?? options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    // The pool is the buffer; the Readable's own queue holds one chunk so the next stage never waits on a read.
    super({ highWaterMark: chunkSize });
    this.path = path;
    this.pool = options.pool ?? new ChunkPool(DEFAULT_POOL_CHUNKS, chunkSize);
    this.#ownsPool = options.pool === undefined;
    this.#position = options.start ?? 0;
    this.#remaining = options.length ?? Number.POSITIVE_INFINITY;
  }

  override _construct(callback: (error?: Error | null) => void): void {
    open(this.path, 'r').then(
      (handle) => {
        this.#handle = handle;
        callback();
      },
      (error: Error) => callback(error),
    );
  }

  override _read(): void {
    this.#readOne().catch((error: Error) => this.destroy(error));
  }

  async #readOne(): Promise<void> {
    if (this.#remaining <= 0) {
      this.push(null);
      return;
    }
    const chunk = await this.pool.acquire();
    if (this.destroyed) {
      releaseChunk(chunk);
      return;
    }
    const wanted = Math.min(chunk.length, this.#remaining);
    let bytesRead: number;
    try {
      ({ bytesRead } = await (this.#handle as LocalFile).read(chunk, 0, wanted, this.#position));
    } catch (error) {
      releaseChunk(chunk);
      throw error;
    }
    if (bytesRead === 0) {
      releaseChunk(chunk);
      this.push(null);
      return;
    }
    this.#position += bytesRead;
    this.#remaining -= bytesRead;
    this.bytesRead += bytesRead;
    this.push(bytesRead === chunk.length ? chunk : chunk.subarray(0, bytesRead));
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.#ownsPool) {
      this.pool.close(error ?? new Error(`reading ${this.path} stopped`));
      this.pool.retire();
    }
    const handle = this.#handle;
    this.#handle = undefined;
    if (handle === undefined) {
      callback(error);
      return;
    }
    handle.close().then(
      () => callback(error),
      () => callback(error),
    );
  }
}
