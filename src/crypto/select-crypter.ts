// Chooses the crypter from the settings in WAL-G's order (internal/configure.go), with its error texts.

import { WalgError, errorMessage } from '../errors.ts';
import { log } from '../log/logger.ts';
import type { Crypter } from './crypter.ts';
import { DEPRECATED_EXTERNAL_GPG_MESSAGE, externalGpgKeySource } from './external-gpg.ts';
import { LibsodiumCrypter, loadLibsodiumKey, type LibsodiumKeySource } from './libsodium.ts';
import { OpenPgpCrypter, inlineOpenPgpKey, openPgpKeyFile } from './openpgp.ts';

/** Reads one resolved setting; undefined (or empty) means not set. */
export type SettingGetter = (name: string) => string | undefined;

const CONFIGURE_PREFIX = "can't configure crypter: ";

/**
 * The crypter the settings ask for, or undefined for no encryption. First match wins:
 * OpenPGP (WALG_PGP_KEY, WALG_PGP_KEY_PATH or bare GPG_KEY_ID) → envelope OpenPGP → AWS KMS →
 * Yandex KMS → libsodium. Configuration errors are WalgError("can't configure crypter: ...").
 * The libsodium key is read and checked here; OpenPGP keys are parsed when first used, as WAL-G does.
 */
export function crypterFromSettings(get: SettingGetter): Crypter | undefined {
  const value = (name: string): string | undefined => {
    const found = get(name);
    return found === undefined || found === '' ? undefined : found;
  };
  const isSet = (name: string): boolean => value(name) !== undefined;

  const plainPgp = isSet('WALG_PGP_KEY') || isSet('WALG_PGP_KEY_PATH') || isSet('GPG_KEY_ID');
  const envelopePgp = isSet('WALG_ENVELOPE_PGP_KEY') || isSet('WALG_ENVELOPE_PGP_KEY_PATH');
  const libsodium = isSet('WALG_LIBSODIUM_KEY') || isSet('WALG_LIBSODIUM_KEY_PATH');

  if (plainPgp && envelopePgp) {
    throw configureError('there is no way to configure plain gpg and envelope gpg at the same time, please choose one');
  }
  if (plainPgp) return openPgpFromSettings(value);
  if (envelopePgp) {
    if (!isSet('WALG_ENVELOPE_PGP_YC_CSE_KMS_KEY_ID')) {
      throw configureError('yandex cloud KMS key for client-side encryption and decryption must be configured');
    }
    throw notSupported('envelope OpenPGP encryption with a Yandex Cloud KMS key', 'WALG_ENVELOPE_PGP_KEY / WALG_ENVELOPE_PGP_KEY_PATH');
  }
  if (isSet('WALG_CSE_KMS_ID')) throw notSupported('AWS KMS client-side encryption', 'WALG_CSE_KMS_ID');
  if (isSet('YC_CSE_KMS_KEY_ID')) throw notSupported('Yandex Cloud KMS client-side encryption', 'YC_CSE_KMS_KEY_ID');
  if (libsodium) return libsodiumFromSettings(value);
  return undefined;
}

function openPgpFromSettings(value: (name: string) => string | undefined): Crypter {
  // WAL-G's GetSetting trims trailing CR/LF from the passphrase.
  const passphrase = value('WALG_PGP_KEY_PASSPHRASE')?.replace(/[\r\n]+$/, '');
  const inline = value('WALG_PGP_KEY');
  if (inline !== undefined) return new OpenPgpCrypter(inlineOpenPgpKey(inline), passphrase);
  const path = value('WALG_PGP_KEY_PATH');
  if (path !== undefined) return new OpenPgpCrypter(openPgpKeyFile(path), passphrase);
  // Quirk kept from WAL-G: the branch is entered on GPG_KEY_ID, but the id is read from WALG_/WALE_GPG_KEY_ID.
  const keyId = value('WALG_GPG_KEY_ID') ?? value('WALE_GPG_KEY_ID');
  if (keyId === undefined) throw configureError('there is no any supported gpg crypter configuration');
  log.warn(DEPRECATED_EXTERNAL_GPG_MESSAGE);
  return new OpenPgpCrypter(externalGpgKeySource(keyId), passphrase);
}

function libsodiumFromSettings(value: (name: string) => string | undefined): Crypter {
  const transform = value('WALG_LIBSODIUM_KEY_TRANSFORM') ?? 'none';
  const inline = value('WALG_LIBSODIUM_KEY');
  const source: LibsodiumKeySource =
    inline !== undefined
      ? { setting: 'WALG_LIBSODIUM_KEY', text: inline, transform }
      : { setting: 'WALG_LIBSODIUM_KEY_PATH', path: value('WALG_LIBSODIUM_KEY_PATH') ?? '', transform };
  try {
    return new LibsodiumCrypter(loadLibsodiumKey(source), source.setting);
  } catch (err) {
    throw configureError(errorMessage(err));
  }
}

function configureError(reason: string): WalgError {
  return new WalgError(CONFIGURE_PREFIX + reason);
}

function notSupported(what: string, settings: string): WalgError {
  return configureError(`${what} (${settings}) is not supported yet; unset ${settings} or use WAL-G for this storage`);
}
