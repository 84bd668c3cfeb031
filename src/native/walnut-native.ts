// walnut's own native addon (src/native/c/walnut-native.c): an LZ4 block compressor that writes into the caller's
// buffer and PostgreSQL's page checksum. Embedded in the binary; from sources (tests) read from build/native/.

import * as sea from 'node:sea';
import { existsSync } from 'node:fs';
import { WalgError } from '../errors.ts';
import { loadEmbeddedAddon } from './addons.ts';

export interface WalnutNative {
  /** Compresses `source` into `destination` as one LZ4 block; the compressed size, or 0 when it does not fit. */
  lz4CompressBlock(source: Uint8Array, destination: Uint8Array): number;
  /** pd_checksum of one page (all of `page`, a multiple of 128 bytes) that is block `blockNumber` of its relation. */
  pageChecksum(page: Uint8Array, blockNumber: number): number;
  /**
   * Decodes one LZ4 block into `destination` after its first `prefix` bytes (history matches may reach back into);
   * the decoded length, or -1 when the block is corrupt or does not fit.
   */
  lz4DecompressBlock(source: Uint8Array, destination: Uint8Array, prefix: number): number;
  /** xxHash32 of `data`. */
  xxh32(data: Uint8Array, seed: number): number;
  /** Streaming xxHash32 over a caller-owned 48-byte state: reset, update with each piece, digest. */
  xxh32Reset(state: Uint8Array, seed: number): void;
  xxh32Update(state: Uint8Array, data: Uint8Array): void;
  xxh32Digest(state: Uint8Array): number;
  /** mallopt(M_ARENA_MAX, count): threads that allocate from now on share at most `count` glibc arenas. */
  limitMallocArenas(count: number): boolean;
  /** `count` ArrayBuffers of `size` bytes from one 2 MiB-aligned mapping that may be backed by huge pages. */
  hugePageBuffers(count: number, size: number): ArrayBuffer[];
  /** Drops the resident pages of the executable's clean read-only mappings; the bytes of range released. */
  releaseExecutablePages(): number;
}

let loaded: WalnutNative | undefined;

/** Bytes of the state xxh32Reset/xxh32Update/xxh32Digest work on. */
export const XXH32_STATE_SIZE = 48;

/** A streaming xxHash32 whose state is a small buffer this object owns. */
export class Xxh32 {
  readonly #state = new Uint8Array(XXH32_STATE_SIZE);
  constructor(seed = 0) {
    walnutNative().xxh32Reset(this.#state, seed);
  }
  update(data: Uint8Array): this {
    walnutNative().xxh32Update(this.#state, data);
    return this;
  }
  digest(): number {
    return walnutNative().xxh32Digest(this.#state);
  }
}

/** The addon's exports, loaded on first use. */
export function walnutNative(): WalnutNative {
  if (loaded !== undefined) return loaded;
  if (sea.isSea()) {
    loaded = loadEmbeddedAddon('walnut') as WalnutNative;
    return loaded;
  }
  // Run from sources (node --test): the file scripts/build-native.mjs leaves beside the other build outputs.
  const file = new URL('../../build/native/walnut-native.node', import.meta.url).pathname;
  if (!existsSync(file)) throw new WalgError(`native addon ${file} is missing; build it with node scripts/build-native.mjs (or npm run build)`);
  const module = { exports: {} as unknown };
  process.dlopen(module, file);
  loaded = module.exports as WalnutNative;
  return loaded;
}
