// The chosen storages seen as one read-only storage, as WAL-G's multi-storage folder reads them for wal-fetch and
// wal-prefetch: an object comes from the first storage (in priority order) that has it, listings are merged.

import { WalgError } from '../errors.ts';
import { Folder, NotFoundError } from '../storage/driver.ts';
import type { GetOptions, ListEntry, ListOptions, ObjectInfo, StorageDriver } from '../storage/driver.ts';
import type { Readable } from 'node:stream';
import { findObject, listMerged } from './lookup.ts';
import type { NamedFolder } from './multi-storage.ts';

export class FirstFoundDriver implements StorageDriver {
  readonly kind: string;
  readonly #storages: readonly NamedFolder[];

  constructor(storages: readonly NamedFolder[]) {
    this.#storages = storages;
    this.kind = storages.length === 1 ? storages[0].folder.driver.kind : 'multistorage';
  }

  async *list(prefix: string, options?: ListOptions): AsyncIterable<ListEntry> {
    for await (const { entry } of listMerged(this.#storages, prefix, options)) yield entry;
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    return (await findObject(this.#storages, key))?.info;
  }

  async get(key: string, options?: GetOptions): Promise<Readable> {
    const found = await findObject(this.#storages, key);
    if (found === undefined) throw new NotFoundError(key);
    return found.storage.folder.get(key, options);
  }

  put(key: string): Promise<void> {
    return Promise.reject(new WalgError(`${key}: the storages of a read-only command cannot be written to`));
  }

  deleteMany(keys: string[]): Promise<void> {
    return Promise.reject(new WalgError(`${keys[0] ?? ''}: the storages of a read-only command cannot be written to`));
  }

  copy(sourceKey: string): Promise<void> {
    return Promise.reject(new WalgError(`${sourceKey}: the storages of a read-only command cannot be written to`));
  }

  async close(): Promise<void> {}
}

/** A Folder over the storages, rooted where each storage's folder is. */
export function firstFoundFolder(storages: readonly NamedFolder[]): Folder {
  return new Folder(new FirstFoundDriver(storages), '');
}
