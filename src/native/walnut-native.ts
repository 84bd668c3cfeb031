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
}

let loaded: WalnutNative | undefined;

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
