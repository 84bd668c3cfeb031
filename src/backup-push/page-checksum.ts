// PostgreSQL's data page checksum (pg_checksum_page: 32 FNV-1a-like lanes over the page read as 32-bit words, two
// zero rounds, xor fold, block number mixed in, reduced to 1..65535) and backup-push --verify's per-file check.

import { basename } from 'node:path';
import { log } from '../log/logger.ts';
import { walnutNative } from '../native/walnut-native.ts';

/** The parallel lanes of the hash; a page is read as rows of this many little-endian 32-bit words. */
const LANES = 32;
/** Where pd_checksum sits in the page header. */
const CHECKSUM_OFFSET = 8;
const PAGE_HEADER_SIZE = 24;
const VALID_FLAGS = 7;
/** Page layout versions WAL-G accepts (PostgreSQL's is 4; 5 covers a 64-bit-xid fork). */
const MAX_LAYOUT_VERSION = 5;
/** Relation segment files: `<relfilenode>` or `<relfilenode>.<segment>` (the main fork only, as in WAL-G). */
const SEGMENT_FILE_NAME = /^(\d+)([.]\d+)?$/;
/** A segment holds 1 GiB; block numbers in checksums count from the relation's first segment. */
const SEGMENT_BYTES = 1024 * 1024 * 1024;
/** WAL-G's MaxCorruptBlocksInFileDesc: block numbers kept per file unless every one is asked for. */
export const MAX_REPORTED_CORRUPT_BLOCKS = 10;

/** The lanes' starting values, fixed by PostgreSQL's checksum_impl.h so every page hashes the same everywhere. */
const LANE_SEEDS = new Int32Array([
  0x5b1f36e9, 0xb8525960, 0x02ab50aa, 0x1de66d2a, 0x79ff467a, 0x9bb9f8a3, 0x217e7cd2, 0x83e13d2c, 0xf8d4474f, 0xe39eb970,
  0x42c6ae16, 0x993216fa, 0x7b093b5d, 0x98daff3c, 0xf718902a, 0x0b1c9cdb, 0xe58f764b, 0x187636bc, 0x5d7b3bb1, 0xe73de7de,
  0x92bec979, 0xcca6c0b2, 0x304a0979, 0x85aa43d4, 0x783125bb, 0x6ca8eaa2, 0xe407eac6, 0x4b5cfc3e, 0x9fbf8c76, 0x15ca20be,
  0xf2ca9fd3, 0x959bd756,
]);

/** Two rounds of a zero word: PostgreSQL's final mixing of each lane. */
function finalRounds(lane: number): number {
  let value = (((lane << 24) + lane * 403) | 0) ^ (lane >>> 17);
  value = (((value << 24) + value * 403) | 0) ^ (value >>> 17);
  return value;
}

/**
 * The checksum PostgreSQL stores in pd_checksum for the page at `offset` of `buffer` (block `blockNumber` of its
 * relation, counted across segments), computed by walnut's native addon: ~14 s of CPU per GiB in the interpreter
 * (pageChecksumScript below) against well under 1 s natively (docs/PERFORMANCE.md).
 */
export function pageChecksum(buffer: Buffer, offset: number, pageSize: number, blockNumber: number): number {
  return walnutNative().pageChecksum(new Uint8Array(buffer.buffer, buffer.byteOffset + offset, pageSize), blockNumber);
}

/**
 * The same checksum in TypeScript: the reference the native one is tested against. The stored checksum field is
 * hashed as zero.
 *
 * Runs under --jitless, so it is written for the interpreter: the 32 lanes are locals (the row unrolled), and the
 * FNV prime 0x01000193 is applied as `(t << 24) + t * 403` (exact in a double, then wrapped to 32 bits) rather
 * than through a Math.imul call. Little-endian hosts only: the words are viewed, not decoded.
 */
