// OpenPGP client-side encryption as WAL-G writes it (ProtonMail go-crypto, nil config), streamed through openpgp v6.
//
// What WAL-G v3.0.8 writes, and so what the encrypter writes: a binary (not armored) message with one v3 PKESK
// per key in the key ring, then one SEIPD v1 packet (MDC, no AEAD) holding, uncompressed, one literal data
// packet with an empty file name and date 0. The cipher is AES-128 when every key's preferences allow it,
// else AES-256 when they all allow that, else AES-128. The decrypter accepts any standard binary message
// (PKESK, SEIPD v1 or v2, compressed or not), like go-crypto's ReadMessage.
//
// One deliberate difference: WAL-G marks the literal data 'u' (text), and `gpg -d` then turns every CR LF of
// the (binary, compressed) payload into LF, corrupting it. We mark it 'b', which every reader, WAL-G
// included, takes byte for byte.
//
// Memory: both directions stream. SEIPD v1 authenticates the whole message with one MDC at its end, so
// decryption releases plaintext before the MDC is checked (config.allowUnauthenticatedStream, what go-crypto
// does too) and fails the stream at the end if it does not match; consumers must treat a stream error as
// "discard everything written". Without that option openpgp would buffer the whole plaintext.

import { readFileSync } from 'node:fs';
import type { Transform } from 'node:stream';
import type * as openpgp from 'openpgp';
import { openpgpLibrary } from '../native/lazy-require.ts';
import { WalgError, errorMessage } from '../errors.ts';
import type { Crypter } from './crypter.ts';
import { WebStreamBridge } from './web-stream-bridge.ts';
import { nodeCrypto } from '../native/lazy-builtins.ts';

/** Where the armored key ring comes from; the legacy external-gpg path exports different texts per direction. */
export interface OpenPgpKeySource {
  /** The setting named in error messages, e.g. `WALG_PGP_KEY_PATH (/etc/wal-g/key.asc)`. */
  readonly description: string;
  /** Armored text holding the public keys (a private key ring works too). May throw WalgError. */
  publicKeyArmor(): string;
  /** Armored text holding the private keys. May throw WalgError. */
  privateKeyArmor(): string;
}

/** WALG_PGP_KEY: the armored key in the setting itself; WAL-G turns literal `\n` into newlines. */
export function inlineOpenPgpKey(text: string): OpenPgpKeySource {
  const armor = text.replaceAll('\\n', '\n');
  return { description: 'WALG_PGP_KEY', publicKeyArmor: () => armor, privateKeyArmor: () => armor };
}

/** WALG_PGP_KEY_PATH: a file holding an armored key ring, read when first needed (as WAL-G does). */
export function openPgpKeyFile(path: string): OpenPgpKeySource {
  const description = `WALG_PGP_KEY_PATH (${path})`;
  let armor: string | undefined;
  const read = (): string => {
    if (armor !== undefined) return armor;
    try {
      armor = readFileSync(path, 'utf8');
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code ?? errorMessage(err);
      throw new WalgError(`openpgp: cannot read the key file ${path} named by WALG_PGP_KEY_PATH: ${reason}`);
    }
    return armor;
  };
  return { description, publicKeyArmor: read, privateKeyArmor: read };
}

// Relaxed from openpgp's defaults so that keys go-crypto accepts are accepted too (old DSA/ElGamal key
// rings, 1024-bit RSA). Nothing here weakens what the encrypter writes.
const READ_CONFIG: openpgp.PartialConfig = {
  rejectPublicKeyAlgorithms: new Set(),
  minRSABits: 1024,
};

const DECRYPT_CONFIG: openpgp.PartialConfig = {
  ...READ_CONFIG,
  allowUnauthenticatedStream: true,
};

const AES128 = 7; // openpgp.enums.symmetric.aes128 (RFC 4880 §9.2)
const AES256 = 9; // openpgp.enums.symmetric.aes256

interface SelfSignatureSource {
  getPrimarySelfSignature(date?: Date): Promise<{ preferredSymmetricAlgorithms: number[] | null }>;
}

/** go-crypto's choice with a nil config: candidates [AES-256, AES-128] ∩ every key's preferences; AES-128 wins if left. */
export async function chooseSymmetricAlgorithm(keys: openpgp.PublicKey[]): Promise<'aes128' | 'aes256'> {
  let candidates = [AES256, AES128];
  for (const key of keys) {
    const selfSignature = await (key as unknown as SelfSignatureSource).getPrimarySelfSignature();
    const preferences = selfSignature.preferredSymmetricAlgorithms ?? [];
    candidates = candidates.filter((algorithm) => preferences.includes(algorithm));
  }
  if (candidates.includes(AES128) || candidates.length === 0) return 'aes128';
  return 'aes256';
}

