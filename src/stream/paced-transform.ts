// Base for the byte filters we write ourselves: processes a written chunk piecewise, pausing whenever the reader is full.

import { Transform, type TransformCallback, type TransformOptions } from 'node:stream';
import { CHUNK_HANDLING, type ChunkHandling, releaseChunk } from './chunk-pool.ts';
import { giveBack } from './recycling-pool.ts';
import { stageStreamOptions } from './memory-budget.ts';

/**
 * A plain Transform must finish a written chunk before returning, so one small chunk of an LZ4 frame of
 * zeros (255:1) would push hundreds of MiB at once. Here `consume` stops as soon as a push reports a full
 * buffer and is called again, from where it stopped, when the reader wants more.
 *
 * Every written chunk is fully consumed (copied or decoded) before its callback runs, and a pooled
 * chunk is given back to its pool at that point: subclasses never keep or forward input buffers.
 */
export abstract class PacedTransform extends Transform {
  readonly [CHUNK_HANDLING]: ChunkHandling = 'releases';
  #input: Buffer | undefined;
  #offset = 0;
  #callback: TransformCallback | undefined;
  #waitingForReader = false;
  #yieldRequested = false;

  constructor(options: TransformOptions = stageStreamOptions()) {
    super(options);
  }

  /**
   * Processes input[offset..] and returns the offset reached. It may return early only right after a
   * push() that returned false; it is then called again with the rest once the reader has drained.
   */
  protected abstract consume(input: Buffer, offset: number): number;

  /** Called once after the last byte was consumed: emit what is left, or throw if the input ended too soon. */
  protected abstract finish(): void;

  /**
   * Asks to let the event loop turn (setImmediate) before consume is called again or the chunk is
   * acknowledged; consume should return right after asking. Used after noteBufferOutput collected, so
   * that N-API finalizers run and free the native buffers.
   */
  protected yieldToEventLoop(): void {
    this.#yieldRequested = true;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#input = chunk;
    this.#offset = 0;
    this.#callback = callback;
    this.#continue();
  }

  #continue(): void {
    const input = this.#input as Buffer;
    let reached: number;
    try {
      reached = this.consume(input, this.#offset);
    } catch (error) {
      this.#complete(error as Error);
      return;
    }
    if (this.#yieldRequested) {
      this.#yieldRequested = false;
      this.#offset = reached;
      setImmediate(() => {
        if (this.destroyed) return;
        if (this.#offset >= input.length) this.#complete(null);
        else if (this.readableLength >= this.readableHighWaterMark) this.#waitingForReader = true;
        else this.#continue();
      });
      return;
    }
    if (reached < input.length) {
      this.#offset = reached;
      this.#waitingForReader = true;
      return;
    }
    this.#complete(null);
  }

  #complete(error: Error | null): void {
    const callback = this.#callback as TransformCallback;
    const input = this.#input as Buffer;
    this.#input = undefined;
    this.#callback = undefined;
    releaseChunk(input);
    giveBack(input); // consumed (copied or decoded) whole: a recycling pool may lend it out again
    callback(error);
  }

  override _read(size: number): void {
    if (this.#waitingForReader) {
      this.#waitingForReader = false;
      this.#continue();
    }
    super._read(size);
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.finish();
    } catch (error) {
      callback(error as Error);
      return;
    }
    this.#yieldRequested = false;
    callback();
  }
}