export function pageChecksumScript(buffer: Buffer, offset: number, pageSize: number, blockNumber: number): number {
  const aligned = (buffer.byteOffset + offset) % 4 === 0;
  const words = aligned
    ? new Int32Array(buffer.buffer, buffer.byteOffset + offset, pageSize >>> 2)
    : new Int32Array(Uint8Array.prototype.slice.call(buffer, offset, offset + pageSize).buffer);
  // pd_checksum is the low half of word 2; it is zeroed for the hash and put back (the buffer is still ours).
  const checksumWord = words[CHECKSUM_OFFSET >>> 2];
  words[CHECKSUM_OFFSET >>> 2] = checksumWord & ~0xffff;
  const end = pageSize >>> 2;
  let s0 = LANE_SEEDS[0], s1 = LANE_SEEDS[1], s2 = LANE_SEEDS[2], s3 = LANE_SEEDS[3], s4 = LANE_SEEDS[4], s5 = LANE_SEEDS[5], s6 = LANE_SEEDS[6], s7 = LANE_SEEDS[7], s8 = LANE_SEEDS[8], s9 = LANE_SEEDS[9], s10 = LANE_SEEDS[10], s11 = LANE_SEEDS[11], s12 = LANE_SEEDS[12], s13 = LANE_SEEDS[13], s14 = LANE_SEEDS[14], s15 = LANE_SEEDS[15], s16 = LANE_SEEDS[16], s17 = LANE_SEEDS[17], s18 = LANE_SEEDS[18], s19 = LANE_SEEDS[19], s20 = LANE_SEEDS[20], s21 = LANE_SEEDS[21], s22 = LANE_SEEDS[22], s23 = LANE_SEEDS[23], s24 = LANE_SEEDS[24], s25 = LANE_SEEDS[25], s26 = LANE_SEEDS[26], s27 = LANE_SEEDS[27], s28 = LANE_SEEDS[28], s29 = LANE_SEEDS[29], s30 = LANE_SEEDS[30], s31 = LANE_SEEDS[31];
  let mixed = 0;
  for (let row = 0; row < end; row += LANES) {
    mixed = s0 ^ words[row]; s0 = (((mixed << 24) + mixed * 403) | 0) ^ (mixed >>> 17);
    mixed = s1 ^ words[row + 1]; s1 = (((mixed << 24) + mixed * 403) | 0) ^ (mixed >>> 17);
    mixed = s2 ^ words[row + 2]; s2 = (((mixed << 24) + mixed * 403) | 0) ^ (mixed >>> 17);
    mixed = s3 ^ words[row + 3]; s3 = (((mixed << 24) + mixed * 403) | 0) ^ (mixed >>> 17);
    mixed = s4 ^ words[row + 4]; s4 = (((mixed << 24) + mixed * 403) | 0) ^ (mixed >>> 17);
    mixed = s5 ^ words[row + 5]; s5 = (((mixed << 24) + mixed * 403) | 0) ^ (mixed >>> 17);
    mixed = s6 ^ words[row + 6]; s6 = (((mixed << 24) + mixed * 403) | 0) ^ (mixed >>> 17);
    mixed = s7 ^ words[row + 7]; s7 = (((mixed << 24) + mixed * 403) | 0) ^ (mixed >>> 17);
    mixed = s8 ^ words[row + 8]; s8 = (((mixed << 24) + mixed * 403) | 0) ^ (mixed >>> 17);
    mixed = s9 ^ words[row + 9]; s9 = (((mixed << 24) + mixed * 403) | 0) ^ (mixed >>> 17);
    mixed = s10 ^ words[row + 10]; s10 = (((mixed << 24) + mixed * 403) | 0) ^ (mixed >>> 17);
    mixed = s11 ^ words[row + 11]; s11 = (((mixed << 24) + mixed * 403) | 0) ^ (mixed >>> 17);
    mixed = s12 ^ words[row + 12]; s12 = (((mixed << 24) + mixed * 403) | 0) ^ (mixed >>> 17);
    mixed = s13 ^ words[row + 13]; s13 = (((mixed << 24) + mixed * 403) | 0) ^ (mixed >>> 17);
    mixed = s14 ^ words[row + 14]; s14 = (((mixed << 24) + mixed * 403) | 0) ^ (mixed >>> 17);
    mixed = s15 ^ words[row + 15]; s15 = (((mixed << 24) + mixed * 403) | 0) ^ (mixed >>> 17);
    mixed = s16 ^ words[row + 16]; s16 = (((mixed << 24) + mixed * 403) | 0) ^ (mixed >>> 17);
    mixed = s17 ^ words[row + 17]; s17 = (((mixed << 24) + mixed * 403) | 0) ^ (mixed >>> 17);
    mixed = s18 ^ words[row + 18]; s18 = (((mixed << 24) + mixed * 403) | 0) ^ (mixed >>> 17);
    mixed = s19 ^ words[row + 19]; s19 = (((mixed << 24) + mixed * 403) | 0) ^ (mixed >>> 17);
    mixed = s20 ^ words[row + 20]; s20 = (((mixed << 24) + mixed * 403) | 0) ^ (mixed >>> 17);
    mixed = s21 ^ words[row + 21]; s21 = (((mixed << 24) + mixed * 403) | 0) ^ (mixed >>> 17);
    mixed = s22 ^ words[row + 22]; s22 = (((mixed << 24) + mixed * 403) | 0) ^ (mixed >>> 17);
    mixed = s23 ^ words[row + 23]; s23 = (((mixed << 24) + mixed * 403) | 0) ^ (mixed >>> 17);
    mixed = s24 ^ words[row + 24]; s24 = (((mixed << 24) + mixed * 403) | 0) ^ (mixed >>> 17);
    mixed = s25 ^ words[row + 25]; s25 = (((mixed << 24) + mixed * 403) | 0) ^ (mixed >>> 17);
    mixed = s26 ^ words[row + 26]; s26 = (((mixed << 24) + mixed * 403) | 0) ^ (mixed >>> 17);
    mixed = s27 ^ words[row + 27]; s27 = (((mixed << 24) + mixed * 403) | 0) ^ (mixed >>> 17);
    mixed = s28 ^ words[row + 28]; s28 = (((mixed << 24) + mixed * 403) | 0) ^ (mixed >>> 17);
    mixed = s29 ^ words[row + 29]; s29 = (((mixed << 24) + mixed * 403) | 0) ^ (mixed >>> 17);
    mixed = s30 ^ words[row + 30]; s30 = (((mixed << 24) + mixed * 403) | 0) ^ (mixed >>> 17);
    mixed = s31 ^ words[row + 31]; s31 = (((mixed << 24) + mixed * 403) | 0) ^ (mixed >>> 17);
  }
  // Two rounds of zeros for the final mixing, then the lanes folded together.
  words[CHECKSUM_OFFSET >>> 2] = checksumWord;
  const folded =
    finalRounds(s0) ^
    finalRounds(s1) ^
    finalRounds(s2) ^
    finalRounds(s3) ^
    finalRounds(s4) ^
    finalRounds(s5) ^
    finalRounds(s6) ^
    finalRounds(s7) ^
    finalRounds(s8) ^
    finalRounds(s9) ^
    finalRounds(s10) ^
    finalRounds(s11) ^
    finalRounds(s12) ^
    finalRounds(s13) ^
    finalRounds(s14) ^
    finalRounds(s15) ^
    finalRounds(s16) ^
    finalRounds(s17) ^
    finalRounds(s18) ^
    finalRounds(s19) ^
    finalRounds(s20) ^
    finalRounds(s21) ^
    finalRounds(s22) ^
    finalRounds(s23) ^
    finalRounds(s24) ^
    finalRounds(s25) ^
    finalRounds(s26) ^
    finalRounds(s27) ^
    finalRounds(s28) ^
    finalRounds(s29) ^
    finalRounds(s30) ^
    finalRounds(s31);
  return (((folded ^ blockNumber) >>> 0) % 65535) + 1;
}

