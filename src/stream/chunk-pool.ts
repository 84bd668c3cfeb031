// A fixed set of equal-sized buffers that readers fill and later stages hand back: the pipeline's memory bound.

import { allocateLongLivedBuffers } from './long-lived-buffers.ts';

/**
 * How a stage treats the chunks written to it, stored on the stream under CHUNK_HANDLING:
 * - 'releases': it is done with a chunk once it has consumed it and gives pooled chunks back (codecs);
 * - 'forwards': it passes the very same buffer on unchanged (counters, the `none` codec).
 * A stage without the mark may keep a written buffer, so a pooled chunk must be copied before it.
 */
export type ChunkHandling = 'releases' | 'forwards';
export const CHUNK_HANDLING: unique symbol = Symbol('walnut.chunkHandling');

export interface ChunkHandlingMarked {
  [CHUNK_HANDLING]?: ChunkHandling;
}

export function chunkHandlingOf(stream: object): ChunkHandling | undefined {
  return (stream as ChunkHandlingMarked)[CHUNK_HANDLING];
}

export function markChunkHandling<T extends object>(stream: T, handling: ChunkHandling): T {
  (stream as ChunkHandlingMarked)[CHUNK_HANDLING] = handling;
  return stream;
}

// Each pooled chunk owns its ArrayBuffer, so any view of it (a subarray pushed by a reader) finds its pool.
const poolOfBuffer = new WeakMap<ArrayBufferLike, ChunkPool>();

/**
 * Gives a pooled chunk (or any view into one) back to its pool; does nothing for other buffers.
 * Returns true when the chunk was pooled.
 */
export function releaseChunk(chunk: Uint8Array): boolean {
  const pool = poolOfBuffer.get(chunk.buffer);
  if (pool === undefined) return false;
  pool.release(chunk);
  return true;
}

/** True when the buffer (or a view of it) belongs to a ChunkPool. */
export function isPooledChunk(chunk: Uint8Array): boolean {
  return poolOfBuffer.has(chunk.buffer);
}

/**
 * Chunk sets of retired pools whose chunks all came back, by shape, for the next pool of that shape. A daemon reads
 * every segment into a pool of its own; without reuse each one left its mapping to the collector, and several were
 * alive at once (docs/PERFORMANCE.md, session 6). One set per shape is kept.
 */
const spareChunkSets = new Map<string, Buffer[]>();

function shapeKey(chunkCount: number, chunkSize: number): string {
  return `${chunkCount}x${chunkSize}`;
}

/**
 * chunkCount buffers of chunkSize bytes, allocated up front (or taken over from a retired pool of the same shape). acquire() waits while all are out, which is
 * the backpressure that keeps a reader from running ahead of the stages that consume its chunks.
 */
export class ChunkPool {
  readonly chunkCount: number;
  readonly chunkSize: number;
  readonly #free: Buffer[] = [];
  readonly #lent = new Set<ArrayBufferLike>();
  readonly #chunkOf = new Map<ArrayBufferLike, Buffer>();
  readonly #waiters: Array<{ resolve: (chunk: Buffer) => void; reject: (error: Error) => void }> = [];
  #closedWith: Error | undefined;
  #retired = false;

  constructor(chunkCount: number, chunkSize: number) {
    if (!Number.isInteger(chunkCount) || chunkCount < 1) throw new RangeError(`chunk count must be a positive integer, got ${chunkCount}`);
    if (!Number.isInteger(chunkSize) || chunkSize < 1) throw new RangeError(`chunk size must be a positive integer, got ${chunkSize}`);
    this.chunkCount = chunkCount;
    this.chunkSize = chunkSize;
    // Each chunk has its own ArrayBuffer (never a slice of Node's shared pool), so release can find it.
    const key = shapeKey(chunkCount, chunkSize);
    const spare = spareChunkSets.get(key);
    spareChunkSets.delete(key);
    for (const chunk of spare ?? allocateLongLivedBuffers(chunkCount, chunkSize)) {
      poolOfBuffer.set(chunk.buffer, this);
      this.#chunkOf.set(chunk.buffer, chunk);
      this.#free.push(chunk);
    }
  }

  /** Chunks not lent out right now. */
  get available(): number {
    return this.#free.length;
  }

  /** The bytes this pool holds, lent or not. */
  get totalBytes(): number {
    return this.chunkCount * this.chunkSize;
  }

  /** A free chunk, or undefined when all are lent. */
  tryAcquire(): Buffer | undefined {
    if (this.#closedWith) throw this.#closedWith;
    const chunk = this.#free.pop();
    if (chunk !== undefined) this.#lent.add(chunk.buffer);
    return chunk;
  }

  /** A free chunk; waits (in request order) until one is released. Rejects once the pool is closed. */
  acquire(): Promise<Buffer> {
    if (this.#closedWith) return Promise.reject(this.#closedWith);
    const chunk = this.tryAcquire();
    if (chunk !== undefined) return Promise.resolve(chunk);
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** Takes a chunk (or a view of one) back. Releasing a chunk that is not lent is a bug and throws. */
  release(chunk: Uint8Array): void {
    const whole = this.#chunkOf.get(chunk.buffer);
    if (whole === undefined) throw new Error('released a buffer that does not belong to this chunk pool');
    if (!this.#lent.delete(chunk.buffer)) throw new Error('released a pooled chunk twice');
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) {
      this.#lent.add(whole.buffer);
      waiter.resolve(whole);
    } else {
      this.#free.push(whole);
      if (this.#retired) this.#handOverIfIdle();
    }
  }

  /**
   * The owner is done with the pool: it lends nothing more, and once every chunk is back (now or at the last
   * release) its chunks become the spare set the next pool of this shape starts with. A chunk never given back (a
   * failed pipeline's) keeps the set out of reuse; the collector frees it as before.
   */
  retire(): void {
    if (this.#retired) return;
    this.#retired = true;
    this.#closedWith ??= new Error('chunk pool retired');
    for (const waiter of this.#waiters.splice(0)) waiter.reject(this.#closedWith);
    this.#handOverIfIdle();
  }

  #handOverIfIdle(): void {
    if (this.#lent.size > 0 || this.#free.length !== this.chunkCount) return;
    const chunks = this.#free.splice(0);
    for (const chunk of chunks) {
      poolOfBuffer.delete(chunk.buffer);
      this.#chunkOf.delete(chunk.buffer);
    }
    spareChunkSets.set(shapeKey(this.chunkCount, this.chunkSize), chunks);
  }

  /** Fails every waiting and future acquire(); used when the pipeline that owns the pool fails. */
  close(reason: Error = new Error('chunk pool closed')): void {
    this.#closedWith = reason;
    for (const waiter of this.#waiters.splice(0)) waiter.reject(reason);
  }
}
