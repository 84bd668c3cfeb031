// WAL-G's ~/.walg_decompressor_cache: the extension the last wal-fetch found, tried first next time.

import { readFileSync, writeFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import { codecForExtension, WAL_EXTENSION_PROBE_ORDER } from './registry.ts';

export const DECOMPRESSOR_CACHE_FILE_NAME = '.walg_decompressor_cache';

/**
 * WAL-G resolves the home directory with Go's user.Current(), i.e. the passwd entry of the running user,
 * not $HOME; os.userInfo() reads the same entry.
 */
export function decompressorCachePath(): string {
  let home: string;
  try {
    home = userInfo().homedir;
  } catch {
    home = homedir();
  }
  return join(home, DECOMPRESSOR_CACHE_FILE_NAME);
}

/**
 * The extensions to probe, in order: WAL-G's order, with the cached extension moved to the front when
 * it names a known format. An unknown or absent cache leaves the order as it is.
 */
export function walExtensionProbeOrder(cachedExtension: string | undefined): string[] {
  const order = [...WAL_EXTENSION_PROBE_ORDER];
  if (cachedExtension === undefined || codecForExtension(cachedExtension) === undefined) return order;
  const bare = cachedExtension.startsWith('.') ? cachedExtension.slice(1) : cachedExtension;
  return [bare, ...order.filter((extension) => extension !== bare)];
}

/** The cached extension, or undefined when the file is missing, unreadable or not the expected JSON. */
export function readCachedExtension(path: string = decompressorCachePath()): string | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed === null || typeof parsed !== 'object') return undefined;
    // Go's json.Unmarshal matches keys case-insensitively.
    for (const [key, value] of Object.entries(parsed)) {
      if (key.toLowerCase() === 'fileextension' && typeof value === 'string') return value;
    }
    return undefined;
  } catch {
    return undefined;
  }
}

/** Records the extension that was found, as WAL-G does: `{"FileExtension":"lz4"}`, mode 0644; failures are ignored. */
export function writeCachedExtension(extension: string, path: string = decompressorCachePath()): void {
  try {
    writeFileSync(path, JSON.stringify({ FileExtension: extension }), { mode: 0o644 });
  } catch {
    // WAL-G ignores a failed cache write too: the cache only saves a few lookups.
  }
}
