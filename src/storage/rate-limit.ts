// Byte-rate limits as WAL-G applies them: WALG_NETWORK_RATE_LIMIT on storage reads and writes (a driver decorator)
// and WALG_DISK_RATE_LIMIT on local file reads during backups (a pass-through filter); `--turbo` turns both off.
//
// The limiter is a token bucket with the semantics of Go's golang.org/x/time/rate: it starts full, refills at the
// limit, and lets a reservation drive the balance negative so that later callers queue behind earlier ones. The
// burst is the limit plus 8 PostgreSQL pages, WAL-G's rule. One bucket is shared by every storage (and every
// concurrent upload) of the process, as WAL-G's limiters are process globals.

import { Transform, pipeline, type Readable, type TransformCallback } from 'node:stream';
import type { Settings } from '../config/settings.ts';
import { WalgError } from '../errors.ts';
import { CHUNK_HANDLING, type ChunkHandling } from '../stream/chunk-pool.ts';
import type { Filter } from '../stream/filter.ts';
import { stageStreamOptions } from '../stream/memory-budget.ts';
import type { GetOptions, ListEntry, ListOptions, ObjectInfo, PutOptions, StorageDriver } from './driver.ts';
import { Folder } from './driver.ts';
import { hasReplayablePut } from './retry.ts';

export const NETWORK_RATE_LIMIT_SETTING = 'WALG_NETWORK_RATE_LIMIT';
export const DISK_RATE_LIMIT_SETTING = 'WALG_DISK_RATE_LIMIT';
/** WAL-G's DefaultDataBurstRateLimit: 8 pages of 8 KiB on top of one second's worth of bytes. */
export const RATE_LIMIT_EXTRA_BURST = 8 * 8192;

/** A clock in milliseconds; performance.now() in production, a fake one in tests. */
export type Clock = () => number;

/** Go's rate.Limiter for bytes: `bytesPerSecond` refill, `burst` capacity, starting full. */
export class TokenBucket {
  readonly bytesPerSecond: number;
  readonly burst: number;
  readonly #clock: Clock;
  #tokens: number;
  #last: number;

  constructor(bytesPerSecond: number, burst: number, clock: Clock = () => performance.now()) {
    if (!(bytesPerSecond > 0) || !Number.isFinite(bytesPerSecond)) {
      throw new RangeError(`a rate limit must be a positive number of bytes per second, got ${bytesPerSecond}`);
    }
    if (!(burst >= 1)) throw new RangeError(`a rate limit burst must be at least one byte, got ${burst}`);
    this.bytesPerSecond = bytesPerSecond;
    this.burst = burst;
    this.#clock = clock;
    this.#tokens = burst;
    this.#last = clock();
  }

  /**
   * Takes `bytes` tokens now, in pieces of at most `burst` as WAL-G's limited reader does, and returns how many
   * milliseconds the caller must wait before using them (0 when the bucket had enough).
   */
  reserve(bytes: number): number {
    if (bytes <= 0) return 0;
    const now = this.#clock();
    const elapsed = Math.max(0, now - this.#last);
    this.#tokens = Math.min(this.burst, this.#tokens + (elapsed * this.bytesPerSecond) / 1000);
    this.#last = now;
    this.#tokens -= bytes;
    return this.#tokens >= 0 ? 0 : (-this.#tokens * 1000) / this.bytesPerSecond;
  }

  /** Waits until `bytes` may pass. */
  take(bytes: number): Promise<void> {
    const waitMs = this.reserve(bytes);
    if (waitMs <= 0) return Promise.resolve();
    return new Promise((resolve) => setTimeout(resolve, Math.ceil(waitMs)));
  }
}

/** A bucket with WAL-G's burst rule for a limit in bytes per second. */
export function rateLimitBucket(bytesPerSecond: number, clock?: Clock): TokenBucket {
  return new TokenBucket(bytesPerSecond, bytesPerSecond + RATE_LIMIT_EXTRA_BURST, clock);
}

/**
 * A pass-through stage that lets each chunk go once the bucket allows its bytes. It forwards the very same
 * buffer, so pooled chunks flow through it without copies.
 */
export class RateLimitTransform extends Transform {
  readonly [CHUNK_HANDLING]: ChunkHandling = 'forwards';
  readonly #bucket: TokenBucket;
  #timer: NodeJS.Timeout | undefined;

  constructor(bucket: TokenBucket, chunkSize?: number) {
    super(stageStreamOptions(chunkSize));
    this.#bucket = bucket;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const waitMs = this.#bucket.reserve(chunk.length);
    if (waitMs <= 0) {
      callback(null, chunk);
      return;
    }
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      callback(null, chunk);
    }, Math.ceil(waitMs));
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    callback(error);
  }
}

/** `source` read no faster than the bucket allows; errors and early destruction travel both ways. */
export function rateLimitedStream(source: Readable, bucket: TokenBucket): Readable {
  const limited = new RateLimitTransform(bucket);
  // pipeline forwards a source error to `limited` (and destroys the source when `limited` is destroyed).
  pipeline(source, limited, () => {});
  return limited;
}

