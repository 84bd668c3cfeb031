// Turns the chosen prefix setting into a ready Folder: picks the driver, applies WALG_STORAGE_PREFIX.

import { WalgError, errorMessage } from '../errors.ts';
import { Folder } from './driver.ts';
import type { StorageDriver } from './driver.ts';
import { openFileStorage } from './file.ts';
import { withRetryPolicy } from './retry.ts';
import { withNetworkRateLimit } from './rate-limit.ts';
import { goQuote, parseGoBool } from './go-text.ts';
import { parseStoragePrefix } from './prefix.ts';
import type { StorageKind } from './prefix.ts';

/** Which prefix setting won (config.md §3.1) and its value. */
export interface StoragePrefix {
  kind: StorageKind;
  value: string;
}

/**
 * Reads a setting for the storage adapter. Callers resolve WAL-G's alias rule (config.md §3.2: `X`, then
 * `WALG_X`, then `WALE_X`, then the global value) before answering; undefined or '' means unset.
 */
export type SettingLookup = (name: string) => string | undefined;

export const STORAGE_PREFIX_SETTING = 'WALG_STORAGE_PREFIX';

/**
 * Opens the storage and returns its root Folder, descended into WALG_STORAGE_PREFIX when that is set.
 * Errors read like WAL-G's: `configure storage with prefix "<value>": <reason>`.
 */
export async function openStorage(prefix: StoragePrefix, getSetting: SettingLookup): Promise<Folder> {
  // Retries and the network rate limit wrap every driver (restic-style decorators, not code inside drivers).
  const driver = withNetworkRateLimit(withRetryPolicy(await openDriver(prefix, getSetting), prefix.kind));
  const root = new Folder(driver);
  const storagePrefix = getSetting(STORAGE_PREFIX_SETTING);
  return storagePrefix ? root.subFolder(storagePrefix) : root;
}

async function openDriver(prefix: StoragePrefix, getSetting: SettingLookup): Promise<StorageDriver> {
  try {
    if (prefix.kind === 'file') return await openFileStorage(prefix.value);
    if (prefix.kind === 's3') return await (await import('./s3.ts')).openS3Storage(prefix.value, getSetting);
    if (prefix.kind === 'swift') return await (await import('./swift.ts')).openSwiftStorage(prefix.value, getSetting);
    if (prefix.kind === 'gs') return await (await import('./gcs.ts')).openGcsStorage(prefix.value, getSetting);
    if (prefix.kind === 'az') return await (await import('./azure.ts')).openAzureStorage(prefix.value, getSetting);
    if (prefix.kind === 'ssh') return await (await import('./sftp.ts')).openSftpStorage(prefix.value, getSetting);
    // Parse now so a malformed prefix is reported in WAL-G's words even before the driver exists.
    parseStoragePrefix(prefix.kind, prefix.value, { gcsNormalizePrefix: gcsNormalizePrefix(prefix.kind, getSetting) });
  } catch (error) {
    throw new WalgError(`configure storage with prefix ${goQuote(prefix.value)}: ${errorMessage(error)}`, 1, {
      cause: error,
    });
  }
  throw new WalgError(`${prefix.kind} storage: not implemented yet`);
}

function gcsNormalizePrefix(kind: StorageKind, getSetting: SettingLookup): boolean | undefined {
  if (kind !== 'gs') return undefined;
  const text = getSetting('GCS_NORMALIZE_PREFIX');
  if (text === undefined || text === '') return undefined;
  const value = parseGoBool(text);
  if (value === undefined) {
    throw new WalgError(
      `setting "GCS_NORMALIZE_PREFIX" must be a boolean: strconv.ParseBool: parsing ${goQuote(text)}: invalid syntax`,
    );
  }
  return value;
}
