// The hash half of a storage's status-cache key (`<name>#<hash>`): it tells apart storages that share a name in
// different configurations, so one cache file can serve several of them.
//
// For local directories it is WAL-G's own hash (md5 of "fs" and the JSON of its config), so WAL-G and walnut share
// cache entries. For the other backends WAL-G hashes its full client config structs, secrets included; walnut
// hashes the backend name, the prefix and the backend's non-secret settings instead. Those keys differ from
// WAL-G's, which only costs one extra explicit check when both tools use the same cache file.

import { SECRET_SETTING_NAMES } from '../config/settings-table.ts';
import { fileStorageRoot, type StorageKind } from '../storage/prefix.ts';
import { nodeCrypto } from '../native/lazy-builtins.ts';

/** The storage type names WAL-G's adapters hash under. */
const WALG_STORAGE_TYPE: Readonly<Record<StorageKind, string>> = {
  oss: 'oss',
  s3: 's3',
  file: 'fs',
  gs: 'gcs',
  az: 'azure',
  swift: 'swift',
  ssh: 'sh',
};

/** Go's json.Marshal of a string (HTML-safe escapes included). */
function goJsonString(text: string): string {
  return JSON.stringify(text).replace(/[<>&\u2028\u2029]/g, (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** WAL-G's storage.ComputeConfigHash: hex md5 of the type name followed by the config's JSON. */
function computeConfigHash(storageType: string, configJson: string): string {
  return nodeCrypto().createHash('md5').update(storageType).update(configJson).digest('hex');
}

/**
 * The config hash of a storage opened from `prefixValue` with the adapter settings `adapterSettings` (as
 * Settings#storageAdapterSettings resolves them).
 */
export function storageConfigHash(kind: StorageKind, prefixValue: string, adapterSettings: ReadonlyMap<string, string>): string {
  if (kind === 'file') return computeConfigHash('fs', `{"RootPath":${goJsonString(fileStorageRoot(prefixValue))}}`);
  const shown = [...adapterSettings.keys()]
    .filter((name) => !SECRET_SETTING_NAMES.has(name))
    .sort()
    .map((name) => `${goJsonString(name)}:${goJsonString(adapterSettings.get(name)!)}`);
  return computeConfigHash(WALG_STORAGE_TYPE[kind], `{"Prefix":${goJsonString(prefixValue)},"Settings":{${shown.join(',')}}}`);
}