/** What one page's header says about checking it. */
type PageState = 'new' | 'invalid' | 'no-checksum' | 'after-start' | 'checkable';

/**
 * WAL-G's rules: a new page (pd_upper = 0) and a page without a checksum are not checked, an invalid header is
 * reported and not counted. Walnut also skips a page whose LSN is at or after the backup's start: it may be torn by
 * a concurrent write and WAL replay rewrites it (pg_basebackup's rule; WAL-G v3.0.8 checks such pages).
 */
function pageState(page: Buffer, offset: number, pageSize: number, startHigh: number, startLow: number): PageState {
  const upper = page.readUInt16LE(offset + 14);
  if (upper === 0) return 'new';
  const lsnHigh = page.readUInt32LE(offset);
  const lsnLow = page.readUInt32LE(offset + 4);
  const flags = page.readUInt16LE(offset + 10);
  const lower = page.readUInt16LE(offset + 12);
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
  if (!valid) return 'invalid';
  if (page.readUInt16LE(offset + CHECKSUM_OFFSET) === 0) return 'no-checksum';
  if (lsnHigh > startHigh || (lsnHigh === startHigh && lsnLow >= startLow)) return 'after-start';
  return 'checkable';
}

/** The corrupt blocks of one file as files_metadata.json records them (WAL-G's SetCorruptBlocks). */
export interface CorruptBlocksRecord {
  readonly count: number;
  readonly someBlocks: number[];
}

/** Sorted block numbers → the record: every number with WALG_STORE_ALL_CORRUPT_BLOCKS, else the first 10. */
export function corruptBlocksRecord(blocks: readonly number[], storeAll: boolean): CorruptBlocksRecord | undefined {
  if (blocks.length === 0) return undefined;
  const sorted = [...blocks].sort((left, right) => left - right);
  return { count: sorted.length, someBlocks: storeAll ? sorted : sorted.slice(0, MAX_REPORTED_CORRUPT_BLOCKS) };
}

/** Settings of --verify for one backup. */
export interface PageVerificationOptions {
  /** The backup's start LSN: pages written after it are not checked. */
  readonly startLsn: bigint;
  /** --store-all-corrupt / WALG_STORE_ALL_CORRUPT_BLOCKS. */
  readonly storeAllCorruptBlocks: boolean;
  readonly pageSize: number;
}

