// The primary storage (`default`) plus WALG_FAILOVER_STORAGES, with aliveness checks and the status cache: what
// wal-push, wal-fetch, wal-prefetch, backup-push, backup-fetch, backup-list, delete and daemon use to pick the
// storage(s) they work on (WAL-G's ConfigureMultiStorage and multistorage.Use*Storage).

import { join } from 'node:path';
import { noStorageConfiguredError, type Settings } from '../config/settings.ts';
import { parseGoBool, parseGoFloat } from '../config/go-values.ts';
import { WalgError, errorMessage } from '../errors.ts';
import { Folder } from '../storage/driver.ts';
import { goQuote } from '../storage/go-text.ts';
import { openStorage, STORAGE_PREFIX_SETTING, type SettingLookup, type StoragePrefix } from '../storage/open.ts';
import { checkStoragesAlive } from './alive-check.ts';
import { AlwaysAliveCollector, CheckingCollector, type StatusCollector } from './collector.ts';
import { storageConfigHash } from './config-hash.ts';
import { ReportingStorageDriver } from './reporting-driver.ts';
import {
  DEFAULT_EMA_PARAMS,
  READ_ONLY_CACHE_FILE_NAME,
  READ_WRITE_CACHE_FILE_NAME,
  StatusCache,
  sharedStatusFile,
  sharedStatusMemory,
  statusCacheDirectory,
  statusKey,
  type EmaParams,
} from './status-cache.ts';

/** The primary storage's name; no failover storage may take it. */
export const DEFAULT_STORAGE_NAME = 'default';

/** WAL-G's error when no storage may be used. */
export const NO_ALIVE_STORAGES = 'no alive storages';

export interface NamedFolder {
  /** `default` or the failover storage's name (lower case, as the config file reader stores it). */
  readonly name: string;
  /** The storage root (descended into WALG_STORAGE_PREFIX). */
  readonly folder: Folder;
}

/** The failover settings of config.md §6, read the way WAL-G reads them. */
export interface MultiStorageConfig {
  /** WALG_FAILOVER_STORAGES_CHECK; default on exactly when failover storages are configured. */
  readonly aliveChecks: boolean;
  readonly checkTimeoutMs: number;
  /** WALG_FAILOVER_STORAGES_CHECK_SIZE: bytes the write check uploads. */
  readonly checkWriteBytes: number;
  readonly cacheLifetimeMs: number;
  readonly ema: EmaParams;
}

function settingValue(settings: Settings, name: string): string | undefined {
  const resolved = settings.lookup(name);
  return resolved === undefined ? undefined : resolved.value.replace(/[\r\n]+$/, '');
}

function wrapError(context: string, error: unknown): WalgError {
  return new WalgError(`${context}: ${errorMessage(error)}`, 1, { cause: error });
}

function floatSetting(settings: Settings, name: string, fallback: number, context: string): number {
  const value = settingValue(settings, name);
  if (value === undefined) return fallback;
  try {
    return parseGoFloat(value);
  } catch (error) {
    throw wrapError(`configure failover storages status cache: ${context}`, error);
  }
}

