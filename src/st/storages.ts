// Which storage an `st` command works on (its --target, st transfer's --source): `default` (the primary storage),
// a WALG_FAILOVER_STORAGES name, or `all`; with WAL-G's messages (internal/multistorage/exec).

import { noStorageConfiguredError, type Settings } from '../config/settings.ts';
import { WalgError, errorMessage } from '../errors.ts';
import { log } from '../log/logger.ts';
import type { Folder } from '../storage/driver.ts';
import { goQuote } from '../storage/go-text.ts';
import { openStorage, STORAGE_PREFIX_SETTING } from '../storage/open.ts';

export const DEFAULT_STORAGE_NAME = 'default';
export const ALL_STORAGES_NAME = 'all';

export interface NamedStorage {
  readonly name: string;
  /** The storage root (descended into WALG_STORAGE_PREFIX). */
  readonly folder: Folder;
}

/** Opens the primary storage; without any prefix setting this is WAL-G's "No storage is configured now" error. */
export async function openPrimary(settings: Settings): Promise<Folder> {
  const prefix = settings.storagePrefix();
  if (prefix === undefined) throw noStorageConfiguredError();
  return openStorage(prefix, (name) => settings.storageSetting(name));
}

async function closeAll(storages: readonly NamedStorage[]): Promise<void> {
  for (const storage of storages) await storage.folder.close().catch(() => undefined);
}

/**
 * Opens every WALG_FAILOVER_STORAGES entry, sorted by name, as WAL-G's ConfigureFailoverStorages does: one that
 * cannot be opened fails them all (`failover storage <name>: <reason>`). WALG_STORAGE_PREFIX comes from the main
 * settings, as in WAL-G, where it wraps every storage root.
 */
export async function openFailoverStorages(settings: Settings): Promise<NamedStorage[]> {
  const configured = settings.failoverStorages();
  if (configured.has(DEFAULT_STORAGE_NAME)) throw new WalgError(`'${DEFAULT_STORAGE_NAME}' storage name is reserved`);
  const opened: NamedStorage[] = [];
  for (const name of configured.keys()) {
    const scope = settings.failoverStorageScope(name)!;
    try {
      const prefix = scope.storagePrefix();
      if (prefix === undefined) throw noStorageConfiguredError();
      const folder = await openStorage(prefix, (setting) =>
        setting === STORAGE_PREFIX_SETTING ? settings.get(STORAGE_PREFIX_SETTING) : scope.storageSetting(setting),
      );
      opened.push({ name, folder });
    } catch (error) {
      await closeAll(opened);
      throw new WalgError(`failover storage ${name}: ${errorMessage(error)}`, 1, { cause: error });
    }
  }
  return opened;
}

/** WAL-G's exec.ConfigureStorage: the storage called `name` (not `all`), with WAL-G's "not found" message. */
export async function openNamedStorage(settings: Settings, name: string): Promise<Folder> {
  if (name === ALL_STORAGES_NAME) throw new WalgError("a specific storage name was expected instead of 'all'");
  if (name === DEFAULT_STORAGE_NAME) return openPrimary(settings);
  const failovers = await openFailoverStorages(settings);
  const found = failovers.find((storage) => storage.name === name);
  await closeAll(failovers.filter((storage) => storage !== found));
  if (found !== undefined) return found.folder;
  const available = [DEFAULT_STORAGE_NAME, ...failovers.map((storage) => storage.name)];
  throw new WalgError(`storage with name ${goQuote(name)} is not found, available storages: [${available.join(' ')}]`);
}

/**
 * WAL-G's exec.OnStorage: runs `action` on the named storage's root, or on every storage for `all`. Opening a
 * named storage fails as `failed to init folder for storage "<name>": <reason>`.
 */
export async function onStorage(settings: Settings, name: string, action: (folder: Folder) => Promise<void>): Promise<void> {
  if (name === ALL_STORAGES_NAME) return onAllStorages(settings, action);
  let folder: Folder;
  try {
    folder = await openNamedStorage(settings, name);
  } catch (error) {
    throw new WalgError(`failed to init folder for storage ${goQuote(name)}: ${errorMessage(error)}`, 1, { cause: error });
  }
  try {
    await action(folder);
  } finally {
    await folder.close().catch(() => undefined);
  }
}

/**
 * WAL-G's exec.OnAllStorages: the primary storage, then the failovers by name, each announced with
 * `storage <name>`; a failure is logged and the next storage runs. Fails with `all storages failed` only when
 * none succeeded.
 */
async function onAllStorages(settings: Settings, action: (folder: Folder) => Promise<void>): Promise<void> {
  const failovers = await openFailoverStorages(settings);
  let primary: Folder;
  try {
    primary = await openPrimary(settings);
  } catch (error) {
    await closeAll(failovers);
    throw error;
  }
  const storages: NamedStorage[] = [{ name: DEFAULT_STORAGE_NAME, folder: primary }, ...failovers];
  let succeeded = false;
  try {
    for (const storage of storages) {
      log.info(`storage ${storage.name}`);
      try {
        await action(storage.folder);
        succeeded = true;
      } catch (error) {
        log.error(errorMessage(error));
      }
    }
  } finally {
    await closeAll(storages);
  }
  if (!succeeded) throw new WalgError('all storages failed');
}
