// The storage-blind driver interface every backend implements, and the Folder view that everything above storage uses.
//
// A driver sees keys relative to its own root (the prefix's bucket path or directory); a Folder adds a sub-path,
// the way WAL-G's GetSubFolder does, so code above storage never builds full keys itself. Retry, rate limits and
// logging are meant to be wrappers that implement StorageDriver around another StorageDriver.

import type { Readable } from 'node:stream';
import { WalgError } from '../errors.ts';

/** One stored object. `key` is relative to the root of whoever listed it (driver root or Folder). */
export interface ObjectInfo {
  kind: 'object';
  key: string;
  size: number;
  modified: Date;
  /** Epoch nanoseconds of `modified`, when the backend knows more than milliseconds (the file backend does). */
  modifiedNanoseconds?: bigint;
}

/** A sub-folder seen by a non-recursive listing; `key` ends with '/'. */
export interface FolderInfo {
  kind: 'folder';
  key: string;
}

export type ListEntry = ObjectInfo | FolderInfo;

export interface ListOptions {
  /** true: every object below the prefix, no folder entries (S3 listing without a delimiter). */
  recursive?: boolean;
}

export interface GetOptions {
  /** First byte to read; reading at or past the end yields an empty stream. */
  offset?: number;
  /** Bytes to read at most; fewer come back when the object ends first. */
  length?: number;
}

export interface PutOptions {
  /** Expected size in bytes, when known: lets cloud drivers pick part sizes. Never trusted for correctness. */
  sizeHint?: number;
  /** Default true (WAL-G always overwrites). false: fail with ObjectExistsError if the key already exists. */
  overwrite?: boolean;
}

/**
 * What a storage backend must do. Contract (checked by tests/helpers/storage-conformance.ts):
 * - list(prefix): prefix is '' or a folder path ending with '/'; entries come in key order (Unicode code point
 *   order, which is S3's UTF-8 byte order); keys are relative to the driver root; a missing folder lists empty.
 * - get: a missing key rejects with NotFoundError; the stream is read in bounded chunks.
 * - put: streams the body; no reader ever sees the key with partial content, and a failed put leaves the key
 *   as it was. A body error rejects put with that same error.
 * - deleteMany: missing keys are not an error; batches as the backend needs.
 * - copy: a missing source rejects with NotFoundError; the destination is overwritten.
 */
export interface StorageDriver {
  /** Short backend name for messages: 'file', 's3', ... */
  readonly kind: string;
  list(prefix: string, options?: ListOptions): AsyncIterable<ListEntry>;
  stat(key: string): Promise<ObjectInfo | undefined>;
  get(key: string, options?: GetOptions): Promise<Readable>;
  put(key: string, body: Readable, options?: PutOptions): Promise<void>;
  deleteMany(keys: string[]): Promise<void>;
  copy(sourceKey: string, destinationKey: string): Promise<void>;
  close(): Promise<void>;
}

/** The object does not exist. The message is WAL-G's: `object '<path>' not found in storage`. */
export class NotFoundError extends WalgError {
  readonly key: string;
  /** @param displayPath what WAL-G prints for this backend (the full file path, the bucket key, ...). */
  constructor(key: string, displayPath = key) {
    super(`object '${displayPath}' not found in storage`);
    this.name = 'NotFoundError';
    this.key = key;
  }
}

/** put with overwrite: false found the key already taken. */
export class ObjectExistsError extends WalgError {
  readonly key: string;
  constructor(key: string, displayPath = key) {
    super(`object '${displayPath}' already exists in storage`);
    this.name = 'ObjectExistsError';
    this.key = key;
  }
}

/**
 * WAL-G's storage.JoinPath: each part loses its leading and trailing '/', empty parts are skipped, the rest are
 * joined with '/'. JoinPath('/a/', 'b/c/') is 'a/b/c'.
 */
export function joinPath(...parts: string[]): string {
  const kept: string[] = [];
  for (const part of parts) {
    const trimmed = trimSlashes(part);
    if (trimmed !== '') kept.push(trimmed);
  }
  return kept.join('/');
}