/** Reads the failover settings, with WAL-G's error wrapping. Only reads what WAL-G reads for the given choice. */
export function readMultiStorageConfig(settings: Settings, failoverCount: number, checkWrite: boolean): MultiStorageConfig {
  const checkText = settingValue(settings, 'WALG_FAILOVER_STORAGES_CHECK');
  let aliveChecks = failoverCount > 0;
  if (checkText !== undefined) {
    try {
      aliveChecks = parseGoBool(checkText);
    } catch (error) {
      throw wrapError('get failover storage check setting', error);
    }
  }
  if (!aliveChecks) {
    return { aliveChecks, checkTimeoutMs: 0, checkWriteBytes: 0, cacheLifetimeMs: 0, ema: DEFAULT_EMA_PARAMS };
  }
  let cacheLifetimeMs: number;
  try {
    cacheLifetimeMs = settings.requiredDurationMs('WALG_FAILOVER_STORAGES_CACHE_LIFETIME');
  } catch (error) {
    throw wrapError('configure failover storages status cache: get cache lifetime setting', error);
  }
  const ema: EmaParams = {
    aliveLimit: floatSetting(settings, 'WALG_FAILOVER_STORAGES_CACHE_EMA_ALIVE_LIMIT', DEFAULT_EMA_PARAMS.aliveLimit, 'get EMA alive limit setting'),
    deadLimit: floatSetting(settings, 'WALG_FAILOVER_STORAGES_CACHE_EMA_DEAD_LIMIT', DEFAULT_EMA_PARAMS.deadLimit, 'get EMA dead limit setting'),
    alphaAlive: {
      min: floatSetting(settings, 'WALG_FAILOVER_STORAGES_CACHE_EMA_ALPHA_ALIVE_MIN', DEFAULT_EMA_PARAMS.alphaAlive.min, 'get EMA alpha alive min setting'),
      max: floatSetting(settings, 'WALG_FAILOVER_STORAGES_CACHE_EMA_ALPHA_ALIVE_MAX', DEFAULT_EMA_PARAMS.alphaAlive.max, 'get EMA alpha alive max setting'),
    },
    alphaDead: {
      min: floatSetting(settings, 'WALG_FAILOVER_STORAGES_CACHE_EMA_ALPHA_DEAD_MIN', DEFAULT_EMA_PARAMS.alphaDead.min, 'get EMA alpha dead min setting'),
      max: floatSetting(settings, 'WALG_FAILOVER_STORAGES_CACHE_EMA_ALPHA_DEAD_MAX', DEFAULT_EMA_PARAMS.alphaDead.max, 'get EMA alpha dead max setting'),
    },
  };
  let checkTimeoutMs: number;
  try {
    checkTimeoutMs = settings.requiredDurationMs('WALG_FAILOVER_STORAGES_CHECK_TIMEOUT');
  } catch (error) {
    throw wrapError('get failover storage check timeout setting', error);
  }
  const checkWriteBytes = checkWrite ? settings.sizeInBytes('WALG_FAILOVER_STORAGES_CHECK_SIZE') : 0;
  return { aliveChecks, checkTimeoutMs, checkWriteBytes, cacheLifetimeMs, ema };
}

/** Opens one storage root from its prefix and setting lookups; openStorage in production. */
export type StorageOpener = (prefix: StoragePrefix, getSetting: SettingLookup) => Promise<Folder>;

export interface OpenMultiStorageOptions {
  /** true for commands that write (wal-push, backup-push, delete, daemon): checks then include an upload. */
  readonly checkWrite: boolean;
  /** Where the status cache files live (default: $HOME of the settings' environment, else /tmp). */
  readonly cacheDirectory?: string;
  /** How storages are opened (default openStorage); tests wrap drivers here. */
  readonly openFolder?: StorageOpener;
  /** Clock in epoch ms for the cache (tests). */
  readonly now?: () => number;
}

interface ConfiguredStorage {
  readonly name: string;
  readonly key: string;
  readonly folder: Folder;
}

async function closeFolders(folders: readonly Folder[]): Promise<void> {
  await Promise.allSettled(folders.map((folder) => folder.close()));
}

/** The primary storage, as WAL-G's ConfigureStorage (errors prefixed `configure primary storage: `). */
async function openPrimary(settings: Settings, open: StorageOpener): Promise<ConfiguredStorage> {
  try {
    const prefix = settings.storagePrefix();
    if (prefix === undefined) throw noStorageConfiguredError();
    const folder = await open(prefix, (name) => settings.storageSetting(name));
    const adapterSettings = settings.storageAdapterSettings(prefix.kind);
    // The key (an md5) only when the status cache needs it: without failover storages it never does, and node:crypto
    // costs a wal-push ~20 ms of CPU to load (docs/PERFORMANCE.md, session 5).
    let key: string | undefined;
    return {
      name: DEFAULT_STORAGE_NAME,
      get key() {
        return (key ??= statusKey(DEFAULT_STORAGE_NAME, storageConfigHash(prefix.kind, prefix.value, adapterSettings)));
      },
      folder,
    };
  } catch (error) {
    throw wrapError('configure primary storage', error);
  }
}

/**
 * WALG_FAILOVER_STORAGES, each opened like the primary but from its own section; WALG_STORAGE_PREFIX comes from
 * the main settings, as in WAL-G. One that cannot be opened fails them all.
 */
