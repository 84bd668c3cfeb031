// Which storage the WAL commands use: the primary (`default`) or the one --target-storage names. A stand-in for
// WAL-G's multi-storage (failover aliveness checks are not done here): replace openWalStorage when that exists.

import type { Settings } from '../config/settings.ts';
import { WalgError } from '../errors.ts';
import { openPrimaryStorage } from '../objects/configured.ts';
import type { Folder } from '../storage/driver.ts';
import { openStorage } from '../storage/open.ts';

/** WAL-G's name for the primary storage. */
export const DEFAULT_STORAGE_NAME = 'default';

export interface WalStorage {
  /** The storage root (wal_005/ is below it). */
  readonly root: Folder;
  /** `default` or a WALG_FAILOVER_STORAGES name, as WAL-G logs it. */
  readonly name: string;
}

/**
 * Opens the storage a WAL command works on. An empty target means the first storage, which without aliveness
 * checks is always the primary; `default` is the primary; any other name must be a failover storage.
 */
export async function openWalStorage(settings: Settings, targetStorage: string): Promise<WalStorage> {
  if (targetStorage === '' || targetStorage === DEFAULT_STORAGE_NAME) {
    return { root: await openPrimaryStorage(settings), name: DEFAULT_STORAGE_NAME };
  }
  const scope = settings.failoverStorageScope(targetStorage.toLowerCase());
  const prefix = scope?.storagePrefix();
  if (scope === undefined || prefix === undefined) {
    throw new WalgError(
      `select storage "${targetStorage}" in multistorage folder: storage "${targetStorage}" is not configured: ` +
        `use "default" or a name from WALG_FAILOVER_STORAGES`,
    );
  }
  return { root: await openStorage(prefix, (name) => scope.storageSetting(name)), name: targetStorage };
}
