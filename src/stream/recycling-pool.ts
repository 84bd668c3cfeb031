// Output buffers a stage takes and the last consumer may give back: reused instead of faulted in afresh.

import { allocateLongLivedBuffer } from './long-lived-buffers.ts';

/** Which pool lent a buffer, how many bytes of it, and, once a splitter cut it up, how many still hold parts of it. */
interface Lending {
  readonly pool: RecyclingPool;
  readonly length: number;
  /** Undefined while the chunk travels whole; else the splitter's own hold plus one per part not yet given back. */
  holders?: number;
}

/** Lendings by ArrayBuffer; present only while the buffer is lent out. */
const lentBy = new WeakMap<ArrayBufferLike, Lending>();
/** The parts a ChunkSplitter handed out and not yet given back, each with the lending it holds. */
const partOf = new WeakMap<Uint8Array, Lending>();

/**
 * Equal-sized buffers for a stage's outputs (an LZ4 encoder's compressed blocks). take() lends one, allocating when
 * none is free, so a consumer that never gives buffers back costs exactly what a fresh allocation per output
 * would: nothing waits on this pool. A consumer that is the last holder of a chunk once it has used it (the file
 * storage writer, after the bytes are written) calls giveBack(), and the next take() reuses the buffer: no 4 KiB
 * page faults per block (docs/PERFORMANCE.md, session 4). At most `keep` free buffers are kept.
 */
export class RecyclingPool {
  readonly bufferSize: number;
  readonly #keep: number;
  readonly #free: Buffer[] = [];

  constructor(bufferSize: number, keep: number) {
    this.bufferSize = bufferSize;
    this.#keep = keep;
  }

  /** A buffer of exactly `length` bytes: a view of a pooled buffer when it fits, else a fresh one (not pooled). */
  take(length: number): { buffer: Buffer; fresh: boolean } {
    if (length > this.bufferSize) return { buffer: Buffer.allocUnsafeSlow(length), fresh: true };
    const reused = this.#free.pop();
    const whole = reused ?? allocateLongLivedBuffer(this.bufferSize);
    lentBy.set(whole.buffer, { pool: this, length });
    return { buffer: whole.subarray(0, length), fresh: reused === undefined };
  }

  /** Buffers kept for reuse right now. */
  get free(): number {
    return this.#free.length;
  }

  keep(arrayBuffer: ArrayBufferLike): void {
    if (this.#free.length < this.#keep) this.#free.push(Buffer.from(arrayBuffer as ArrayBuffer));
  }
}

function returnToPool(arrayBuffer: ArrayBufferLike, lending: Lending): void {
  if (lentBy.get(arrayBuffer) !== lending) return;
  lentBy.delete(arrayBuffer);
  lending.pool.keep(arrayBuffer);
}

/** The lending of `chunk` when it is a whole lent chunk, as take() returned it. */
function wholeLending(chunk: Uint8Array): Lending | undefined {
  const lending = lentBy.get(chunk.buffer);
  if (lending === undefined || chunk.byteOffset !== 0 || chunk.byteLength !== lending.length) return undefined;
  return lending;
}

/**
 * The first `length` bytes of a whole lent chunk, lent in its place: a stage that filled less of a buffer than it
 * took (an LZ4 block compressed straight into its output buffer) hands on exactly its bytes, and giveBack() of that
 * view returns the buffer. Any other chunk is just cut.
 */
export function shortenLent(chunk: Buffer, length: number): Buffer {
  const lending = wholeLending(chunk);
  const view = chunk.subarray(0, length);
  if (lending !== undefined && lending.holders === undefined && length <= lending.length) {
    lentBy.set(chunk.buffer, { pool: lending.pool, length });
  }
  return view;
}

/**
 * Gives a chunk back to the pool that lent it: a whole lent chunk that was never cut up, or a part a ChunkSplitter
 * handed out (the buffer goes back once the splitter and every part are done with it). Does nothing for any other
 * chunk, for one given back already, or for a piece some stream cut off a lent chunk on its own (it may still hold
 * the rest). Call it only where nothing else can still read the chunk: the pool will overwrite it.
 */
export function giveBack(chunk: Uint8Array): void {
  const share = partOf.get(chunk);
  if (share !== undefined) {
    partOf.delete(chunk);
    if (--share.holders! === 0) returnToPool(chunk.buffer, share);
    return;
  }
  const lending = wholeLending(chunk);
  if (lending === undefined || lending.holders !== undefined) return;
  returnToPool(chunk.buffer, lending);
}

/**
 * Cuts lent chunks into parts for different consumers (a tar reader handing each member the bytes of its body) so
 * the chunk can still go back to its pool: each part is given back on its own by whoever consumed it (giveBack),
 * and the splitter holds the chunk itself until release(). A chunk not lent by a pool is cut up all the same; its
 * parts are ordinary views and giveBack ignores them. One current chunk per splitter.
 */
export class ChunkSplitter {
  #chunk: Uint8Array | undefined;
  #lending: Lending | undefined;

  /** `chunk[start, end)`, counted against the chunk's lending. */
  part(chunk: Buffer, start: number, end: number): Buffer {
    if (chunk !== this.#chunk) {
      this.release();
      this.#chunk = chunk;
      const lending = wholeLending(chunk);
      if (lending !== undefined && lending.holders === undefined) {
        lending.holders = 1;
        this.#lending = lending;
      }
    }
    const part = chunk.subarray(start, end);
    if (this.#lending !== undefined) {
      this.#lending.holders!++;
      partOf.set(part, this.#lending);
    }
    return part;
  }

  /** The splitter will cut no more parts from its current chunk. */
  release(): void {
    const lending = this.#lending;
    const chunk = this.#chunk;
    this.#lending = undefined;
    this.#chunk = undefined;
    if (lending !== undefined && chunk !== undefined && --lending.holders! === 0) returnToPool(chunk.buffer, lending);
  }
}