export class OpenPgpCrypter implements Crypter {
  readonly kind = 'openpgp' as const;
  readonly #source: OpenPgpKeySource;
  readonly #passphrase: string | undefined;
  #recipients: Promise<openpgp.PublicKey[]> | undefined;
  #decryptionKeys: Promise<openpgp.PrivateKey[]> | undefined;

  /** passphrase: WALG_PGP_KEY_PASSPHRASE, if set; it unlocks the primary key and every subkey. */
  constructor(source: OpenPgpKeySource, passphrase?: string) {
    this.#source = source;
    this.#passphrase = passphrase;
  }

  encrypter(): Transform {
    return new WebStreamBridge(async (plaintext) => {
      const recipients = await this.recipients();
      const algorithm = await chooseSymmetricAlgorithm(recipients);
      const sessionKey = { data: new Uint8Array(nodeCrypto().randomBytes(algorithm === 'aes128' ? 16 : 32)), algorithm };
      const message = await openpgpLibrary().createMessage({ binary: plaintext, format: 'binary', filename: '', date: new Date(0) });
      return openpgpLibrary().encrypt({ message, encryptionKeys: recipients, sessionKey, format: 'binary', config: READ_CONFIG });
    }, (err) => this.#encryptionError(err));
  }

  decrypter(): Transform {
    let encryptedTo: string[] = [];
    return new WebStreamBridge(async (ciphertext) => {
      const keys = await this.decryptionKeys();
      const message = await openpgpLibrary().readMessage({ binaryMessage: ciphertext, config: READ_CONFIG });
      encryptedTo = message.getEncryptionKeyIDs().map((id) => id.toHex().toUpperCase());
      const { data } = await openpgpLibrary().decrypt({ message, decryptionKeys: keys, format: 'binary', config: DECRYPT_CONFIG });
      return data;
    }, (err) => this.#decryptionError(err, encryptedTo));
  }

  /** The public keys objects are encrypted to: every key in the ring. Parsed once. */
  recipients(): Promise<openpgp.PublicKey[]> {
    this.#recipients ??= this.#loadRecipients();
    return this.#recipients;
  }

  /** The unlocked private keys. Parsed and unlocked once. */
  decryptionKeys(): Promise<openpgp.PrivateKey[]> {
    this.#decryptionKeys ??= this.#loadDecryptionKeys();
    return this.#decryptionKeys;
  }

  async #loadRecipients(): Promise<openpgp.PublicKey[]> {
    const keys = await this.#readKeyRing(this.#source.publicKeyArmor());
    return keys.map((key) => (key.isPrivate() ? key.toPublic() : key));
  }

  async #loadDecryptionKeys(): Promise<openpgp.PrivateKey[]> {
    const keys = await this.#readKeyRing(this.#source.privateKeyArmor());
    const privateKeys = keys.filter((key): key is openpgp.PrivateKey => key.isPrivate());
    if (privateKeys.length === 0) {
      throw new WalgError(
        `openpgp: ${this.#source.description} holds only public keys; decrypting needs the private key (and WALG_PGP_KEY_PASSPHRASE if it is protected)`,
      );
    }
    const unlocked: openpgp.PrivateKey[] = [];
    for (const key of privateKeys) {
      if (key.isDecrypted()) {
        unlocked.push(key);
        continue;
      }
      if (this.#passphrase === undefined) {
        throw new WalgError(
          `openpgp: the private key ${keyLabel(key)} in ${this.#source.description} is protected by a passphrase; set WALG_PGP_KEY_PASSPHRASE`,
        );
      }
      for (const part of key.getKeys()) hashIteratedS2kInPieces(part.keyPacket);
      try {
        unlocked.push(await openpgpLibrary().decryptKey({ privateKey: key, passphrase: this.#passphrase, config: READ_CONFIG }));
      } catch (err) {
        const detail = errorMessage(err);
        if (/passphrase|checksum/i.test(detail)) {
          throw new WalgError(
            `openpgp: WALG_PGP_KEY_PASSPHRASE does not unlock the private key ${keyLabel(key)} in ${this.#source.description}`,
          );
        }
        throw new WalgError(`openpgp: cannot unlock the private key ${keyLabel(key)} in ${this.#source.description}: ${detail}`);
      }
    }
    return unlocked;
  }

  async #readKeyRing(armor: string): Promise<openpgp.Key[]> {
    try {
      return await openpgpLibrary().readKeys({ armoredKeys: armor, config: READ_CONFIG });
    } catch (err) {
      throw new WalgError(
        `openpgp: ${this.#source.description} is not a usable ASCII-armored OpenPGP key ring (${errorMessage(err)}); ` +
          'WAL-G reads armored keys only, e.g. from gpg --armor --export',
      );
    }
  }

  #encryptionError(err: unknown): Error {
    if (err instanceof WalgError) return err;
    const detail = errorMessage(err);
    if (/encryption key/i.test(detail)) {
      return new WalgError(`openpgp: cannot encrypt to ${this.#source.description}: ${detail} (no valid encryption subkey)`);
    }
    return new WalgError(`openpgp: encryption failed: ${detail}`);
  }

  #decryptionError(err: unknown, encryptedTo: string[]): Error {
    if (err instanceof WalgError) return err;
    const detail = errorMessage(err);
    if (/session key decryption failed|no decryption key|decryption key packet/i.test(detail)) {
      const recipients = encryptedTo.length ? ` (it is encrypted to key ${encryptedTo.join(', ')})` : '';
      return new WalgError(
        `openpgp: decryption failed — is ${this.#source.description} the private key this object was encrypted to?${recipients}`,
      );
    }
    if (/modification detected|authentication tag|tag mismatch/i.test(detail)) {
      return new WalgError('openpgp: damaged object: the integrity check failed; the object was modified or corrupted');
    }
    if (/unexpected end|premature|truncated|end of (the )?(packet|stream|data)/i.test(detail)) {
      return new WalgError(`openpgp: truncated object: the OpenPGP message ends early (${detail})`);
    }
    if (/parsing|not conform|packet|unknown/i.test(detail)) {
      return new WalgError(
        `openpgp: the object is not a valid OpenPGP message (${detail}); was it written with another encryption setting, or truncated?`,
      );
    }
    return new WalgError(`openpgp: decryption failed: ${detail}`);
  }
}

