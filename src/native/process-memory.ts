// Process-wide memory settings walnut applies once a command is known (docs/PERFORMANCE.md, "The runtime floor").
// Best effort: when walnut's addon cannot be loaded here, the command runs as before and reports the addon
// problem only if its data path needs the addon.

import * as sea from 'node:sea';
import { walnutNative } from './walnut-native.ts';

/** Set to "off" to run without these settings (for measuring what they change). */
export const MEMORY_TUNING_ENV = 'WALNUT_MEMORY_TUNING';

function enabled(): boolean {
  return process.env[MEMORY_TUNING_ENV] !== 'off' && sea.isSea();
}

/**
 * Before the command's handler starts any thread: threads that allocate from now on (libuv's pool, addons'
 * workers) share glibc's main arena instead of reserving 64 MiB of address space each (128 MiB at the moment an
 * arena is made, which is what VmPeak records). The threads Node starts before any JavaScript runs keep theirs.
 */
export function shareMallocArena(): void {
  if (!enabled()) return;
  try {
    walnutNative().limitMallocArenas(1);
  } catch {
    // Without the addon the arenas stay glibc's default; nothing else depends on this.
  }
}

/**
 * Once the handler's code is loaded: the binary's own read-only pages that start-up touched (V8's snapshot, the
 * bundled script and its code cache, bootstrap code) stop counting in this process's resident set. They stay in
 * the page cache; whatever runs again faults back in from there.
 */
export function releaseStartupPages(): void {
  if (!enabled()) return;
  try {
    walnutNative().releaseExecutablePages();
  } catch {
    // Only the resident set is larger.
  }
}
