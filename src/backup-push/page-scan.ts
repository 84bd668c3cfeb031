// Delta page selection by page LSN (WAL-G's default "full scan"): which pages of a relation segment changed since
// the parent backup's start LSN, judged from each page header, with WAL-G's validity rules.

import type { FileHandle } from 'node:fs/promises';
import type { TokenBucket } from '../storage/rate-limit.ts';

/** Page layout versions WAL-G accepts (PostgreSQL's is 4; 5 covers a 64-bit-xid fork). */
const MAX_LAYOUT_VERSION = 5;
const PAGE_HEADER_SIZE = 24;
const VALID_FLAGS = 7;

/** Bytes read per call while scanning (a multiple of any block size). */
export const SCAN_READ_SIZE = 1024 * 1024;

/** A parent LSN split into 32-bit halves: page LSNs compare without BigInt in the per-page loop. */
export interface SplitLsn {
  readonly high: number;
  readonly low: number;
}

export function splitLsn(lsn: bigint): SplitLsn {
  return { high: Number(lsn >> 32n), low: Number(lsn & 0xffffffffn) };
}

export type PageVerdict = 'changed' | 'unchanged' | 'invalid';

/**
 * Classifies the page at `offset`: a valid header whose pd_lsn is at or after the parent's start LSN, or a new
 * (all-empty, pd_upper = 0) page, is 'changed'; a valid older page is 'unchanged'; anything else is 'invalid', which
 * makes WAL-G send the whole file instead of an increment.
 */
export function classifyPage(page: Buffer, offset: number, pageSize: number, parent: SplitLsn): PageVerdict {
  const lsnHigh = page.readUInt32LE(offset);
  const lsnLow = page.readUInt32LE(offset + 4);
  const flags = page.readUInt16LE(offset + 10);
  const lower = page.readUInt16LE(offset + 12);
  const upper = page.readUInt16LE(offset + 14);
  const special = page.readUInt16LE(offset + 16);
  const sizeVersion = page.readUInt16LE(offset + 18);
  const valid =
    (flags & VALID_FLAGS) === flags &&
    lower >= PAGE_HEADER_SIZE &&
    lower <= upper &&
    upper <= special &&
    special <= pageSize &&
    (lsnHigh !== 0 || lsnLow !== 0) &&
    (sizeVersion & 0xff00) === pageSize &&
    (sizeVersion & 0xff) <= MAX_LAYOUT_VERSION;
  if (!valid) return upper === 0 ? 'changed' : 'invalid';
  if (lsnHigh > parent.high || (lsnHigh === parent.high && lsnLow >= parent.low)) return 'changed';
  return 'unchanged';
}

/**
 * Reads the first `fileSize` bytes of a paged file and returns the numbers of the changed pages in ascending order,
 * or undefined when a page is invalid (WAL-G's InvalidBlockError: back up the whole file). A file that shrank while
 * being read ends the scan early; pages that appeared after the stat are left to WAL replay.
 */
export async function scanChangedBlocks(
  file: FileHandle,
  fileSize: number,
  parentLsn: bigint,
  pageSize: number,
  options: { readonly diskLimit?: TokenBucket; readonly buffer?: Buffer } = {},
): Promise<Uint32Array | undefined> {
  const parent = splitLsn(parentLsn);
  const pageCount = Math.floor(fileSize / pageSize);
  const blocks = new Uint32Array(pageCount);
  let found = 0;
  const buffer = options.buffer ?? Buffer.allocUnsafe(Math.max(SCAN_READ_SIZE - (SCAN_READ_SIZE % pageSize), pageSize));
  const pagesPerRead = Math.floor(buffer.length / pageSize);
  let block = 0;
  while (block < pageCount) {
    const wanted = Math.min(pagesPerRead, pageCount - block) * pageSize;
    await options.diskLimit?.take(wanted);
    let filled = 0;
    while (filled < wanted) {
      const { bytesRead } = await file.read(buffer, filled, wanted - filled, block * pageSize + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    const wholePages = Math.floor(filled / pageSize);
    for (let index = 0; index < wholePages; index++) {
      const verdict = classifyPage(buffer, index * pageSize, pageSize, parent);
      if (verdict === 'invalid') return undefined;
      if (verdict === 'changed') blocks[found++] = block + index;
    }
    block += wholePages;
    if (filled < wanted) break;
  }
  return blocks.subarray(0, found);
}
