// Keeps short-lived stage outputs from piling up: asks V8 to collect after every BUFFER_GARBAGE_LIMIT bytes handed out.

import { BUFFER_GARBAGE_LIMIT } from './memory-budget.ts';
import { nodeV8, nodeVm } from '../native/lazy-builtins.ts';

type Collector = (options: { type: 'minor' | 'major'; execution: 'sync' }) => void;

/** One collection in this many is a full one: every 64 MiB handed out. */
const MAJOR_EVERY = 8;

let collector: Collector | null | undefined;
let bytesSinceCollection = 0;
let collections = 0;

/**
 * Why: every stage output is a fresh buffer that is garbage once the next stage is done with it, and
 * V8 schedules collections by JS heap growth, which tiny buffer handles barely cause.
 * - Native results (lz4-napi, @napi-rs/lzma) are invisible to V8: 512 lz4 blocks of 4 MiB reached
 *   200 MiB RSS; with a young-generation collection after each block it stays at 77 MiB and runs faster
 *   (freed memory is reused instead of faulted in anew).
 * - JS buffers (zlib outputs, copies) are counted by V8 but collected late: 256 MiB through zstd peaked
 *   at ~65 MiB over the baseline.
 */
function obtainCollector(): Collector | null {
  if (collector !== undefined) return collector;
  // The binary is started with --expose-gc (scripts/build.mjs): gc() is there without loading node:v8 and making a
  // context with node:vm, ~10 ms of a wal-fetch's start-up under --jitless.
  const exposed = (globalThis as { gc?: unknown }).gc;
  if (typeof exposed === 'function') return (collector = exposed as Collector);
  try {
    // The documented way to reach gc() without the command-line flag; the flag is put back right after.
    nodeV8().setFlagsFromString('--expose-gc');
    const gc = nodeVm().runInNewContext('gc') as unknown;
    nodeV8().setFlagsFromString('--no-expose-gc');
    collector = typeof gc === 'function' ? (gc as Collector) : null;
  } catch {
    collector = null;
  }
  return collector;
}

/**
 * Records that a stage handed out a buffer of `bytes` that becomes garbage once consumed. Every
 * BUFFER_GARBAGE_LIMIT bytes a young-generation collection runs (about 0.2 ms), and every MAJOR_EVERY-th time
 * a full one, for outputs that stayed referenced long enough (queued in a slow sink) to be promoted.
 *
 * Returns true when it collected. A stage producing native buffers should then let the event loop reach
 * its check phase (setImmediate) before producing more: Node runs N-API finalizers, which free the
 * native memory, from the immediate queue, and a pipeline fed by a synchronous source can run for
 * seconds on nextTick and promise jobs alone (measured: 460 MiB instead of 96 MiB for 1 GiB of lz4).
 */
export function noteBufferOutput(bytes: number): boolean {
  bytesSinceCollection += bytes;
  if (bytesSinceCollection < BUFFER_GARBAGE_LIMIT) return false;
  bytesSinceCollection = 0;
  const gc = obtainCollector();
  if (gc === null) return false;
  collections++;
  gc({ type: collections % MAJOR_EVERY === 0 ? 'major' : 'minor', execution: 'sync' });
  return true;
}

/** For tests: how many collections noteBufferOutput has asked for. */
export function bufferCollectionCount(): number {
  return collections;
}
