// Heavy dependencies loaded on first use, not at start-up. Loading @napi-rs/lzma alone maps ~1.1 GiB of
// address space (its allocator's arenas), and openpgp is a large script to compile under --jitless; a
// wal-push with lz4 and no OpenPGP key must pay for neither. In the bundle, esbuild.config.mjs rewrites
// `requireHere(` to a plain `require(` so each module is still bundled, and initialised only when asked for.

import { createRequire } from 'node:module';

const requireHere = createRequire(import.meta.url);

let lzmaModule: typeof import('@napi-rs/lzma') | undefined;
let sodiumModule: typeof import('sodium-native').default | undefined;
let openpgpModule: typeof import('openpgp') | undefined;

export function napiLzma(): typeof import('@napi-rs/lzma') {
  return (lzmaModule ??= requireHere('@napi-rs/lzma') as typeof import('@napi-rs/lzma'));
}

export function sodiumNative(): typeof import('sodium-native').default {
  return (sodiumModule ??= requireHere('sodium-native') as typeof import('sodium-native').default);
}

export function openpgpLibrary(): typeof import('openpgp') {
  return (openpgpModule ??= requireHere('openpgp') as typeof import('openpgp'));
}