// Node names for OpenPGP hash algorithm ids (RFC 9580 §9.5) that an iterated S2K may use.
const S2K_HASHES: ReadonlyMap<number, string> = new Map([
  [1, 'md5'], [2, 'sha1'], [3, 'ripemd160'], [8, 'sha256'], [9, 'sha384'],
  [10, 'sha512'], [11, 'sha224'], [12, 'sha3-256'], [14, 'sha3-512'],
]);

interface IteratedS2k {
  type: string;
  algorithm: number;
  salt: Uint8Array;
  getCount(): number;
  produceKey(passphrase: string, keyBytes: number): Promise<Uint8Array>;
}

/**
 * openpgp builds the whole iterated-S2K input in memory (up to 65 MiB per key packet, and it unlocks the
 * primary key and subkeys at once: a 130 MiB spike for a default gpg key). This derives the same bytes by
 * feeding a hash 64 KiB at a time. Only this key object's S2K instances are changed.
 */
function hashIteratedS2kInPieces(keyPacket: unknown): void {
  const s2k = (keyPacket as { s2k?: IteratedS2k }).s2k;
  if (!s2k || s2k.type !== 'iterated' || typeof s2k.getCount !== 'function') return;
  const hashName = S2K_HASHES.get(s2k.algorithm);
  if (!hashName) return;
  s2k.produceKey = async (passphrase: string, keyBytes: number): Promise<Uint8Array> => {
    const unit = Buffer.concat([s2k.salt, Buffer.from(passphrase, 'utf8')]);
    const count = Math.max(s2k.getCount(), unit.length);
    const block = Buffer.alloc(Math.ceil(65536 / unit.length) * unit.length);
    for (let at = 0; at < block.length; at += unit.length) unit.copy(block, at);
    const digests: Buffer[] = [];
    let produced = 0;
    // Each further digest is taken over one more leading zero byte (RFC 4880 §3.7.1.1).
    for (let zeros = 0; produced < keyBytes; zeros++) {
      const hash = nodeCrypto().createHash(hashName);
      hash.update(Buffer.alloc(zeros));
      let left = count;
      while (left > 0) {
        const piece = Math.min(left, block.length);
        hash.update(block.subarray(0, piece));
        left -= piece;
      }
      const digest = hash.digest();
      digests.push(digest);
      produced += digest.length;
    }
    return new Uint8Array(Buffer.concat(digests).subarray(0, keyBytes));
  };
}

function keyLabel(key: openpgp.Key): string {
  return key.getKeyID().toHex().toUpperCase();
}
