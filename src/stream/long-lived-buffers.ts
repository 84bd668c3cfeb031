// Buffers that live as long as a pipeline and are filled whole, many times over: chunk pools, codec blocks.

import { walnutNative } from '../native/walnut-native.ts';
import { HUGE_PAGE_BUFFERS_MIN_BYTES } from './memory-budget.ts';

let hugePagesUsable = true;

/**
 * `count` buffers of `size` bytes, each with its own ArrayBuffer. From HUGE_PAGE_BUFFERS_MIN_BYTES in all they are
 * cut from one mapping the kernel may back with 2 MiB pages (walnut's addon, hugePageBuffers): on the VMs this
 * project runs on, a fresh 4 KiB page costs ~17 µs to fault in, so a process that fills 16 MiB of new buffers
 * spends 70-90 ms in faults; with huge pages 1-20 ms. The memory is the same. Falls back to ordinary buffers when
 * the addon or external buffers are not available.
 */
export function allocateLongLivedBuffers(count: number, size: number): Buffer[] {
  if (hugePagesUsable && count * size >= HUGE_PAGE_BUFFERS_MIN_BYTES) {
    try {
      return walnutNative().hugePageBuffers(count, size).map((arrayBuffer) => Buffer.from(arrayBuffer));
    } catch {
      hugePagesUsable = false;
    }
  }
  return Array.from({ length: count }, () => Buffer.allocUnsafeSlow(size));
}

/** One long-lived buffer of `size` bytes (see allocateLongLivedBuffers). */
export function allocateLongLivedBuffer(size: number): Buffer {
  return allocateLongLivedBuffers(1, size)[0];
}
