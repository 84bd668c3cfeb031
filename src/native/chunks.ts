// Libraries that only some commands need (storage SDKs, PostgreSQL client, OpenPGP) travel inside the single
// executable as separate scripts (SEA assets), compiled the first time a command imports them. Compiling
// one 3.7 MB script took 338 ms of every start under --jitless, a wal-push included; the main script
// stays small and an S3 user pays only for the S3 chunk. esbuild.config.mjs decides what goes where.

import * as sea from 'node:sea';
import { createRequire } from 'node:module';
import { compileFunction } from 'node:vm';
import { WalgError } from '../errors.ts';

// Filled in by esbuild (esbuild.config.mjs): chunk name -> SEA asset key "chunk-<name>-<sha12>.cjs".
declare const __WALNUT_CHUNK_ASSETS__: Record<string, string> | undefined;

const loaded = new Map<string, Record<string, unknown>>();

/** The exports of a chunk: module id -> that module's exports. Only called from bundled code. */
export function loadChunk(name: string): Record<string, unknown> {
  const cached = loaded.get(name);
  if (cached) return cached;
  const assets = typeof __WALNUT_CHUNK_ASSETS__ === 'undefined' ? undefined : __WALNUT_CHUNK_ASSETS__;
  const assetKey = assets?.[name];
  if (!assetKey || !sea.isSea()) {
    throw new WalgError(`library chunk ${name} is not embedded in this binary; rebuild with npm run build`);
  }
  const source = sea.getAsset(assetKey, 'utf8');
  const body = compileFunction(source, ['exports', 'require', 'module', '__filename', '__dirname'], { filename: assetKey });
  const module = { exports: {} as Record<string, unknown> };
  // A real require for the chunk: node builtins, and a clean MODULE_NOT_FOUND for the optional peers
  // its libraries probe for (pg-native, cpu-features).
  body.call(module.exports, module.exports, createRequire(process.execPath), module, assetKey, '/');
  loaded.set(name, module.exports);
  return module.exports;
}