/**
 * WAL-G's LimitedFolder as a driver decorator: object bodies read by get and sent by put pass the bucket;
 * listings, stats, deletes and copies move no object bytes and are not limited.
 */
export class RateLimitedStorageDriver implements StorageDriver {
  readonly inner: StorageDriver;
  readonly bucket: TokenBucket;

  constructor(inner: StorageDriver, bucket: TokenBucket) {
    this.inner = inner;
    this.bucket = bucket;
  }

  get kind(): string {
    return this.inner.kind;
  }

  list(prefix: string, options?: ListOptions): AsyncIterable<ListEntry> {
    return this.inner.list(prefix, options);
  }

  stat(key: string): Promise<ObjectInfo | undefined> {
    return this.inner.stat(key);
  }

  async get(key: string, options?: GetOptions): Promise<Readable> {
    return rateLimitedStream(await this.inner.get(key, options), this.bucket);
  }

  put(key: string, body: Readable, options?: PutOptions): Promise<void> {
    return this.inner.put(key, rateLimitedStream(body, this.bucket), options);
  }

  /** Forwards the replayable-put contract (src/storage/retry.ts) when the inner driver has it. */
  putReplayable(key: string, openBody: () => Readable, options?: PutOptions): Promise<void> {
    if (hasReplayablePut(this.inner)) {
      return this.inner.putReplayable(key, () => rateLimitedStream(openBody(), this.bucket), options);
    }
    return this.put(key, openBody(), options);
  }

  deleteMany(keys: string[]): Promise<void> {
    return this.inner.deleteMany(keys);
  }

  copy(sourceKey: string, destinationKey: string): Promise<void> {
    return this.inner.copy(sourceKey, destinationKey);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** The same place in the storage, with object bodies limited by `bucket` (unchanged when there is no bucket). */
export function rateLimitedFolder(folder: Folder, bucket: TokenBucket | undefined): Folder {
  if (bucket === undefined) return folder;
  return new Folder(new RateLimitedStorageDriver(folder.driver, bucket), folder.path);
}

// ---------------------------------------------------------------------------------------------------------------
// The process-wide limits (WAL-G's limiters.NetworkLimiter / DiskLimiter).

export interface RateLimits {
  /** WALG_NETWORK_RATE_LIMIT: storage object bodies, read and written. */
  readonly network: TokenBucket | undefined;
  /** WALG_DISK_RATE_LIMIT: local files read by backup-push. */
  readonly disk: TokenBucket | undefined;
}

const NO_LIMITS: RateLimits = { network: undefined, disk: undefined };
let installed: RateLimits = NO_LIMITS;

/**
 * Reads the two limits from the settings, as WAL-G's ConfigureLimiters: nothing under `--turbo`; a setting that is
 * set (even to text that is not a number) installs a limit. WAL-G reads such text as 0, which stalls every transfer
 * after the first 64 KiB; here a limit that is not a positive number is refused up front instead.
 */
export function rateLimitsFromSettings(settings: Settings, turbo: boolean, clock?: Clock): RateLimits {
  if (turbo) return NO_LIMITS;
  return {
    network: limitFromSetting(settings, NETWORK_RATE_LIMIT_SETTING, clock),
    disk: limitFromSetting(settings, DISK_RATE_LIMIT_SETTING, clock),
  };
}

function limitFromSetting(settings: Settings, name: string, clock: Clock | undefined): TokenBucket | undefined {
  if (!settings.isSet(name)) return undefined;
  const bytesPerSecond = settings.int(name);
  if (bytesPerSecond <= 0) {
    const shown = settings.lookup(name)?.value ?? '';
    throw new WalgError(
      `${name} is '${shown}': it must be a positive number of bytes per second; unset it (or pass --turbo) for no limit`,
    );
  }
  return rateLimitBucket(bytesPerSecond, clock);
}

/**
 * WAL-G's ConfigureLimiters, called by the commands that honour the limits (backup-push, backup-fetch,
 * catchup-push, catchup-fetch): storages opened afterwards are limited (withNetworkRateLimit) and backup file
 * reads can be (diskRateLimitFilter). Returns what was installed.
 */
export function installRateLimits(settings: Settings, turbo: boolean): RateLimits {
  installed = rateLimitsFromSettings(settings, turbo);
  return installed;
}

/** The limits installRateLimits set (none until a command installs them). */
export function installedRateLimits(): RateLimits {
  return installed;
}

/** Removes the installed limits (for tests, and for a daemon that serves unlimited commands). */
export function clearRateLimits(): void {
  installed = NO_LIMITS;
}

/** For whoever opens storages: the driver wrapped with the installed network limit, or unchanged without one. */
export function withNetworkRateLimit(driver: StorageDriver, limits: RateLimits = installed): StorageDriver {
  return limits.network === undefined ? driver : new RateLimitedStorageDriver(driver, limits.network);
}

/**
 * For backup-push's file sources: a Filter (put it first in the pushPipeline filters) that limits local reads to
 * WALG_DISK_RATE_LIMIT, or undefined when no disk limit is installed.
 */
export function diskRateLimitFilter(limits: RateLimits = installed): Filter | undefined {
  const bucket = limits.disk;
  if (bucket === undefined) return undefined;
  return () => new RateLimitTransform(bucket);
}
