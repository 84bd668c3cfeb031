// What a command needs from the settings to move objects: the primary storage, the codec and the crypter.

import type { Settings } from '../config/settings.ts';
import { missingStorageError } from '../config/settings.ts';
import { codecForMethod } from '../compression/registry.ts';
import type { Codec } from '../compression/codec.ts';
import type { Crypter } from '../crypto/crypter.ts';
import { crypterFromSettings } from '../crypto/select-crypter.ts';
import { openStorage } from '../storage/open.ts';
import type { Folder } from '../storage/driver.ts';

/** Opens the primary storage (the first prefix setting in WAL-G's order) at its root. */
export async function openPrimaryStorage(settings: Settings): Promise<Folder> {
  const prefix = settings.storagePrefix();
  if (!prefix) throw missingStorageError();
  return openStorage(prefix, (name) => settings.storageSetting(name));
}

/** The codec WALG_COMPRESSION_METHOD names (lz4 by default); unknown names fail with WAL-G's message. */
export function configuredCodec(settings: Settings): Codec {
  return codecForMethod(settings.getOr('WALG_COMPRESSION_METHOD', 'lz4'));
}

/** The crypter the settings configure, or undefined for none; keys are read here, once. */
export function configuredCrypter(settings: Settings): Crypter | undefined {
  return crypterFromSettings((name) => settings.get(name));
}
