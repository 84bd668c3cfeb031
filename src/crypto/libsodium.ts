// libsodium client-side encryption in WAL-G's framing: secretstream XChaCha20-Poly1305 over 8192-byte chunks.
//
// Wire format (what WAL-G v3.0.8 writes and reads):
//   header (24 bytes) · chunk* · final chunk
//   every full 8192-byte plaintext chunk is pushed as it fills, with LIBSODIUM_TAG_MESSAGE → 8209 bytes;
//   the remaining 0..8191 bytes are pushed on close with LIBSODIUM_TAG_FINAL, so an input that is a multiple
//   of 8192 bytes ends with an empty 17-byte FINAL chunk. No additional data.

import { readFileSync } from 'node:fs';
import { Transform, type TransformCallback } from 'node:stream';
import { sodiumNative } from '../native/lazy-require.ts';
import { WalgError } from '../errors.ts';
import type { Crypter } from './crypter.ts';

// The secretstream sizes below are fixed by libsodium's API; tests compare them with sodium-native's constants.
export const LIBSODIUM_PLAINTEXT_CHUNK_BYTES = 8192;
export const LIBSODIUM_HEADER_BYTES = 24;
export const LIBSODIUM_TAG_BYTES = 17;
export const LIBSODIUM_CIPHERTEXT_CHUNK_BYTES = LIBSODIUM_PLAINTEXT_CHUNK_BYTES + LIBSODIUM_TAG_BYTES; // 8209

export const LIBSODIUM_KEY_BYTES = 32;
const MINIMUM_RAW_KEY_BYTES = 25;
export const LIBSODIUM_STATE_BYTES = 52;
export const LIBSODIUM_TAG_MESSAGE = 0;
export const LIBSODIUM_TAG_FINAL = 3;

export type LibsodiumKeyTransform = 'none' | 'base64' | 'hex';

/**
 * Turns the configured key text into the 32-byte key, with WAL-G's rules and error texts:
 * base64/hex must decode to exactly 32 bytes; `none` takes the string's bytes, at least 25,
 * zero-padded or truncated to 32.
 */
export function libsodiumKeyFromText(text: string, transform: string): Buffer {
  let decoded: Buffer;
  switch (transform) {
    case 'base64':
      decoded = decodeBase64Strictly(text);
      break;
    case 'hex':
      decoded = decodeHexStrictly(text);
      break;
    case 'none': {
      const raw = Buffer.from(text, 'utf8');
      if (raw.length < MINIMUM_RAW_KEY_BYTES) {
        throw new Error(`key length must not be less than ${MINIMUM_RAW_KEY_BYTES}, got ${raw.length}`);
      }
      decoded = Buffer.alloc(LIBSODIUM_KEY_BYTES);
      raw.copy(decoded, 0, 0, Math.min(raw.length, LIBSODIUM_KEY_BYTES));
      break;
    }
    default:
      throw new Error(`unknown key transform '${transform}' (must be base64, hex or none)`);
  }
  if (decoded.length !== LIBSODIUM_KEY_BYTES) {
    throw new Error(`key must be exactly ${LIBSODIUM_KEY_BYTES} bytes (got ${decoded.length} bytes)`);
  }
  return decoded;
}

// Go's base64.StdEncoding: padding required, CR/LF ignored, anything else outside the alphabet is an error.
function decodeBase64Strictly(text: string): Buffer {
  const compact = text.replace(/[\r\n]/g, '');
  const invalidAt = compact.search(/[^A-Za-z0-9+/=]/);
  const paddingAt = compact.indexOf('=');
  const badPadding = paddingAt >= 0 && !/^={1,2}$/.test(compact.slice(paddingAt));
  if (invalidAt >= 0 || badPadding || compact.length % 4 !== 0) {
    const at = invalidAt >= 0 ? invalidAt : badPadding ? paddingAt : compact.length - (compact.length % 4);
    throw new Error(`while base64 decoding key: illegal base64 data at input byte ${at}`);
  }
  return Buffer.from(compact, 'base64');
}