/** A folder path in its canonical form: '' for the root, otherwise no leading '/' and exactly one trailing '/'. */
export function folderPath(path: string): string {
  const joined = joinPath(path);
  return joined === '' ? '' : `${joined}/`;
}

export function trimSlashes(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && text.charCodeAt(start) === 0x2f) start++;
  while (end > start && text.charCodeAt(end - 1) === 0x2f) end--;
  return text.slice(start, end);
}

/**
 * Orders keys as S3, GCS and Azure list them: by UTF-8 bytes, which is Unicode code point order. Plain `<` on JS
 * strings compares UTF-16 units and disagrees only where a surrogate pair meets U+E000..U+FFFF; shift those apart.
 */
export function compareKeys(a: string, b: string): number {
  if (a === b) return 0;
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

function codePointRank(unit: number): number {
  if (unit < 0xd800) return unit;
  return unit >= 0xe000 ? unit - 0x800 : unit + 0x2000;
}

/** Rejects offsets and lengths that are not whole non-negative numbers, before any driver sees them. */
export function checkRange(key: string, options: GetOptions | undefined): { offset: number; length: number | undefined } {
  const offset = options?.offset ?? 0;
  const length = options?.length;
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new WalgError(`read ${key}: offset ${offset} is not a whole number of bytes >= 0`);
  }
  if (length !== undefined && (!Number.isSafeInteger(length) || length < 0)) {
    throw new WalgError(`read ${key}: length ${length} is not a whole number of bytes >= 0`);
  }
  return { offset, length };
}

/**
 * A place in a storage: the driver plus a sub-path. Keys given to and returned by a Folder are relative to it,
 * like WAL-G's storage.Folder. Sub-folders share the driver; close() on any of them closes that shared driver.
 */
export class Folder {
  readonly driver: StorageDriver;
  /** Path from the driver root: '' or 'a/b/' (always ends with '/'). */
  readonly path: string;

  constructor(driver: StorageDriver, path = '') {
    this.driver = driver;
    this.path = folderPath(path);
  }

  /** WAL-G's GetSubFolder: a handle only, nothing is created. Slashes around the path are ignored. */
  subFolder(relativePath: string): Folder {
    return new Folder(this.driver, joinPath(this.path, relativePath));
  }

  /** The key the driver sees for a key relative to this folder. */
  driverKey(key: string): string {
    return this.path + key;
  }

  /** Entries under `prefix` (a folder path relative to this folder; '' = this folder), keys relative to this folder. */
  async *list(prefix = '', options: ListOptions = {}): AsyncIterable<ListEntry> {
    const cut = this.path.length;
    for await (const entry of this.driver.list(this.path + folderPath(prefix), options)) {
      if (entry.kind === 'object') {
        yield { kind: 'object', key: entry.key.slice(cut), size: entry.size, modified: entry.modified, modifiedNanoseconds: entry.modifiedNanoseconds };
      } else {
        yield { kind: 'folder', key: entry.key.slice(cut) };
      }
    }
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    const info = await this.driver.stat(this.path + key);
    if (info === undefined) return undefined;
    return { kind: 'object', key, size: info.size, modified: info.modified, modifiedNanoseconds: info.modifiedNanoseconds };
  }

  async exists(key: string): Promise<boolean> {
    return (await this.driver.stat(this.path + key)) !== undefined;
  }

  get(key: string, options?: GetOptions): Promise<Readable> {
    return this.driver.get(this.path + key, options);
  }

  put(key: string, body: Readable, options?: PutOptions): Promise<void> {
    return this.driver.put(this.path + key, body, options);
  }

  deleteMany(keys: string[]): Promise<void> {
    if (keys.length === 0) return Promise.resolve();
    return this.driver.deleteMany(keys.map((key) => this.path + key));
  }

  copy(sourceKey: string, destinationKey: string): Promise<void> {
    return this.driver.copy(this.path + sourceKey, this.path + destinationKey);
  }

  close(): Promise<void> {
    return this.driver.close();
  }
}
