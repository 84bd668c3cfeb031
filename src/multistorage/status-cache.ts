// The storage aliveness cache of WAL-G's failover storages: per-storage statuses scored by an exponential moving
// average, kept in process memory and in `~/.walg_storage_{ro,rw}_status_cache`, in the file format WAL-G writes.
//
// A status is keyed by `<name>#<config hash>`, so one cache file can serve several configurations. An explicit
// check sets a status to fully alive or fully dead; every storage operation nudges it by the operation's weight.
// A status older than WALG_FAILOVER_STORAGES_CACHE_LIFETIME is "outdated" and makes the caller check again.

import { readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, basename } from 'node:path';
import { errorMessage } from '../errors.ts';
import { log } from '../log/logger.ts';
import { compareKeys } from '../storage/driver.ts';
import { goQuote, pathErrorText } from '../storage/go-text.ts';
import { temporaryNameHex } from '../storage/temporary-name.ts';

/** Thresholds and smoothing ranges of the aliveness average (WALG_FAILOVER_STORAGES_CACHE_EMA_*). */
export interface EmaParams {
  /** A dead storage whose score reaches this becomes alive. */
  readonly aliveLimit: number;
  /** An alive storage whose score falls below this becomes dead. */
  readonly deadLimit: number;
  readonly alphaAlive: { readonly min: number; readonly max: number };
  readonly alphaDead: { readonly min: number; readonly max: number };
}

/**
 * WAL-G's defaults: a fully dead storage comes back after about 20 successful operations in a row, a fully alive
 * one dies after about 10 failures in a row.
 */
export const DEFAULT_EMA_PARAMS: EmaParams = {
  aliveLimit: 0.99,
  deadLimit: 0.88,
  alphaAlive: { min: 0.01, max: 0.05 },
  alphaDead: { min: 0.1, max: 0.5 },
};

/** WAL-G's EMAParams.Validate, with its messages (the min/max wording of the alpha messages is WAL-G's own). */
export function validateEmaParams(params: EmaParams): void {
  const between0And1 = (value: number, what: string): void => {
    if (!(value > 0 && value < 1)) throw new Error(`${what} is expected to be in range (0, 1)`);
  };
  between0And1(params.aliveLimit, 'alive limit');
  between0And1(params.deadLimit, 'dead limit');
  if (params.aliveLimit < params.deadLimit) throw new Error('alive limit must be greater than dead limit');
  between0And1(params.alphaAlive.min, 'max EMA alpha for alive storage');
  between0And1(params.alphaAlive.max, 'min EMA alpha for alive storage');
  if (params.alphaAlive.min > params.alphaAlive.max) {
    throw new Error('max EMA alpha must be greater than min EMA alpha for alive storage');
  }
  between0And1(params.alphaDead.min, 'max EMA alpha for dead storage');
  between0And1(params.alphaDead.max, 'min EMA alpha for dead storage');
  if (params.alphaDead.min > params.alphaDead.max) {
    throw new Error('max EMA alpha must be greater than min EMA alpha for dead storage');
  }
}

/** One storage's score. `updated` is in epoch milliseconds (0 for "never"). */
export interface StorageStatus {
  /** The score if every operation had succeeded. */
  readonly potentialAliveness: number;
  /** The score earned; equal to potentialAliveness when fully alive, 0 when fully dead. */
  readonly actualAliveness: number;
  /** Whether the storage was alive before the latest change (it decides which limit applies). */
  readonly wasAlive: boolean;
  readonly updated: number;
}

export const UNKNOWN_STATUS: StorageStatus = { potentialAliveness: 0, actualAliveness: 0, wasAlive: false, updated: 0 };

function hasNoData(status: StorageStatus): boolean {
  return status.potentialAliveness === 0 && status.actualAliveness === 0;
}

/** actual / potential; a status without data counts as sitting exactly on the dead limit. */
export function alivenessFactor(status: StorageStatus, params: EmaParams): number {
  if (hasNoData(status)) return params.deadLimit;
  return status.actualAliveness / status.potentialAliveness;
}

/** Alive storages stay alive down to the dead limit; dead ones need the (higher) alive limit to come back. */
export function isAlive(status: StorageStatus, params: EmaParams): boolean {
  const factor = alivenessFactor(status, params);
  return status.wasAlive ? factor >= params.deadLimit : factor >= params.aliveLimit;
}

