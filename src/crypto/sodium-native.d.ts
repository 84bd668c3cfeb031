// Type declarations for the part of sodium-native's public JS API that walnut uses (the package ships none).

declare module 'sodium-native' {
  interface SodiumNative {
    readonly crypto_secretstream_xchacha20poly1305_STATEBYTES: number;
    readonly crypto_secretstream_xchacha20poly1305_ABYTES: number;
    readonly crypto_secretstream_xchacha20poly1305_HEADERBYTES: number;
    readonly crypto_secretstream_xchacha20poly1305_KEYBYTES: number;
    readonly crypto_secretstream_xchacha20poly1305_TAG_MESSAGE: number;
    readonly crypto_secretstream_xchacha20poly1305_TAG_PUSH: number;
    readonly crypto_secretstream_xchacha20poly1305_TAG_REKEY: number;
    readonly crypto_secretstream_xchacha20poly1305_TAG_FINAL: number;
    /** Fills header with a fresh random header and initialises state for pushing. */
    crypto_secretstream_xchacha20poly1305_init_push(state: Uint8Array, header: Uint8Array, key: Uint8Array): void;
    /** Initialises state for pulling from a stream that starts with header. */
    crypto_secretstream_xchacha20poly1305_init_pull(state: Uint8Array, header: Uint8Array, key: Uint8Array): void;
    /** Encrypts message into ciphertext (message length + ABYTES); returns the bytes written. */
    crypto_secretstream_xchacha20poly1305_push(
      state: Uint8Array,
      ciphertext: Uint8Array,
      message: Uint8Array,
      additionalData: Uint8Array | null,
      tag: number,
    ): number;
    /** Decrypts ciphertext into message (ciphertext length - ABYTES) and its tag; throws when authentication fails. */
    crypto_secretstream_xchacha20poly1305_pull(
      state: Uint8Array,
      message: Uint8Array,
      tag: Uint8Array,
      ciphertext: Uint8Array,
      additionalData: Uint8Array | null,
    ): number;
    sodium_memzero(buffer: Uint8Array): void;
  }
  const sodium: SodiumNative;
  export default sodium;
}
