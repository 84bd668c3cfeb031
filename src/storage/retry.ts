// Retries of transient storage failures as a driver decorator: exponential backoff with jitter for the idempotent
// operations, resumed reads, and a replayable-put contract for uploads whose body can be produced again.
//
// Which storages get it: WAL-G has no retry layer of its own around storages. Its S3, GCS, Azure, OSS and Swift
// clients retry inside the SDKs (S3_MAX_RETRIES, GCS_MAX_RETRIES, OSS_MAX_RETRIES, AZURE_TRY_TIMEOUT, the Swift
// library's retries), and our drivers for them do the same with the same settings; wrapping them again would
// multiply attempts. Local files have no transient failures. So retryPolicyForStorage returns a policy only for
// SFTP, whose failures WAL-G just reports (a walnut addition: a dropped connection is retried, the driver
// reconnecting on the next call).

import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { WalgError, errorMessage } from '../errors.ts';
import { log } from '../log/logger.ts';
import { Folder, NotFoundError, ObjectExistsError, checkRange, compareKeys } from './driver.ts';
import type { GetOptions, ListEntry, ListOptions, ObjectInfo, PutOptions, StorageDriver } from './driver.ts';
import type { StorageKind } from './prefix.ts';

export interface RetryPolicy {
  /** Attempts after the first failure; 0 disables retries. Counted per run of failures without progress. */
  readonly maxRetries: number;
  /** First delay; each further retry doubles it. */
  readonly baseDelayMs: number;
  /** Longest delay between two attempts. */
  readonly maxDelayMs: number;
  /** Which errors are worth another attempt (default isTransientStorageError). */
  readonly isTransient?: (error: unknown) => boolean;
  /** For tests: how to wait and where jitter comes from. */
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
}

/** Doubling from 128 ms (WAL-G's GCS uploader base) up to 10 s; 4 retries span about 2 s at most. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxRetries: 4, baseDelayMs: 128, maxDelayMs: 10_000 };

/** The retry policy for a storage kind, or undefined when its driver retries on its own (see the file header). */
export function retryPolicyForStorage(kind: StorageKind): RetryPolicy | undefined {
  return kind === 'ssh' ? DEFAULT_RETRY_POLICY : undefined;
}

/** For whoever opens storages: the driver with its kind's retry policy, or unchanged when it needs none. */
export function withRetryPolicy(driver: StorageDriver, kind: StorageKind): StorageDriver {
  const policy = retryPolicyForStorage(kind);
  return policy === undefined ? driver : new RetryingStorageDriver(driver, policy);
}

/**
 * Delay before retry number `retry` (0-based): half of min(max, base·2^retry) fixed plus half random ("equal
 * jitter", as WAL-G's GCS uploader and S3 range reader wait), so parallel workers do not retry in lockstep.
 */
export function backoffDelayMs(retry: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(retry, 52));
  return ceiling / 2 + random() * (ceiling / 2);
}

/** A failure a driver knows to be temporary (a dropped connection, a busy server): always retried. */
export class TransientStorageError extends WalgError {
  readonly transient = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 1, options);
    this.name = 'TransientStorageError';
  }
}

const TRANSIENT_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENETRESET',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

const TRANSIENT_ERROR_NAMES: ReadonlySet<string> = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException']);

/**
 * True for failures another attempt may cure: network resets and timeouts, HTTP 408, 429 and 5xx (but not 501
 * Not Implemented or 505), and errors marked `transient`. Missing or already existing objects never are.
 * Wrapped errors are judged by their causes too.
 */
export function isTransientStorageError(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 8 && current !== null && typeof current === 'object'; depth++) {
    if (current instanceof NotFoundError || current instanceof ObjectExistsError) return false;
    const candidate = current as {
      transient?: unknown;
      code?: unknown;
      name?: unknown;
      status?: unknown;
      statusCode?: unknown;
      $metadata?: { httpStatusCode?: unknown };
      cause?: unknown;
    };
    if (candidate.transient === true) return true;
    if (typeof candidate.code === 'string' && TRANSIENT_ERROR_CODES.has(candidate.code)) return true;
    if (typeof candidate.name === 'string' && TRANSIENT_ERROR_NAMES.has(candidate.name)) return true;
    for (const status of [candidate.statusCode, candidate.status, candidate.$metadata?.httpStatusCode, candidate.code]) {
      if (typeof status === 'number' && isTransientHttpStatus(status)) return true;
    }
    current = candidate.cause;
  }
  return false;
}

function isTransientHttpStatus(status: number): boolean {
  if (status === 408 || status === 429) return true;
  return status >= 500 && status < 600 && status !== 501 && status !== 505;
}

/** The optional driver method behind putReplayable(). Decorators forward it. */
export interface ReplayablePutDriver {
  putReplayable(key: string, openBody: () => Readable, options?: PutOptions): Promise<void>;
}

export function hasReplayablePut(driver: StorageDriver): driver is StorageDriver & ReplayablePutDriver {
  return typeof (driver as Partial<ReplayablePutDriver>).putReplayable === 'function';
}

/**
 * Uploads a body that can be produced again from its source (a local file through fresh compress/encrypt
 * stages): `openBody` is called once per attempt, and a transient storage failure is retried when the folder's
 * storage has a retry policy. A streaming put cannot be retried, since its bytes are gone once sent: callers
 * that own a replayable source should upload through here; the rest use folder.put and retry at their level.
 * A failure of the body itself (a read error of the source) is never retried.
 */
