// Loads the native addons that the single executable carries as SEA assets.
// Each asset is written once to a cache directory (named by content hash) and dlopen'ed from there.

import * as sea from 'node:sea';
import { mkdirSync, writeFileSync, renameSync, existsSync, accessSync, constants, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { homedir, tmpdir } from 'node:os';
import { WalgError } from '../errors.ts';

// Filled in by esbuild (esbuild.config.mjs): addon name -> SEA asset key "<name>-<sha12>.node".
declare const __WALNUT_ADDON_ASSETS__: Record<string, string> | undefined;

export type AddonName = 'lzma' | 'sodium' | 'walnut';

const loaded = new Map<string, unknown>();

/**
 * @napi-rs/lzma links its own mimalloc (as lz4-napi and @node-rs/xxhash did, before walnut's addon replaced them), which by default commits a 32 MiB
 * segment up front (32 MiB of private writable memory per addon, measured) and reserves a 1 GiB arena.
 * mimalloc reads its options from the environment when the addon is loaded, so they are set for the dlopen
 * only: segments are committed as used and no arena is reserved ahead (lzma: VmPeak 834 -> 771 MiB).
 */
const MIMALLOC_OPTIONS: Readonly<Record<string, string>> = { MIMALLOC_EAGER_COMMIT: '0', MIMALLOC_ARENA_RESERVE: '0' };

function withMimallocOptions<T>(load: () => T): T {
  const saved = new Map<string, string | undefined>();
  for (const [name, value] of Object.entries(MIMALLOC_OPTIONS)) {
    saved.set(name, process.env[name]);
    if (process.env[name] === undefined) process.env[name] = value; // an operator's own setting wins
  }
  try {
    return load();
  } finally {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
    }
  }
}

/** The directory the addons are unpacked to: WALG_ADDON_DIR, else $XDG_CACHE_HOME/walnut-addons, else ~/.cache/walnut-addons. */
export function addonCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.WALG_ADDON_DIR) return env.WALG_ADDON_DIR;
  const base = env.XDG_CACHE_HOME || join(env.HOME || safeHomedir(), '.cache');
  return join(base, 'walnut-addons');
}

function safeHomedir(): string {
  try {
    return homedir();
  } catch {
    return tmpdir();
  }
}

/** Returns the exports of an addon embedded in the SEA. Only called from bundled code. */
export function loadEmbeddedAddon(name: AddonName): unknown {
  const cached = loaded.get(name);
  if (cached) return cached;
  const assets = typeof __WALNUT_ADDON_ASSETS__ === 'undefined' ? undefined : __WALNUT_ADDON_ASSETS__;
  const assetKey = assets?.[name];
  if (!assetKey || !sea.isSea()) {
    throw new WalgError(`native addon ${name} is not embedded in this binary; rebuild with npm run build`);
  }
  const dir = addonCacheDir();
  const file = join(dir, assetKey);
  if (!existsSync(file)) {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, new Uint8Array(sea.getRawAsset(assetKey)), { mode: 0o700 });
      renameSync(tmp, file); // atomic: concurrent processes never see a half-written addon
    } catch (err) {
      throw new WalgError(
        `cannot unpack native addon ${name} to ${dir}: ${(err as Error).message}; ` +
          'set WALG_ADDON_DIR to a writable directory',
      );
    }
  }
  const module = { exports: {} as unknown };
  try {
    withMimallocOptions(() => process.dlopen(module, file));
  } catch (err) {
    const msg = (err as Error).message;
    const hint = /failed to map segment|operation not permitted|permission denied/i.test(msg)
      ? `${dir} looks mounted noexec or unreadable; set WALG_ADDON_DIR to a directory on an exec-allowed filesystem`
      : `delete ${file} and retry, or set WALG_ADDON_DIR to another directory`;
    throw new WalgError(`cannot load native addon ${name} from ${file}: ${msg.split('\n')[0]}; ${hint}`);
  }
  loaded.set(name, module.exports);
  return module.exports;
}

/** True when dir exists and is writable; used by tests and diagnostics. */
export function isWritableDir(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

export function removeCachedAddon(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    /* already gone */
  }
}