/** An explicit check's verdict: fully alive or fully dead, keeping the accumulated potential. */
export function applyCheckResult(status: StorageStatus, alive: boolean, time: number): StorageStatus {
  return {
    potentialAliveness: status.potentialAliveness,
    actualAliveness: alive ? status.potentialAliveness : 0,
    wasAlive: alive,
    updated: time,
  };
}

/**
 * WAL-G's alpha: within the alive range it is largest at the dead limit and smallest at full health; within the
 * dead range largest at zero and smallest at the alive limit. (WAL-G's documentation describes the alive range
 * the other way round; this follows its code.)
 */
export function emaAlpha(status: StorageStatus, params: EmaParams): number {
  const factor = alivenessFactor(status, params);
  if (isAlive(status, params)) {
    const amplifier = (factor - params.deadLimit) / (1 - params.deadLimit);
    return params.alphaAlive.max + (params.alphaAlive.min - params.alphaAlive.max) * amplifier;
  }
  const amplifier = factor / params.aliveLimit;
  return params.alphaDead.max + (params.alphaDead.min - params.alphaDead.max) * amplifier;
}

/** An operation's outcome: the potential grows by its weight, the actual score only when it succeeded. */
export function applyOperationResult(
  status: StorageStatus,
  params: EmaParams,
  alive: boolean,
  weight: number,
  time: number,
): StorageStatus {
  const alpha = emaAlpha(status, params);
  log.debug(`Apply storage operation result with EMA alpha = ${alpha}`);
  const average = (previous: number, value: number): number => value * alpha + previous * (1 - alpha);
  return {
    potentialAliveness: average(status.potentialAliveness, weight),
    actualAliveness: average(status.actualAliveness, alive ? weight : 0),
    wasAlive: isAlive(status, params),
    updated: time,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Keys and maps

/** `<name>#<hash>`: the name is unique within one configuration, the hash tells configurations apart. */
export function statusKey(name: string, hash: string): string {
  return `${name}#${hash}`;
}

/** The storage name in a key (everything before the last '#'), or undefined for a malformed key. */
export function nameOfStatusKey(key: string): string | undefined {
  const hashAt = key.lastIndexOf('#');
  return hashAt < 0 ? undefined : key.slice(0, hashAt);
}

/** Statuses by key. */
export type StatusMap = Map<string, StorageStatus>;

/** Which storages are alive, by name. Go's AliveMap. */
export type AliveMap = Map<string, boolean>;

/** Every key of both, taking the more recently updated status where both have one. */
export function mergeByRelevance(first: StatusMap, second: StatusMap): StatusMap {
  const merged: StatusMap = new Map(first);
  for (const [key, status] of second) {
    const existing = merged.get(key);
    if (existing === undefined || status.updated > existing.updated) merged.set(key, status);
  }
  return merged;
}

/** The first name in `order` that is alive, provided no name before it is missing from the map. */
export function firstAliveName(aliveMap: AliveMap, order: readonly string[]): string | undefined {
  for (const name of order) {
    const alive = aliveMap.get(name);
    if (alive === undefined) return undefined;
    if (alive) return name;
  }
  return undefined;
}

/** The alive names, in `order`. */
export function aliveNames(aliveMap: AliveMap, order: readonly string[]): string[] {
  return order.filter((name) => aliveMap.get(name) === true);
}

// ---------------------------------------------------------------------------------------------------------------
// The file format: Go's json.Marshal of map["name#hash"]{potential_aliveness, actual_aliveness,
// previous_aliveness, updated}, keys sorted, times as RFC 3339 with nanoseconds in local time.

/** Go's encoding/json string: JSON.stringify plus the HTML-safe escapes Go adds. */
function goJsonString(text: string): string {
  return JSON.stringify(text).replace(/[<>&\u2028\u2029]/g, (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function pad(value: number, width = 2): string {
  return String(value).padStart(width, '0');
}

/** Go's time.Time JSON form (RFC 3339, fraction without trailing zeros) in the local zone; 0 is Go's zero time. */
export function formatGoTime(epochMs: number): string {
  if (epochMs === 0) return '0001-01-01T00:00:00Z';
  const date = new Date(epochMs);
  const offsetMinutes = -date.getTimezoneOffset();
  const local = new Date(epochMs + offsetMinutes * 60_000);
  let text =
    `${pad(local.getUTCFullYear(), 4)}-${pad(local.getUTCMonth() + 1)}-${pad(local.getUTCDate())}` +
    `T${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}:${pad(local.getUTCSeconds())}`;
  const milliseconds = local.getUTCMilliseconds();
  if (milliseconds !== 0) text += `.${pad(milliseconds, 3).replace(/0+$/, '')}`;
  if (offsetMinutes === 0) return `${text}Z`;
  const sign = offsetMinutes > 0 ? '+' : '-';
  const absolute = Math.abs(offsetMinutes);
  return `${text}${sign}${pad(Math.floor(absolute / 60))}:${pad(absolute % 60)}`;
}

const GO_TIME = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/;

/** Epoch milliseconds of an RFC 3339 time as Go writes it (nanoseconds are cut to milliseconds). */
export function parseGoTime(text: string): number {
  const match = GO_TIME.exec(text);
  if (match === null) throw new Error(`parsing time ${goQuote(text)}: not an RFC 3339 time`);
  const [, year, month, day, hour, minute, second, fraction = '', zone] = match;
  const date = new Date(0);
  date.setUTCFullYear(Number(year), Number(month) - 1, Number(day));
  date.setUTCHours(Number(hour), Number(minute), Number(second), Number(fraction.padEnd(3, '0').slice(0, 3)));
  let offsetMinutes = 0;
  if (zone !== 'Z') {
    offsetMinutes = (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * (zone[0] === '-' ? -1 : 1);
  }
  const epochMs = date.getTime() - offsetMinutes * 60_000;
  // Go's zero time (year 1) and anything before 1970 mean "never" here.
  return epochMs > 0 ? epochMs : 0;
}

/** The cache file's text, byte for byte as WAL-G's json.Marshal writes it. */
export function encodeStatusFile(statuses: StatusMap): string {
  const keys = [...statuses.keys()].sort(compareKeys);
  const entries = keys.map((key) => {
    const status = statuses.get(key)!;
    return (
      `${goJsonString(key)}:{"potential_aliveness":${goFloat(status.potentialAliveness)},` +
      `"actual_aliveness":${goFloat(status.actualAliveness)},"previous_aliveness":${status.wasAlive},` +
      `"updated":${goJsonString(formatGoTime(status.updated))}}`
    );
  });
  return `{${entries.join(',')}}`;
}

/** Go's float64 JSON form is ECMAScript's number form (Go chose it to match), so JSON.stringify writes it. */
function goFloat(value: number): string {
  return Number.isFinite(value) ? JSON.stringify(value) : '0';
}

/** Parses a cache file; keys without '#' are skipped, other damage throws. */
export function decodeStatusFile(text: string): StatusMap {
  const parsed: unknown = JSON.parse(text);
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new Error('the content is not a JSON object of storage statuses');
  }
  const statuses: StatusMap = new Map();
  for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (nameOfStatusKey(key) === undefined) continue;
    if (value === null || typeof value !== 'object') throw new Error(`the status of ${goQuote(key)} is not a JSON object`);
    const fields = value as Record<string, unknown>;
    const number = (field: string): number => {
      const found = fields[field];
      if (found === undefined || found === null) return 0;
      if (typeof found !== 'number') throw new Error(`${field} of ${goQuote(key)} is not a number`);
      return found;
    };
    const previous = fields.previous_aliveness;
    if (previous !== undefined && previous !== null && typeof previous !== 'boolean') {
      throw new Error(`previous_aliveness of ${goQuote(key)} is not a boolean`);
    }
    const updated = fields.updated;
    if (updated !== undefined && updated !== null && typeof updated !== 'string') {
      throw new Error(`updated of ${goQuote(key)} is not a time`);
    }
    statuses.set(key, {
      potentialAliveness: number('potential_aliveness'),
      actualAliveness: number('actual_aliveness'),
      wasAlive: previous === true,
      updated: typeof updated === 'string' ? parseGoTime(updated) : 0,
    });
  }
  return statuses;
}

// ---------------------------------------------------------------------------------------------------------------
// The shared places

/** WAL-G's cache file names in the home directory. */
export const READ_ONLY_CACHE_FILE_NAME = '.walg_storage_ro_status_cache';
export const READ_WRITE_CACHE_FILE_NAME = '.walg_storage_rw_status_cache';

/** Where the cache files live: $HOME as Go's os.UserHomeDir reads it, else /tmp. */
export function statusCacheDirectory(env: NodeJS.ProcessEnv): string {
  return env.HOME ? env.HOME : '/tmp';
}

/** The statuses one process shares between all its multi-storages (WAL-G's DefaultROMem / DefaultRWMem). */
export class SharedStatusMemory {
  statuses: StatusMap = new Map();
}

/**
 * The cache file shared between WAL-G and walnut runs. Reads and writes are synchronous: the file is small, and
 * one step of the cache must not interleave with another. Writes go to a temporary file renamed over the cache,
 * so a reader never sees half a file (WAL-G locks the file instead; Node has no flock).
 */
export class StatusCacheFile {
  readonly path: string;
  /** When the file was last written, in epoch ms (0 when it did not exist). */
  updatedAt: number;

  constructor(path: string) {
    this.path = path;
    try {
      this.updatedAt = statSync(path).mtimeMs;
    } catch {
      this.updatedAt = 0;
    }
  }

  read(): StatusMap {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (error) {
      throw new Error(`open cache file: ${pathErrorText('open', this.path, error)}`, { cause: error });
    }
    try {
      return decodeStatusFile(text);
    } catch (error) {
      throw new Error(`unmarshal cache file content: ${errorMessage(error)}`, { cause: error });
    }
  }

  write(statuses: StatusMap, now: number): void {
    const temporary = join(dirname(this.path), `.${basename(this.path)}.${temporaryNameHex(12)}.tmp`);
    try {
      writeFileSync(temporary, encodeStatusFile(statuses), { mode: 0o666, flag: 'wx' });
      renameSync(temporary, this.path);
    } catch (error) {
      try {
        unlinkSync(temporary);
      } catch {
        /* it was never created */
      }
      throw new Error(`write cache file: ${pathErrorText('write', this.path, error)}`, { cause: error });
    }
    this.updatedAt = now;
  }
}

const sharedMemories = new Map<string, SharedStatusMemory>();
const sharedFiles = new Map<string, StatusCacheFile>();

/** The process-wide memory for read-only or read-write statuses. */
export function sharedStatusMemory(kind: 'ro' | 'rw'): SharedStatusMemory {
  let memory = sharedMemories.get(kind);
  if (memory === undefined) {
    memory = new SharedStatusMemory();
    sharedMemories.set(kind, memory);
  }
  return memory;
}

/** The process-wide handle of one cache file (its "last written" time is remembered across multi-storages). */
export function sharedStatusFile(path: string): StatusCacheFile {
  let file = sharedFiles.get(path);
  if (file === undefined) {
    file = new StatusCacheFile(path);
    sharedFiles.set(path, file);
  }
  return file;
}

/** Forgets the process-wide statuses and file handles (tests start from a clean process this way). */
export function resetSharedStatusCaches(): void {
  sharedMemories.clear();
  sharedFiles.clear();
}

// ---------------------------------------------------------------------------------------------------------------
// The cache

/** The file is merged and rewritten only when it is older than this (WAL-G's flush timeout). */
export const FILE_FLUSH_INTERVAL_MS = 5 * 60 * 1000;

export interface StatusCacheOptions {
  /** Storage name → its status key, for every storage this cache may be asked about. */
  readonly keys: ReadonlyMap<string, string>;
  readonly ttlMs: number;
  readonly ema: EmaParams;
  readonly memory: SharedStatusMemory;
  /** Without a file only memory is used. */
  readonly file?: StatusCacheFile;
  readonly now?: () => number;
}

export class StatusCache {
  readonly #keys: ReadonlyMap<string, string>;
  readonly #ttlMs: number;
  readonly #ema: EmaParams;
  readonly #memory: SharedStatusMemory;
  readonly #file: StatusCacheFile | undefined;
  readonly #now: () => number;

  constructor(options: StatusCacheOptions) {
    validateEmaParams(options.ema);
    this.#keys = options.keys;
    this.#ttlMs = options.ttlMs;
    this.#ema = options.ema;
    this.#memory = options.memory;
    this.#file = options.file;
    this.#now = options.now ?? Date.now;
  }

  private keysFor(names: readonly string[]): string[] {
    return names.map((name) => {
      const key = this.#keys.get(name);
      if (key === undefined) throw new Error(`unknown storage ${goQuote(name)}`);
      return key;
    });
  }

  private isFresh(status: StorageStatus | undefined, now: number): boolean {
    return status !== undefined && now - status.updated <= this.#ttlMs;
  }

  private aliveMapOf(statuses: StatusMap, keys: readonly string[]): AliveMap {
    const aliveMap: AliveMap = new Map();
    for (const key of keys) {
      const status = statuses.get(key);
      if (status !== undefined) aliveMap.set(nameOfStatusKey(key)!, isAlive(status, this.#ema));
    }
    return aliveMap;
  }

  /**
   * The cached verdicts for `names`, split into fresh ones and outdated ones (which include storages never seen).
   * Memory answers alone when it has fresh statuses for all of them; otherwise the file is merged in.
   */
  read(names: readonly string[]): { relevant: AliveMap; outdated: AliveMap } {
    const keys = this.keysFor(names);
    const now = this.#now();
    const memory = this.#memory.statuses;
    if (memory.size > 0 && keys.every((key) => this.isFresh(memory.get(key), now))) {
      return { relevant: this.aliveMapOf(memory, keys), outdated: new Map() };
    }
    let fileStatuses: StatusMap = new Map();
    if (this.#file !== undefined) {
      try {
        fileStatuses = this.#file.read();
      } catch (error) {
        log.warn(`Failed to read storage status cache file ${goQuote(this.#file.path)}: ${errorMessage(error)}`);
      }
    }
    const merged = mergeByRelevance(memory, fileStatuses);
    this.#memory.statuses = merged;
    const relevant: AliveMap = new Map();
    const outdated: AliveMap = new Map();
    for (const key of keys) {
      const status = merged.get(key);
      const name = nameOfStatusKey(key)!;
      if (this.isFresh(status, now)) relevant.set(name, isAlive(status!, this.#ema));
      else outdated.set(name, isAlive(status ?? UNKNOWN_STATUS, this.#ema));
    }
    return { relevant, outdated };
  }

  /** Records explicit check verdicts and returns the verdicts now cached for `names`. */
  applyCheckResult(result: AliveMap, time: number, names: readonly string[]): AliveMap {
    const statuses: StatusMap = new Map(this.#memory.statuses);
    for (const [name, key] of this.#keys) {
      const alive = result.get(name);
      if (alive !== undefined) statuses.set(key, applyCheckResult(statuses.get(key) ?? UNKNOWN_STATUS, alive, time));
    }
    this.#memory.statuses = statuses;
    const aliveMap = this.aliveMapOf(statuses, this.keysFor(names));
    this.flushIfStale();
    return aliveMap;
  }

  /** Nudges a storage's score after an operation of `weight` succeeded or failed. Unknown names are ignored. */
  applyOperationResult(name: string, alive: boolean, weight: number): void {
    const key = this.#keys.get(name);
    if (key === undefined) return;
    const statuses = this.#memory.statuses;
    statuses.set(key, applyOperationResult(statuses.get(key) ?? UNKNOWN_STATUS, this.#ema, alive, weight, this.#now()));
    this.flushIfStale();
  }

  /** Merges memory into the file and writes it (done at close, and whenever the file is older than 5 minutes). */
  flush(): void {
    const file = this.#file;
    if (file === undefined) return;
    let fileStatuses: StatusMap = new Map();
    try {
      fileStatuses = file.read();
    } catch (error) {
      log.warn(`Failed to read storage status cache file to merge it with memory ${goQuote(file.path)}: ${errorMessage(error)}`);
    }
    try {
      file.write(mergeByRelevance(this.#memory.statuses, fileStatuses), this.#now());
    } catch (error) {
      log.warn(`Failed to flush storage status cache file: ${errorMessage(error)}`);
    }
  }

  private flushIfStale(): void {
    if (this.#file === undefined) return;
    if (this.#now() - this.#file.updatedAt < FILE_FLUSH_INTERVAL_MS) return;
    this.flush();
  }
}