export function putReplayable(folder: Folder, key: string, openBody: () => Readable, options?: PutOptions): Promise<void> {
  const driver = folder.driver;
  const driverKey = folder.driverKey(key);
  if (hasReplayablePut(driver)) return driver.putReplayable(driverKey, openBody, options);
  return driver.put(driverKey, openBody(), options);
}

/** The decorator. Reads resume where they broke off; listings resume after the last key they returned. */
export class RetryingStorageDriver implements StorageDriver, ReplayablePutDriver {
  readonly inner: StorageDriver;
  readonly policy: RetryPolicy;

  constructor(inner: StorageDriver, policy: RetryPolicy = DEFAULT_RETRY_POLICY) {
    this.inner = inner;
    this.policy = policy;
  }

  get kind(): string {
    return this.inner.kind;
  }

  /** Waits before retry number `retry` of `what`, or rethrows when the error is final or the retries are used up. */
  private async pauseOrThrow(error: unknown, retry: number, what: string): Promise<void> {
    const isTransient = this.policy.isTransient ?? isTransientStorageError;
    if (retry >= this.policy.maxRetries || !isTransient(error)) throw error;
    const delay = backoffDelayMs(retry, this.policy, this.policy.random);
    log.debug(`${what}: ${errorMessage(error)}; retry ${retry + 1} of ${this.policy.maxRetries} in ${Math.round(delay)} ms`);
    await (this.policy.sleep ?? sleep)(delay);
  }

  private async attempt<T>(what: string, work: () => Promise<T>): Promise<T> {
    for (let retry = 0; ; retry++) {
      try {
        return await work();
      } catch (error) {
        await this.pauseOrThrow(error, retry, what);
      }
    }
  }

  async *list(prefix: string, options?: ListOptions): AsyncIterable<ListEntry> {
    // Listings come in key order (the driver contract), so a retried listing skips what was already returned.
    let lastKey: string | undefined;
    let retry = 0;
    for (;;) {
      try {
        for await (const entry of this.inner.list(prefix, options)) {
          if (lastKey !== undefined && compareKeys(entry.key, lastKey) <= 0) continue;
          lastKey = entry.key;
          retry = 0;
          yield entry;
        }
        return;
      } catch (error) {
        await this.pauseOrThrow(error, retry++, `list ${prefix || '/'}`);
      }
    }
  }

  stat(key: string): Promise<ObjectInfo | undefined> {
    return this.attempt(`stat ${key}`, () => this.inner.stat(key));
  }

  async get(key: string, options?: GetOptions): Promise<Readable> {
    const { offset, length } = checkRange(key, options);
    const first = await this.attempt(`read ${key}`, () => this.inner.get(key, options));
    return Readable.from(this.resumingChunks(key, first, offset, length), { objectMode: false });
  }

  /**
   * The object's bytes; when the stream breaks with a transient error, the rest is read again from where it broke
   * (a ranged get), so a long download survives a dropped connection without starting over.
   */
  private async *resumingChunks(key: string, first: Readable, offset: number, length: number | undefined): AsyncGenerator<Buffer> {
    let source = first;
    let bytesRead = 0;
    let retry = 0;
    try {
      for (;;) {
        try {
          for await (const chunk of source) {
            const buffer = chunk as Buffer;
            bytesRead += buffer.length;
            retry = 0;
            yield buffer;
          }
          return;
        } catch (error) {
          source.destroy();
          await this.pauseOrThrow(error, retry++, `read ${key} at byte ${offset + bytesRead}`);
          const remaining = length === undefined ? undefined : length - bytesRead;
          if (remaining === 0) return;
          source = await this.attempt(`read ${key}`, () =>
            this.inner.get(key, { offset: offset + bytesRead, length: remaining }),
          );
        }
      }
    } finally {
      source.destroy();
    }
  }

  /** A streaming body is sent once: it cannot be replayed (see putReplayable). */
  put(key: string, body: Readable, options?: PutOptions): Promise<void> {
    return this.inner.put(key, body, options);
  }

  async putReplayable(key: string, openBody: () => Readable, options?: PutOptions): Promise<void> {
    for (let retry = 0; ; retry++) {
      const body = openBody();
      let bodyFailed = false;
      // The driver contract: a body error rejects put with that same error. Such a failure is the source's, and
      // another attempt would only read the same broken source again.
      body.on('error', () => {
        bodyFailed = true;
      });
      try {
        await this.inner.put(key, body, options);
        return;
      } catch (error) {
        body.destroy();
        if (bodyFailed) throw error;
        await this.pauseOrThrow(error, retry, `write ${key}`);
      }
    }
  }

  deleteMany(keys: string[]): Promise<void> {
    // Deleting is idempotent: missing keys are not an error, so a retry after a partial delete is safe.
    return this.attempt(`delete ${keys.length} object(s)`, () => this.inner.deleteMany(keys));
  }

  copy(sourceKey: string, destinationKey: string): Promise<void> {
    return this.attempt(`copy ${sourceKey} to ${destinationKey}`, () => this.inner.copy(sourceKey, destinationKey));
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
