// Which storages the WAL commands use, chosen by src/multistorage as WAL-G's multi-storage chooses them: wal-push
// writes to the first alive storage (or the one --target-storage names), wal-fetch and wal-prefetch read from every
// alive storage, taking each object from the first that has it. Without WALG_FAILOVER_STORAGES this is the primary
// storage alone and costs no aliveness checks.

import type { Settings } from '../config/settings.ts';
import { firstFoundFolder } from '../multistorage/first-found-driver.ts';
import { DEFAULT_STORAGE_NAME, openStoragesForRead, openStoragesForWrite } from '../multistorage/multi-storage.ts';
import type { Folder } from '../storage/driver.ts';

export { DEFAULT_STORAGE_NAME };

export interface WalStorage {
  /** The storage root (wal_005/ is below it); for reads, every chosen storage seen as one. */
  readonly root: Folder;
  /** `default` or a WALG_FAILOVER_STORAGES name, as WAL-G logs it; for reads, the names in priority order. */
  readonly name: string;
  /** Saves the aliveness cache and closes every opened storage. */
  close(): Promise<void>;
}

/** The storage wal-push and the daemon's pushes write to. Configuration errors carry `configureErrorPrefix`. */
export async function openWalStorageForWrite(settings: Settings, targetStorage: string, configureErrorPrefix: string): Promise<WalStorage> {
  const selection = await openStoragesForWrite(settings, targetStorage, { configureErrorPrefix });
  return { root: selection.folder, name: selection.name, close: () => selection.close() };
}

/** The storages wal-fetch and wal-prefetch read from. */
export async function openWalStorageForRead(settings: Settings, targetStorage: string, configureErrorPrefix: string): Promise<WalStorage> {
  const selection = await openStoragesForRead(settings, targetStorage, { configureErrorPrefix });
  const root = selection.storages.length === 1 ? selection.storages[0].folder : firstFoundFolder(selection.storages);
  return { root, name: selection.storages.map((storage) => storage.name).join(' '), close: () => selection.close() };
}
