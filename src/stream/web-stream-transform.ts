// A Node Transform around a function that maps a web ReadableStream to another (how @napi-rs/lzma's off-thread decoder streams).

import { Transform, type TransformCallback } from 'node:stream';
import { stageStreamOptions } from './memory-budget.ts';

/** Turns whatever the web side throws into the error the Transform reports. */
export type WebErrorTranslator = (error: unknown) => Error;

/**
 * Written chunks are offered to the web side one at a time: a write completes when the web side pulls
 * again (it has taken the chunk), so nothing queues here. Output is read only while our reader wants
 * more. When the web side finishes before the input does (a decoder that stops at an end marker, as
 * WAL-G's lzma reader does), the remaining input is read and dropped instead of blocking the writer.
 */
export class WebStreamTransform extends Transform {
  readonly #translate: WebErrorTranslator;
  #input: ReadableStreamDefaultController<Uint8Array> | undefined;
  #inputClosed = false;
  #pendingWrite: TransformCallback | undefined;
  #outputDone = false;
  #resumeOutput: (() => void) | undefined;
  readonly #outputFinished: Promise<void>;

  constructor(start: (input: ReadableStream<Uint8Array>) => ReadableStream<Uint8Array>, translate: WebErrorTranslator) {
    super(stageStreamOptions());
    this.#translate = translate;
    const input = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.#input = controller;
        },
        pull: () => this.#acknowledgeWrite(),
        cancel: () => {
          this.#inputClosed = true;
          this.#acknowledgeWrite();
        },
      },
      { highWaterMark: 0 },
    );
    this.#outputFinished = this.#pumpOutput(() => start(input));
    this.#outputFinished.catch(() => {});
  }

  #acknowledgeWrite(): void {
    const callback = this.#pendingWrite;
    this.#pendingWrite = undefined;
    callback?.();
  }

  async #pumpOutput(start: () => ReadableStream<Uint8Array>): Promise<void> {
    try {
      const reader = start().getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (this.destroyed) {
          await reader.cancel().catch(() => {});
          return;
        }
        if (value.length === 0) continue;
        if (!this.push(Buffer.from(value.buffer, value.byteOffset, value.length))) {
          await new Promise<void>((resume) => (this.#resumeOutput = resume));
        }
      }
      this.#outputDone = true;
      this.#acknowledgeWrite(); // input after the end is dropped
    } catch (error) {
      const failure = this.#translate(error);
      this.#outputDone = true;
      this.destroy(failure);
      throw failure;
    }
  }

  override _read(size: number): void {
    const resume = this.#resumeOutput;
    this.#resumeOutput = undefined;
    resume?.();
    super._read(size);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.#outputDone || this.#inputClosed || chunk.length === 0) {
      callback();
      return;
    }
    this.#pendingWrite = callback;
    (this.#input as ReadableStreamDefaultController<Uint8Array>).enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length));
  }

  override _flush(callback: TransformCallback): void {
    if (!this.#inputClosed) {
      this.#inputClosed = true;
      try {
        this.#input?.close();
      } catch {
        // already closed or errored by the web side
      }
    }
    this.#outputFinished.then(
      () => callback(),
      (error: Error) => callback(error),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.#inputClosed) {
      this.#inputClosed = true;
      try {
        this.#input?.error(error ?? new Error('stream destroyed'));
      } catch {
        // already closed
      }
    }
    const resume = this.#resumeOutput;
    this.#resumeOutput = undefined;
    resume?.();
    callback(error);
  }
}
