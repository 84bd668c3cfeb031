// The storages a backup command searches (the primary one, named `default`, plus the alive WALG_FAILOVER_STORAGES,
// chosen by src/multistorage), united the way WAL-G's multistorage folder unites them: listings concatenated and
// tagged with the storage name, an object read from the first storage that has it.

import type { Settings } from '../config/settings.ts';
import { WalgError } from '../errors.ts';
import { findObject } from '../multistorage/lookup.ts';
import { openStoragesForRead } from '../multistorage/multi-storage.ts';
import type { Folder, ObjectInfo } from '../storage/driver.ts';

export { DEFAULT_STORAGE_NAME } from '../multistorage/multi-storage.ts';

export interface NamedStorage {
  readonly name: string;
  /** The storage root (after WALG_STORAGE_PREFIX etc.). */
  readonly root: Folder;
}

/** An object found in one of the storages; `key` is relative to the folder that was listed. */
export interface StoredObject extends ObjectInfo {
  readonly storageName: string;
}

export class StorageSet {
  readonly storages: readonly NamedStorage[];
  private readonly closeAll: () => Promise<void>;

  constructor(storages: readonly NamedStorage[], closeAll: () => Promise<void> = async () => {}) {
    this.storages = storages;
    this.closeAll = closeAll;
  }

  /** Names in use, as WAL-G prints them in `[default failover1]`. */
  names(): string[] {
    return this.storages.map((storage) => storage.name);
  }

  /** `[default]`, Go's %v of the used storage names. */
  describe(): string {
    return `[${this.names().join(' ')}]`;
  }

  storage(name: string): NamedStorage {
    const found = this.storages.find((storage) => storage.name === name);
    if (found === undefined) throw new WalgError(`storage "${name}" is not in use here`);
    return found;
  }

  /** Objects directly inside `folderPath` of every storage (no sub-folders), storage by storage. */
  async listObjects(folderPath: string): Promise<StoredObject[]> {
    const objects: StoredObject[] = [];
    for (const storage of this.storages) {
      for await (const entry of storage.root.subFolder(folderPath).list('')) {
        if (entry.kind === 'object') objects.push({ ...entry, storageName: storage.name });
      }
    }
    return objects;
  }

  /** The first storage holding `key` (WAL-G's "exists in any" policy), or undefined. */
  async findObject(key: string): Promise<NamedStorage | undefined> {
    const found = await findObject(this.storages.map((storage) => ({ name: storage.name, folder: storage.root })), key);
    return found === undefined ? undefined : this.storage(found.storage.name);
  }

  async close(): Promise<void> {
    await this.closeAll();
  }
}

/**
 * The storages a backup command reads: every alive one (or only `targetStorage`), chosen by src/multistorage with
 * WAL-G's aliveness checks. `checkWrite` is for delete, whose checks include an upload.
 */
export async function openStorageSetFor(settings: Settings, targetStorage: string, options: { checkWrite?: boolean; configureErrorPrefix?: string } = {}): Promise<StorageSet> {
  const selection = await openStoragesForRead(settings, targetStorage, options);
  return new StorageSet(
    selection.storages.map((storage) => ({ name: storage.name, root: storage.folder })),
    () => selection.close(),
  );
}
