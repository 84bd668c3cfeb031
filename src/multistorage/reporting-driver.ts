// A driver decorator that reports the outcome of every storage operation to the aliveness statistics, weighted
// as WAL-G weighs them, so a storage that starts failing is seen as dead without waiting for the next check.

import { Transform, pipeline, type Readable, type TransformCallback } from 'node:stream';
import { NotFoundError } from '../storage/driver.ts';
import { CHUNK_HANDLING, type ChunkHandling } from '../stream/chunk-pool.ts';
import { stageStreamOptions } from '../stream/memory-budget.ts';
import type { GetOptions, ListEntry, ListOptions, ObjectInfo, PutOptions, StorageDriver } from '../storage/driver.ts';
import { hasReplayablePut, type ReplayablePutDriver } from '../storage/retry.ts';

/** Receives one operation outcome: its weight and whether the storage did its part. */
export type OperationReport = (weight: number, success: boolean) => void;

/** WAL-G's operation weights (internal/multistorage/stats/operations.go). */
export const OPERATION_WEIGHT = {
  exists: 1000,
  list: 2000,
  copy: 2000,
  /** Reading or writing an object: 1000, growing with the logarithm of its size in MiB. */
  transfer(bytes: number): number {
    return scaleWeight(1000, Math.trunc(bytes / (1024 * 1024)));
  },
  /** Deleting objects: 500, growing with the logarithm of their count. */
  delete(count: number): number {
    return scaleWeight(500, count);
  },
};

/** WAL-G's scaleWeight: unchanged up to a scale of 1, doubled at 10, tripled at 100. */
function scaleWeight(weight: number, scale: number): number {
  if (scale <= 1) return weight;
  return weight * (1 + Math.log10(scale));
}

/** Counts the bytes passing through and reports once, when the stream ends, fails or is dropped. */
class ReportingTransform extends Transform {
  readonly [CHUNK_HANDLING]: ChunkHandling = 'forwards';
  bytes = 0;

  constructor() {
    super(stageStreamOptions());
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    callback(null, chunk);
  }
}

export class ReportingStorageDriver implements StorageDriver, ReplayablePutDriver {
  readonly inner: StorageDriver;
  readonly #report: OperationReport;

  constructor(inner: StorageDriver, report: OperationReport) {
    this.inner = inner;
    this.#report = report;
  }

  get kind(): string {
    return this.inner.kind;
  }

  async *list(prefix: string, options?: ListOptions): AsyncIterable<ListEntry> {
    try {
      yield* this.inner.list(prefix, options);
    } catch (error) {
      this.#report(OPERATION_WEIGHT.list, false);
      throw error;
    }
    this.#report(OPERATION_WEIGHT.list, true);
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    try {
      const info = await this.inner.stat(key);
      this.#report(OPERATION_WEIGHT.exists, true);
      return info;
    } catch (error) {
      this.#report(OPERATION_WEIGHT.exists, false);
      throw error;
    }
  }

  async get(key: string, options?: GetOptions): Promise<Readable> {
    let source: Readable;
    try {
      source = await this.inner.get(key, options);
    } catch (error) {
      // A missing object is the storage answering correctly.
      this.#report(OPERATION_WEIGHT.transfer(0), error instanceof NotFoundError);
      throw error;
    }
    const counter = new ReportingTransform();
    let reported = false;
    const report = (success: boolean): void => {
      if (reported) return;
      reported = true;
      this.#report(OPERATION_WEIGHT.transfer(counter.bytes), success);
    };
    pipeline(source, counter, (error) => {
      // A reader that stops early (destroying the stream) is not the storage's fault, as in WAL-G's Close.
      const failedBySource = error !== undefined && error !== null && source.errored !== null;
      report(!failedBySource);
    });
    return counter;
  }

  async put(key: string, body: Readable, options?: PutOptions): Promise<void> {
    const counter = new ReportingTransform();
    let bodyFailed = false;
    body.on('error', () => {
      bodyFailed = true;
    });
    pipeline(body, counter, () => {});
    try {
      await this.inner.put(key, counter, options);
    } catch (error) {
      // A failing source (a local read error) says nothing about the storage.
      if (!bodyFailed) this.#report(OPERATION_WEIGHT.transfer(counter.bytes), false);
      throw error;
    }
    this.#report(OPERATION_WEIGHT.transfer(counter.bytes), true);
  }

  async putReplayable(key: string, openBody: () => Readable, options?: PutOptions): Promise<void> {
    if (!hasReplayablePut(this.inner)) return this.put(key, openBody(), options);
    let bytes = 0;
    const counted = (): Readable => {
      const counter = new ReportingTransform();
      pipeline(openBody(), counter, () => {});
      counter.on('end', () => {
        bytes = counter.bytes;
      });
      return counter;
    };
    try {
      await this.inner.putReplayable(key, counted, options);
    } catch (error) {
      this.#report(OPERATION_WEIGHT.transfer(bytes), false);
      throw error;
    }
    this.#report(OPERATION_WEIGHT.transfer(bytes), true);
  }

  async deleteMany(keys: string[]): Promise<void> {
    try {
      await this.inner.deleteMany(keys);
    } catch (error) {
      this.#report(OPERATION_WEIGHT.delete(keys.length), false);
      throw error;
    }
    this.#report(OPERATION_WEIGHT.delete(keys.length), true);
  }

  async copy(sourceKey: string, destinationKey: string): Promise<void> {
    try {
      await this.inner.copy(sourceKey, destinationKey);
    } catch (error) {
      this.#report(OPERATION_WEIGHT.copy, error instanceof NotFoundError);
      throw error;
    }
    this.#report(OPERATION_WEIGHT.copy, true);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