async function openFailovers(settings: Settings, open: StorageOpener): Promise<ConfiguredStorage[]> {
  const opened: ConfiguredStorage[] = [];
  try {
    const configured = settings.failoverStorages();
    if (configured.has(DEFAULT_STORAGE_NAME)) throw new WalgError(`'${DEFAULT_STORAGE_NAME}' storage name is reserved`);
    for (const name of configured.keys()) {
      const scope = settings.failoverStorageScope(name)!;
      try {
        const prefix = scope.storagePrefix();
        if (prefix === undefined) throw noStorageConfiguredError();
        const folder = await open(prefix, (setting) =>
          setting === STORAGE_PREFIX_SETTING ? settings.get(STORAGE_PREFIX_SETTING) : scope.storageSetting(setting),
        );
        const hash = storageConfigHash(prefix.kind, prefix.value, scope.storageAdapterSettings(prefix.kind));
        opened.push({ name, key: statusKey(name, hash), folder });
      } catch (error) {
        throw new WalgError(`failover storage ${name}: ${errorMessage(error)}`, 1, { cause: error });
      }
    }
  } catch (error) {
    await closeFolders(opened.map((storage) => storage.folder));
    throw wrapError('configure failover storages', error);
  }
  // WAL-G orders failovers by their cache key, `<name>#<hash>`: by name, except for names that differ only after
  // characters sorting below '#'.
  return opened.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** Every configured storage, the statistics about them, and the choice of storages for a command. */
export class MultiStorage {
  /** All configured storages in priority order: `default`, then the failovers. */
  readonly storages: readonly NamedFolder[];
  readonly config: MultiStorageConfig;
  readonly #collector: StatusCollector;
  readonly #rawFolders: readonly Folder[];
  #closed = false;

  constructor(storages: readonly NamedFolder[], config: MultiStorageConfig, collector: StatusCollector, rawFolders: readonly Folder[]) {
    this.storages = storages;
    this.config = config;
    this.#collector = collector;
    this.#rawFolders = rawFolders;
  }

  /** Names in priority order. */
  names(): string[] {
    return this.storages.map((storage) => storage.name);
  }

  private byName(name: string): NamedFolder {
    return this.storages.find((storage) => storage.name === name)!;
  }

  /** The first alive storage: `default` if alive, else the first alive failover. For commands that write. */
  async useFirstAlive(): Promise<NamedFolder> {
    let name: string | undefined;
    try {
      name = await this.#collector.firstAlive();
    } catch (error) {
      throw wrapError('select first alive storage in multistorage folder', error);
    }
    if (name === undefined) throw new WalgError(NO_ALIVE_STORAGES);
    return this.byName(name);
  }

  /** Every alive storage, in priority order. For commands that read ("first found wins") or list all storages. */
  async useAllAlive(): Promise<NamedFolder[]> {
    let names: string[];
    try {
      names = await this.#collector.allAlive();
    } catch (error) {
      throw wrapError('select all alive storages in multistorage folder', error);
    }
    if (names.length === 0) throw new WalgError(NO_ALIVE_STORAGES);
    return names.map((name) => this.byName(name));
  }

  /** The named storage (`--target-storage`), which must be alive. */
  async useSpecific(name: string): Promise<NamedFolder> {
    let alive: boolean;
    try {
      alive = await this.#collector.specific(name);
    } catch (error) {
      throw wrapError(`select storage ${goQuote(name)} in multistorage folder`, error);
    }
    if (!alive) throw new WalgError(NO_ALIVE_STORAGES);
    return this.byName(name);
  }

  /** Saves the status cache file and closes every storage. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#collector.close();
    } finally {
      await closeFolders(this.#rawFolders);
    }
  }
}

/**
 * WAL-G's ConfigureMultiStorage: opens the primary storage and every failover storage and prepares the aliveness
 * statistics (read-only or read-write checks, cache in memory and in the file). Nothing is checked yet: that
 * happens when a command picks storages (useFirstAlive, useAllAlive, useSpecific).
 */
export async function openMultiStorage(settings: Settings, options: OpenMultiStorageOptions): Promise<MultiStorage> {
  const open = options.openFolder ?? openStorage;
  const primary = await openPrimary(settings, open);
  let failovers: ConfiguredStorage[];
  try {
    failovers = await openFailovers(settings, open);
  } catch (error) {
    await primary.folder.close().catch(() => undefined);
    throw error;
  }
  const configured = [primary, ...failovers];
  const rawFolders = configured.map((storage) => storage.folder);
  try {
    const config = readMultiStorageConfig(settings, failovers.length, options.checkWrite);
    const names = configured.map((storage) => storage.name);
    if (!config.aliveChecks) {
      const storages = configured.map(({ name, folder }) => ({ name, folder }));
      return new MultiStorage(storages, config, new AlwaysAliveCollector(names), rawFolders);
    }
    const kind = options.checkWrite ? 'rw' : 'ro';
    const directory = options.cacheDirectory ?? statusCacheDirectory(settings.env);
    const file = sharedStatusFile(join(directory, options.checkWrite ? READ_WRITE_CACHE_FILE_NAME : READ_ONLY_CACHE_FILE_NAME));
    let cache: StatusCache;
    try {
      cache = new StatusCache({
        keys: new Map(configured.map((storage) => [storage.name, storage.key])),
        ttlMs: config.cacheLifetimeMs,
        ema: config.ema,
        memory: sharedStatusMemory(kind),
        file,
        now: options.now,
      });
    } catch (error) {
      throw wrapError('configure stats collector: init storage status cache: invalid EMA params', error);
    }
    const foldersByName = new Map(configured.map((storage) => [storage.name, storage.folder]));
    const checkOptions = {
      timeoutMs: config.checkTimeoutMs,
      writeBytes: options.checkWrite ? config.checkWriteBytes : undefined,
    };
    const collector = new CheckingCollector(
      names,
      cache,
      (toCheck) => checkStoragesAlive(foldersByName, toCheck, checkOptions),
      options.now,
    );
    // Operations through the chosen folders feed the statistics; the checks above use the plain folders.
    const storages = configured.map(({ name, folder }) => ({
      name,
      folder: new Folder(
        new ReportingStorageDriver(folder.driver, (weight, success) => collector.report(name, weight, success)),
        folder.path,
      ),
    }));
    return new MultiStorage(storages, config, collector, rawFolders);
  } catch (error) {
    await closeFolders(rawFolders);
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// What commands call

/** Go's %v of a string slice: `[default failover]`. */
export function describeStorageNames(names: readonly string[]): string {
  return `[${names.join(' ')}]`;
}

export interface StorageSelection {
  /** The chosen storages in priority order; exactly one for writes and for `--target-storage`. */
  readonly storages: readonly NamedFolder[];
  /** The multi-storage they came from (a daemon keeps it to choose again per request). */
  readonly multiStorage: MultiStorage;
  /** Saves the status cache and closes every opened storage. */
  close(): Promise<void>;
}

export interface WriteSelection extends StorageSelection {
  /** The storage to write to. */
  readonly name: string;
  readonly folder: Folder;
}

export interface SelectStoragesOptions extends Omit<OpenMultiStorageOptions, 'checkWrite'> {
  /**
   * Put before configuration errors (not selection errors), as some commands do: wal-push, wal-fetch,
   * wal-prefetch, backup-push and delete use `Failed to configure multi-storage: `.
   */
  readonly configureErrorPrefix?: string;
}

async function openForSelection(settings: Settings, checkWrite: boolean, options: SelectStoragesOptions): Promise<MultiStorage> {
  try {
    return await openMultiStorage(settings, { ...options, checkWrite });
  } catch (error) {
    if (options.configureErrorPrefix === undefined) throw error;
    throw new WalgError(`${options.configureErrorPrefix}${errorMessage(error)}`, 1, { cause: error });
  }
}

async function choose<T>(multiStorage: MultiStorage, pick: () => Promise<T>): Promise<T> {
  try {
    return await pick();
  } catch (error) {
    await multiStorage.close().catch(() => undefined);
    throw error;
  }
}

/**
 * For wal-push, backup-push (and the daemon's pushes): read-write checks, then `targetStorage` if given (it must be
 * alive, else `no alive storages`) or the first alive storage. The command logs the choice, e.g.
 * `Files will be uploaded to storage: <name>`.
 */
export async function openStoragesForWrite(
  settings: Settings,
  targetStorage = '',
  options: SelectStoragesOptions = {},
): Promise<WriteSelection> {
  const multiStorage = await openForSelection(settings, true, options);
  const chosen = await choose(multiStorage, () =>
    targetStorage === '' ? multiStorage.useFirstAlive() : multiStorage.useSpecific(targetStorage),
  );
  return {
    name: chosen.name,
    folder: chosen.folder,
    storages: [chosen],
    multiStorage,
    close: () => multiStorage.close(),
  };
}

/**
 * For wal-fetch, wal-prefetch, backup-fetch, backup-list: read-only checks, then `targetStorage` alone (alive) or
 * every alive storage in priority order. Reads take the first storage that has the object (findObject); listings
 * unite all of them (listObjects). `checkWrite: true` is for delete, which checks writes but uses all storages.
 */
export async function openStoragesForRead(
  settings: Settings,
  targetStorage = '',
  options: SelectStoragesOptions & { readonly checkWrite?: boolean } = {},
): Promise<StorageSelection> {
  const multiStorage = await openForSelection(settings, options.checkWrite ?? false, options);
  const storages = await choose(multiStorage, async () =>
    targetStorage === '' ? multiStorage.useAllAlive() : [await multiStorage.useSpecific(targetStorage)],
  );
  return { storages, multiStorage, close: () => multiStorage.close() };
}
