// Output buffers a stage takes and the last consumer may give back: reused instead of faulted in afresh.

import { allocateLongLivedBuffer } from './long-lived-buffers.ts';

/** Which pool lent a buffer and how many bytes of it, by its ArrayBuffer; present only while it is lent out. */
const lentBy = new WeakMap<ArrayBufferLike, { pool: RecyclingPool; length: number }>();

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

/**
 * Gives a chunk back to the pool that lent it; does nothing for any other chunk, for one given back already, or
 * for a part of one (a stream that split a lent chunk may still hold the rest). Call it only where nothing else can
 * still read the chunk: the pool will overwrite it.
 */
export function giveBack(chunk: Uint8Array): void {
  const lent = lentBy.get(chunk.buffer);
  if (lent === undefined || chunk.byteOffset !== 0 || chunk.byteLength !== lent.length) return;
  lentBy.delete(chunk.buffer);
  lent.pool.keep(chunk.buffer);
}
