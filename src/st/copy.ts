// `st copy`: copies every object (or those under a name prefix) from the storage one config file describes to the
// storage another describes, optionally decrypting on the way out and encrypting on the way in.

import { PassThrough } from 'node:stream';
import { readSettingsFile, noStorageConfiguredError, type Settings } from '../config/settings.ts';
import type { Crypter } from '../crypto/crypter.ts';
import { crypterFromSettings } from '../crypto/select-crypter.ts';
import { WalgError } from '../errors.ts';
import { log } from '../log/logger.ts';
import { configuredCrypter } from '../objects/configured.ts';
import type { Folder, ObjectInfo } from '../storage/driver.ts';
import { openStorage, STORAGE_PREFIX_SETTING } from '../storage/open.ts';
import type { Filter } from '../stream/filter.ts';
import { pushPipeline } from '../stream/pipeline.ts';
import { listRecursively } from './listing.ts';

/** WAL-G copies eight objects at a time. */
export const COPY_CONCURRENCY = 8;

export interface CopyOptions {
  /** --from and --to: config files; '' searches the home directory like --config. */
  readonly fromConfig: string;
  readonly toConfig: string;
  /** Only objects whose path starts with this (plain string prefix, not a folder). */
  readonly prefix: string;
  /** -d: decrypt what is read from the source. */
  readonly decryptSource: boolean;
  /** -e (--encrypt-source): encrypt what is written with the target config's crypter. */
  readonly encryptTarget: boolean;
}

export interface ConfiguredStorage {
  readonly settings: Settings;
  readonly folder: Folder;
}

/**
 * WAL-G's StorageFromConfig: the storage the file's prefix setting names, with the file's adapter settings (and
 * bare ones from the main settings). WALG_STORAGE_PREFIX does not apply here, as in WAL-G.
 */
export async function storageFromConfig(path: string, main: Settings): Promise<ConfiguredStorage> {
  const settings = readSettingsFile(path, { global: main });
  try {
    const prefix = settings.storagePrefix();
    if (prefix === undefined) throw noStorageConfiguredError();
    const folder = await openStorage(prefix, (name) => (name === STORAGE_PREFIX_SETTING ? undefined : settings.storageSetting(name)));
    return { settings, folder };
  } catch (error) {
    log.error(`Failed configure folder according to config ${path}`);
    throw error;
  }
}

/**
 * The crypter that -d decrypts with. WAL-G uses the main settings' crypter (env and --config), which does nothing
 * when those name no key; then we use the source config's crypter, which is what -d asks for.
 */
function sourceCrypter(main: Settings, source: Settings): Crypter | undefined {
  return configuredCrypter(main) ?? crypterFromSettings((name) => source.get(name));
}

export async function copyOne(from: Folder, to: Folder, object: ObjectInfo, filters: readonly Filter[]): Promise<void> {
  const body = await from.get(object.key);
  const tail = new PassThrough({ highWaterMark: 1024 * 1024 });
  const flowing = pushPipeline(body, filters, tail);
  try {
    await Promise.all([to.put(object.key, tail, { sizeHint: filters.length === 0 ? object.size : undefined }), flowing]);
  } catch (error) {
    body.destroy();
    tail.destroy();
    throw error;
  }
  log.info(`Copied '${object.key}' from folder '${from.path}' to '${object.key}' in folder '${to.path}'.`);
}

/** Runs `work` over the items, `limit` at a time; the first failure stops new work and is thrown once all settle. */
export async function forEachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const item = items[next++];
      try {
        await work(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure !== undefined) throw failure.error;
}

/** `st copy`: lists the source, filters by prefix, copies eight at a time, and reports the count. */
export async function copyObjects(main: Settings, options: CopyOptions): Promise<void> {
  log.info(`Collecting files with prefix ${options.prefix}.`);
  const from = await storageFromConfig(options.fromConfig, main);
  let to: ConfiguredStorage | undefined;
  try {
    to = await storageFromConfig(options.toConfig, main);
    const objects = (await listRecursively(from.folder)).filter((object) => object.key.startsWith(options.prefix));
    const filters: Filter[] = [];
    if (options.decryptSource) {
      const crypter = sourceCrypter(main, from.settings);
      if (crypter !== undefined) filters.push(() => crypter.decrypter());
    }
    if (options.encryptTarget) {
      const crypter = crypterFromSettings((name) => to!.settings.get(name));
      if (crypter !== undefined) filters.push(() => crypter.encrypter());
    }
    if (log.isDebug()) log.debug(`copying files ${objects.map((object) => object.key).join(',')}\n`);
    const target = to.folder;
    await forEachLimited(objects, COPY_CONCURRENCY, (object) => copyOne(from.folder, target, object, filters));
    log.info(`Successfully copied ${objects.length} objects`);
  } catch (error) {
    if (error instanceof WalgError || !(error instanceof Error)) throw error;
    throw new WalgError(error.message, 1, { cause: error });
  } finally {
    await from.folder.close().catch(() => undefined);
    await to?.folder.close().catch(() => undefined);
  }
}