/** Checks the pages of files while they are packed; one FileVerification per file. */
export class PageVerifier {
  readonly #options: PageVerificationOptions;
  readonly #startHigh: number;
  readonly #startLow: number;

  constructor(options: PageVerificationOptions) {
    this.#options = options;
    this.#startHigh = Number(options.startLsn >> 32n);
    this.#startLow = Number(options.startLsn & 0xffffffffn);
  }

  /**
   * A check for the file at `path` (size from its stat), or undefined when WAL-G would not check it: not a relation
   * segment under base/ or pg_tblspc/, empty, or (with a warning) not a whole number of pages.
   */
  startFile(path: string, fileSize: number): FileVerification | undefined {
    const match = SEGMENT_FILE_NAME.exec(basename(path));
    if (fileSize <= 0 || match === null || !(path.includes('base') || path.includes('pg_tblspc'))) {
      if (log.isDebug()) log.debug(`verifyFile: ${path} does not meet the criteria for checksum validation. File will be copied without checksum verification.`);
      return undefined;
    }
    if (fileSize % this.#options.pageSize !== 0) {
      log.warn(`verifyFile: ${path} invalid file size ${fileSize}. File copied without validation. The file may be corrupted.`);
      return undefined;
    }
    const segment = match[2] === undefined ? 0 : Number(match[2].slice(1));
    const firstBlock = segment * (SEGMENT_BYTES / this.#options.pageSize);
    return new FileVerification(path, firstBlock, this.#options.pageSize, this.#startHigh, this.#startLow, this.#options.storeAllCorruptBlocks);
  }
}

/** The pages of one file checked as they pass; `finish()` gives what files_metadata.json records. */
export class FileVerification {
  readonly #path: string;
  readonly #firstBlock: number;
  readonly #pageSize: number;
  readonly #startHigh: number;
  readonly #startLow: number;
  readonly #storeAll: boolean;
  readonly #corrupt: number[] = [];
  #checked = 0;

  constructor(path: string, firstBlock: number, pageSize: number, startHigh: number, startLow: number, storeAll: boolean) {
    this.#path = path;
    this.#firstBlock = firstBlock;
    this.#pageSize = pageSize;
    this.#startHigh = startHigh;
    this.#startLow = startLow;
    this.#storeAll = storeAll;
  }

  /** Checks whole pages `buffer[0..length)`, which are the file's blocks from `block` on (segment-relative). */
  checkRun(buffer: Buffer, length: number, block: number): void {
    const pageSize = this.#pageSize;
    const pages = Math.floor(length / pageSize);
    for (let index = 0; index < pages; index++) this.checkPage(buffer, index * pageSize, block + index);
  }

  /** Checks one page at `offset` of `buffer`, block `block` of this segment file. */
  checkPage(buffer: Buffer, offset: number, block: number): void {
    this.#checked++;
    const state = pageState(buffer, offset, this.#pageSize, this.#startHigh, this.#startLow);
    if (state === 'invalid') {
      log.warn(`Invalid page header encountered: blockNo ${block}, path ${this.#path}`);
      return;
    }
    if (state !== 'checkable') return;
    const stored = buffer.readUInt16LE(offset + CHECKSUM_OFFSET);
    const computed = pageChecksum(buffer, offset, this.#pageSize, this.#firstBlock + block);
    if (computed !== stored) {
      // WAL-G's wording, its "expected" being the stored value.
      log.warn(`Corruption found in ${this.#path}/[${block}], expected ${stored.toString(16)}, found ${computed.toString(16)}`);
      this.#corrupt.push(block);
    }
  }

  /** The corrupt blocks to record (undefined when none). */
  finish(): CorruptBlocksRecord | undefined {
    if (log.isDebug()) log.debug(`verifyPageBlocks: ${this.#path}, checked ${this.#checked} blocks, found ${this.#corrupt.length} corrupt`);
    return corruptBlocksRecord(this.#corrupt, this.#storeAll);
  }
}

/**
 * WAL-G's checkDataChecksums for --verify: true when the server computes checksums; otherwise its warning, and the
 * backup goes on unverified.
 */
export async function checkDataChecksums(session: { dataChecksums(): Promise<string> }, requested: boolean): Promise<boolean> {
  if (!requested) {
    log.debug('checkDataChecksums: Checking if data_checksums is enabled in DB is skipped because the --verify parameter is not set.');
    return false;
  }
  log.debug('checkDataChecksums: Checking data_checksums setting.');
  if ((await session.dataChecksums()) !== 'on') {
    log.warn('data_checksum is disabled in the database. Skipping checksum validation, which may result in undetected data corruption.');
    return false;
  }
  log.info('data_checksums is enabled in DB.');
  return true;
}