// Go's hex.DecodeString: an invalid character is reported before an odd length.
function decodeHexStrictly(text: string): Buffer {
  const invalid = /[^0-9a-fA-F]/.exec(text);
  if (invalid) {
    const code = invalid[0].codePointAt(0) ?? 0;
    const unicode = `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
    throw new Error(`while hex decoding key: encoding/hex: invalid byte: ${unicode} '${invalid[0]}'`);
  }
  if (text.length % 2 !== 0) throw new Error('while hex decoding key: encoding/hex: odd length hex string');
  return Buffer.from(text, 'hex');
}

/** Where the key comes from: inline text or a file whose content is whitespace-trimmed. */
export type LibsodiumKeySource =
  | { setting: 'WALG_LIBSODIUM_KEY'; text: string; transform: string }
  | { setting: 'WALG_LIBSODIUM_KEY_PATH'; path: string; transform: string };

/** Reads and transforms the key; errors carry WAL-G's "libsodium Crypter: ..." text and no key material. */
export function loadLibsodiumKey(source: LibsodiumKeySource): Buffer {
  let text: string;
  if (source.setting === 'WALG_LIBSODIUM_KEY') {
    text = source.text;
  } else {
    try {
      text = readFileSync(source.path, 'utf8').trim();
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new WalgError(
        `libsodium Crypter: unable to read key from file ${source.path} (WALG_LIBSODIUM_KEY_PATH): ${reason}`,
      );
    }
  }
  try {
    return libsodiumKeyFromText(text, source.transform);
  } catch (err) {
    throw new WalgError(
      `libsodium Crypter: during key transform: ${(err as Error).message}; check ${source.setting} and WALG_LIBSODIUM_KEY_TRANSFORM`,
    );
  }
}

/** A crypter holding a ready 32-byte key. keySetting only names the setting in error messages. */
export class LibsodiumCrypter implements Crypter {
  readonly kind = 'libsodium' as const;
  readonly #key: Buffer;
  readonly #keySetting: string;

  constructor(key: Uint8Array, keySetting = 'WALG_LIBSODIUM_KEY') {
    if (key.length !== LIBSODIUM_KEY_BYTES) throw new WalgError(`libsodium key must be exactly ${LIBSODIUM_KEY_BYTES} bytes`);
    this.#key = Buffer.from(key);
    this.#keySetting = keySetting;
  }

  encrypter(): Transform {
    return new LibsodiumEncryptTransform(this.#key);
  }

  decrypter(): Transform {
    return new LibsodiumDecryptTransform(this.#key, this.#keySetting);
  }
}

/**
 * Encrypts in WAL-G's framing. Full chunks are encrypted straight from the input buffer; only the
 * tail of each write (< 8192 bytes) is copied into the pending buffer.
 */
export class LibsodiumEncryptTransform extends Transform {
  readonly #key: Buffer;
  readonly #state = Buffer.alloc(LIBSODIUM_STATE_BYTES);
  readonly #pending = Buffer.allocUnsafe(LIBSODIUM_PLAINTEXT_CHUNK_BYTES);
  #pendingLength = 0;
  #headerWritten = false;

  constructor(key: Buffer) {
    super();
    this.#key = key;
  }

  #writeHeaderOnce(): void {
    if (this.#headerWritten) return;
    const header = Buffer.allocUnsafe(LIBSODIUM_HEADER_BYTES);
    sodiumNative().crypto_secretstream_xchacha20poly1305_init_push(this.#state, header, this.#key);
    this.#headerWritten = true;
    this.push(header);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#writeHeaderOnce();
    let offset = 0;
    if (this.#pendingLength > 0) {
      const copied = chunk.copy(this.#pending, this.#pendingLength, 0);
      this.#pendingLength += copied;
      offset = copied;
      if (this.#pendingLength < LIBSODIUM_PLAINTEXT_CHUNK_BYTES) return callback();
      const sealed = Buffer.allocUnsafe(LIBSODIUM_CIPHERTEXT_CHUNK_BYTES);
      sodiumNative().crypto_secretstream_xchacha20poly1305_push(this.#state, sealed, this.#pending, null, LIBSODIUM_TAG_MESSAGE);
      this.#pendingLength = 0;
      this.push(sealed);
    }
    const fullChunks = Math.floor((chunk.length - offset) / LIBSODIUM_PLAINTEXT_CHUNK_BYTES);
    if (fullChunks > 0) {
      const sealed = Buffer.allocUnsafe(fullChunks * LIBSODIUM_CIPHERTEXT_CHUNK_BYTES);
      for (let index = 0; index < fullChunks; index++) {
        const plain = chunk.subarray(offset, offset + LIBSODIUM_PLAINTEXT_CHUNK_BYTES);
        const start = index * LIBSODIUM_CIPHERTEXT_CHUNK_BYTES;
        const target = sealed.subarray(start, start + LIBSODIUM_CIPHERTEXT_CHUNK_BYTES);
        sodiumNative().crypto_secretstream_xchacha20poly1305_push(this.#state, target, plain, null, LIBSODIUM_TAG_MESSAGE);
        offset += LIBSODIUM_PLAINTEXT_CHUNK_BYTES;
      }
      this.push(sealed);
    }
    this.#pendingLength = chunk.copy(this.#pending, 0, offset);
    callback();
  }

  override _flush(callback: TransformCallback): void {
    // Unlike WAL-G, an empty input still gets its header, so the empty object stays decryptable.
    this.#writeHeaderOnce();
    const sealed = Buffer.allocUnsafe(this.#pendingLength + LIBSODIUM_TAG_BYTES);
    const tail = this.#pending.subarray(0, this.#pendingLength);
    sodiumNative().crypto_secretstream_xchacha20poly1305_push(this.#state, sealed, tail, null, LIBSODIUM_TAG_FINAL);
    this.#forget();
    this.push(sealed);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#forget();
    callback(error);
  }

  #forget(): void {
    sodiumNative().sodium_memzero(this.#state);
    sodiumNative().sodium_memzero(this.#pending);
    this.#pendingLength = 0;
  }
}

/**
 * Decrypts WAL-G's framing. A full 8209-byte chunk is decrypted as soon as it is complete; what is left
 * at the end (17..8208 bytes) is the last chunk and must carry LIBSODIUM_TAG_FINAL. Stricter than WAL-G, which
 * silently accepts a stream cut exactly at a chunk boundary: a stream without a FINAL chunk is rejected
 * as truncated (WAL-G always writes one).
 */
export class LibsodiumDecryptTransform extends Transform {
  readonly #key: Buffer;
  readonly #keySetting: string;
  readonly #state = Buffer.alloc(LIBSODIUM_STATE_BYTES);
  readonly #header = Buffer.alloc(LIBSODIUM_HEADER_BYTES);
  #headerLength = 0;
  readonly #inbox = Buffer.allocUnsafe(LIBSODIUM_CIPHERTEXT_CHUNK_BYTES);
  #inboxLength = 0;
  readonly #tag = Buffer.alloc(1);
  #chunkIndex = 0;
  #finalSeen = false;

  constructor(key: Buffer, keySetting: string) {
    super();
    this.#key = key;
    this.#keySetting = keySetting;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      let offset = 0;
      if (this.#headerLength < LIBSODIUM_HEADER_BYTES) {
        const copied = chunk.copy(this.#header, this.#headerLength, 0);
        this.#headerLength += copied;
        offset = copied;
        if (this.#headerLength < LIBSODIUM_HEADER_BYTES) return callback();
        sodiumNative().crypto_secretstream_xchacha20poly1305_init_pull(this.#state, this.#header, this.#key);
      }
      if (offset < chunk.length && this.#finalSeen) throw this.#dataAfterFinal();
      if (this.#inboxLength > 0) {
        const copied = chunk.copy(this.#inbox, this.#inboxLength, offset);
        this.#inboxLength += copied;
        offset += copied;
        if (this.#inboxLength < LIBSODIUM_CIPHERTEXT_CHUNK_BYTES) return callback();
        const plain = Buffer.allocUnsafe(LIBSODIUM_PLAINTEXT_CHUNK_BYTES);
        this.#openFullChunk(this.#inbox, plain);
        this.#inboxLength = 0;
        this.push(plain);
      }
      const fullChunks = Math.floor((chunk.length - offset) / LIBSODIUM_CIPHERTEXT_CHUNK_BYTES);
      if (fullChunks > 0) {
        const plain = Buffer.allocUnsafe(fullChunks * LIBSODIUM_PLAINTEXT_CHUNK_BYTES);
        for (let index = 0; index < fullChunks; index++) {
          const sealed = chunk.subarray(offset, offset + LIBSODIUM_CIPHERTEXT_CHUNK_BYTES);
          const start = index * LIBSODIUM_PLAINTEXT_CHUNK_BYTES;
          this.#openFullChunk(sealed, plain.subarray(start, start + LIBSODIUM_PLAINTEXT_CHUNK_BYTES));
          offset += LIBSODIUM_CIPHERTEXT_CHUNK_BYTES;
        }
        this.push(plain);
      }
      if (offset < chunk.length && this.#finalSeen) throw this.#dataAfterFinal();
      this.#inboxLength = chunk.copy(this.#inbox, 0, offset);
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      if (this.#headerLength < LIBSODIUM_HEADER_BYTES) {
        throw new WalgError(
          `libsodium: truncated object: it ends after ${this.#headerLength} bytes, inside the ${LIBSODIUM_HEADER_BYTES}-byte header`,
        );
      }
      if (this.#inboxLength === 0) {
        if (!this.#finalSeen) {
          throw new WalgError(
            `libsodium: truncated object: the stream ends after chunk ${this.#chunkIndex} without its final chunk`,
          );
        }
        return callback();
      }
      if (this.#finalSeen) throw this.#dataAfterFinal();
      if (this.#inboxLength < LIBSODIUM_TAG_BYTES) {
        throw new WalgError(
          `libsodium: truncated object: the last chunk has ${this.#inboxLength} bytes, fewer than its ${LIBSODIUM_TAG_BYTES}-byte tag`,
        );
      }
      const sealed = this.#inbox.subarray(0, this.#inboxLength);
      const plain = Buffer.allocUnsafe(this.#inboxLength - LIBSODIUM_TAG_BYTES);
      if (!this.#open(sealed, plain)) {
        if (this.#chunkIndex === 0) throw this.#wrongKey();
        throw new WalgError(
          `libsodium: truncated or damaged object: the last chunk (${this.#chunkIndex}) failed authentication`,
        );
      }
      if (this.#tag[0] !== LIBSODIUM_TAG_FINAL) {
        throw new WalgError(
          `libsodium: truncated object: the stream ends after chunk ${this.#chunkIndex} without its final chunk`,
        );
      }
      this.#finalSeen = true;
      this.#chunkIndex++;
      this.push(plain);
      callback();
    } catch (err) {
      callback(err as Error);
    } finally {
      sodiumNative().sodium_memzero(this.#state);
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    sodiumNative().sodium_memzero(this.#state);
    callback(error);
  }

  // Decrypts one full 8209-byte chunk. FINAL on a full chunk is accepted only if nothing follows it.
  #openFullChunk(sealed: Buffer, plain: Buffer): void {
    if (this.#finalSeen) throw this.#dataAfterFinal();
    if (!this.#open(sealed, plain)) {
      if (this.#chunkIndex === 0) throw this.#wrongKey();
      const at = LIBSODIUM_HEADER_BYTES + this.#chunkIndex * LIBSODIUM_CIPHERTEXT_CHUNK_BYTES;
      throw new WalgError(
        `libsodium: damaged object: chunk ${this.#chunkIndex} (at byte ${at}) failed authentication; the object was modified or corrupted`,
      );
    }
    if (this.#tag[0] === LIBSODIUM_TAG_FINAL) this.#finalSeen = true;
    this.#chunkIndex++;
  }

  #open(sealed: Buffer, plain: Buffer): boolean {
    try {
      sodiumNative().crypto_secretstream_xchacha20poly1305_pull(this.#state, plain, this.#tag, sealed, null);
      return true;
    } catch {
      return false;
    }
  }

  #wrongKey(): WalgError {
    const which = this.#keySetting === 'WALG_LIBSODIUM_KEY_PATH' ? 'the key in WALG_LIBSODIUM_KEY_PATH' : this.#keySetting;
    return new WalgError(
      `libsodium: decryption failed — is ${which} the key this object was written with? (otherwise the object is damaged)`,
    );
  }

  #dataAfterFinal(): WalgError {
    return new WalgError('libsodium: damaged object: data follows the final chunk');
  }
}
