// A Node Transform around a function that maps a web ReadableStream to another (how openpgp v6 streams).

import { Transform, type TransformCallback } from 'node:stream';

/** Turns whatever the web-stream side throws into the error the Transform reports. */
export type ErrorTranslator = (error: unknown) => Error;

/**
 * Feeds written chunks into a web ReadableStream given to `start`, and pushes what the returned stream
 * yields. Backpressure holds in both directions: a write completes only once the web side has taken
 * the chunk, and the output is read only while the readable side wants more. So at most one input
 * chunk and one output chunk are in flight here, plus whatever the web-side code buffers itself.
 */
export class WebStreamBridge extends Transform {
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #translate: ErrorTranslator;
  readonly #outputFinished: Promise<void>;
  #resumeOutput: (() => void) | undefined;
  #failure: Error | undefined;

  constructor(start: (input: ReadableStream<Uint8Array>) => Promise<ReadableStream<Uint8Array>>, translate: ErrorTranslator) {
    super();
    this.#translate = translate;
    // Writable high-water mark 0 and readable 0: nothing queues between us and the consumer's reads.
    const pipe = new TransformStream<Uint8Array, Uint8Array>(undefined, { highWaterMark: 0 }, { highWaterMark: 0 });
    this.#writer = pipe.writable.getWriter();
    this.#writer.closed.catch(() => {}); // failures are reported through #outputFinished
    this.#outputFinished = this.#pumpOutput(() => start(pipe.readable));
    this.#outputFinished.catch(() => {});
  }

  async #pumpOutput(start: () => Promise<ReadableStream<Uint8Array>>): Promise<void> {
    try {
      const output = await start();
      const reader = output.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        if (value.length === 0) continue;
        const buffer = Buffer.from(value.buffer, value.byteOffset, value.length);
        if (!this.push(buffer)) await new Promise<void>((resume) => (this.#resumeOutput = resume));
        if (this.destroyed) {
          await reader.cancel().catch(() => {});
          return;
        }
      }
    } catch (err) {
      this.#failure = this.#translate(err);
      // Unblock a write waiting for the web side, then fail the whole Transform.
      this.#writer.abort(this.#failure).catch(() => {});
      this.destroy(this.#failure);
      throw this.#failure;
    }
  }

  override _read(size: number): void {
    const resume = this.#resumeOutput;
    this.#resumeOutput = undefined;
    resume?.();
    super._read(size);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    // A view, not a copy: a written Buffer belongs to the stream (Node's contract), so the web side may keep it.
    this.#writer.write(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length)).then(
      () => callback(),
      () => callback(this.#failure ?? new Error('stream closed')),
    );
  }

  override _flush(callback: TransformCallback): void {
    this.#writer.close().catch(() => {});
    this.#outputFinished.then(
      () => callback(),
      (err: Error) => callback(err),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#writer.abort(error ?? new Error('stream destroyed')).catch(() => {});
    const resume = this.#resumeOutput;
    this.#resumeOutput = undefined;
    resume?.();
    callback(error);
  }
}
