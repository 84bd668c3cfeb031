// The shape every client-side encryption method has: a pair of streaming byte filters.

import type { Transform } from 'node:stream';

/** The encryption methods WAL-G knows; only libsodium and openpgp are implemented. */
export type CrypterKind = 'libsodium' | 'openpgp' | 'envelope-openpgp' | 'aws-kms' | 'yandex-kms';

/**
 * A configured encryption method. Each call returns a fresh single-use Transform that processes
 * the stream in bounded chunks; errors reach the stream as WalgError with a message for the user.
 */
export interface Crypter {
  readonly kind: CrypterKind;
  /** plaintext in → what WAL-G stores out (push order: raw → compress → encrypt → storage). */
  encrypter(): Transform;
  /** stored object in → plaintext out (fetch order: storage → decrypt → decompress). */
  decrypter(): Transform;
}
