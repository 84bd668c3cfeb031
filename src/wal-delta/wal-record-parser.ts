// Parses PostgreSQL 13–18 WAL, one page at a time, into the block references (relation file + block number) of
// every record, the way WAL-G's walparser walks pages: page headers (short and long), records spanning pages,
// block headers with full-page images, and the WAL-switch record that ends a segment early.
//
// Hot path notes: the binary runs --jitless, so records lying inside one page are read in place through one
// DataView per page (no copies, no per-byte closures); only records crossing a page boundary are assembled.
//
// One deliberate difference from WAL-G v3.0.8: WAL-G decodes `bimg_info` with the PostgreSQL ≤ 14 bit layout, so on
// PostgreSQL ≥ 15 a full-page image marked BKPIMAGE_APPLY (0x02) reads as "compressed" and the record fails to
// parse (WAL-G then cancels that delta group). Here the layout follows the page magic (≥ 0xD110 is PG 15+), so
// those records parse and their block references are recorded.

import { BlockLocationList } from './block-locations.ts';

export const XLOG_RECORD_HEADER_SIZE = 24;
const SHORT_PAGE_HEADER_SIZE = 24; // MAXALIGN(20)
const LONG_PAGE_HEADER_SIZE = 40; // MAXALIGN(36)
const XLP_FIRST_IS_CONTRECORD = 0x0001;
const XLP_LONG_HEADER = 0x0002;
const XLP_ALL_FLAGS = 0x0007;
const RM_XLOG_ID = 0;
const XLOG_SWITCH = 0x40;
const XLR_INFO_MASK = 0x0f;
const XLR_MAX_BLOCK_ID = 32;
const XLR_BLOCK_ID_DATA_SHORT = 255;
const XLR_BLOCK_ID_DATA_LONG = 254;
const XLR_BLOCK_ID_ORIGIN = 253;
const XLR_BLOCK_ID_TOPLEVEL_XID = 252;
const BKPBLOCK_HAS_IMAGE = 0x10;
const BKPBLOCK_HAS_DATA = 0x20;
const BKPBLOCK_SAME_REL = 0x80;
const BKPIMAGE_HAS_HOLE = 0x01;
/** PG ≤ 14: BKPIMAGE_IS_COMPRESSED. */
const BKPIMAGE_IS_COMPRESSED_PG13 = 0x02;
/** PG ≥ 15: BKPIMAGE_COMPRESS_PGLZ | _LZ4 | _ZSTD. */
const BKPIMAGE_COMPRESSED_PG15 = 0x04 | 0x08 | 0x10;
/** XLOG_PAGE_MAGIC of PostgreSQL 15; earlier majors have smaller values. */
const PAGE_MAGIC_PG15 = 0xd110;
/** Built-in resource managers (0..21 in PG 13–18); PG 15+ custom ones are 128..255. */
const RM_MAX_BUILTIN_ID = 21;
const RM_MIN_CUSTOM_ID = 128;

/** Malformed WAL: WAL-G stops recording the delta for that segment's group when it meets one. */
export class WalParseError extends Error {
  override name = 'WalParseError';
}

export interface WalParserOptions {
  /** WALG_PG_WAL_PAGE_SIZE, default 8192. */
  readonly pageSize?: number;
  /** WALG_PG_BLOCK_SIZE, default 8192 (needed to check full-page-image holes). */
  readonly blockSize?: number;
  /** Use the PG ≥ 15 `bimg_info` layout before any page header was seen (e.g. records assembled from parts). */
  readonly postgres15ImageFlags?: boolean;
}

/** What one page yielded besides block references. */
export interface PageResult {
  /** 'zero': an all-zero page (ignored); 'partial': records stopped at zeros (end of a .partial or after a switch). */
  readonly kind: 'records' | 'zero' | 'partial';
  /**
   * With no record beginning known (a fresh parser on a segment's first pages): the bytes that finished the record
   * begun in the previous segment, once they are complete (possibly empty). Undefined otherwise.
   */
  readonly discardedTail: Buffer | undefined;
  /** Number of records whose block references were added. */
  readonly recordCount: number;
}

/**
 * Stateful page-by-page parser. State between pages is the beginning of the record still incomplete at the end of
 * the last page (WAL-G's "current record data"), which is also what a `_delta` sidecar stores as its parser seed.
 */
export class WalRecordParser {
  readonly pageSize: number;
  readonly blockSize: number;
  private postgres15Images: boolean;
  private pending: Buffer[] = [];
  private pendingLength = 0;
  private hasBeginning = false;
  private readonly zeroPage: Buffer;

  /** @param seed the beginning of an incomplete record (a sidecar's parser state), or nothing for a fresh parser. */
  constructor(options: WalParserOptions = {}, seed?: Buffer) {
    this.pageSize = options.pageSize ?? 8192;
    this.blockSize = options.blockSize ?? 8192;
    this.postgres15Images = options.postgres15ImageFlags ?? true;
    this.zeroPage = Buffer.alloc(this.pageSize);
    if (seed && seed.length > 0) this.setPending(Buffer.from(seed));
  }

  /** The beginning of the record that is still incomplete (empty when none). */
  currentRecordHead(): Buffer {
    return this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingLength);
  }

  /** The `bimg_info` layout in use: PG 15+ unless the last page header had an older magic. */
  get usesPostgres15ImageFlags(): boolean {
    return this.postgres15Images;
  }

  /** True when the parser holds the beginning of a record (so a continuation can be completed). */
  hasRecordBeginning(): boolean {
    return this.hasBeginning;
  }

  /** WAL-G's Invalidate: forget any partial record after an error. */
  invalidate(): void {
    this.setPending(undefined);
  }

  private setPending(data: Buffer | undefined): void {
    this.pending = data && data.length > 0 ? [data] : [];
    this.pendingLength = data ? data.length : 0;
    this.hasBeginning = this.pendingLength > 0;
  }

  private appendPending(data: Buffer): void {
    if (data.length === 0) return;
    this.pending.push(data);
    this.pendingLength += data.length;
  }

  /**
   * Parses one page (exactly pageSize bytes, or fewer at the end of a short file) and adds the block references of
   * every record completed on it to `locations`. Throws WalParseError on malformed data.
   */
  parsePage(page: Buffer, locations: BlockLocationList): PageResult {
    const pageSize = this.pageSize;
    if (page.length < 20) throw new WalParseError(`WAL page of ${page.length} bytes is too short for a page header`);
    const view = new DataView(page.buffer, page.byteOffset, page.length);
    const magic = view.getUint16(0, true);
    const info = view.getUint16(2, true);
    const remainingLength = view.getUint32(16, true);
    if (magic === 0 && info === 0 && view.getUint32(4, true) === 0 && view.getUint32(8, true) === 0 && view.getUint32(12, true) === 0 && remainingLength === 0) {
      if (isZero(page, 20, page.length, this.zeroPage)) return { kind: 'zero', discardedTail: undefined, recordCount: 0 };
      throw new WalParseError('page header contains only zeroes, maybe it is a part .partial file or this page follow WAL-switch record');
    }
    if ((info & ~XLP_ALL_FLAGS) !== 0 || ((info & XLP_FIRST_IS_CONTRECORD) !== 0) !== (remainingLength !== 0)) {
      throw new WalParseError('invalid page header');
    }
    this.postgres15Images = magic >= PAGE_MAGIC_PG15;
    const headerSize = (info & XLP_LONG_HEADER) !== 0 ? LONG_PAGE_HEADER_SIZE : SHORT_PAGE_HEADER_SIZE;
    const end = Math.min(page.length, pageSize);
    const available = Math.max(0, end - headerSize);
    const trailingLength = Math.min(remainingLength, available);
    const trailing = page.subarray(headerSize, headerSize + trailingLength);

    if (trailingLength < remainingLength) {
      // The continued record goes on past this page.
      this.appendPending(Buffer.from(trailing));
      return { kind: 'records', discardedTail: undefined, recordCount: 0 };
    }

    let recordCount = 0;
    let discardedTail: Buffer | undefined;
    if (!this.hasBeginning) {
      // A fresh parser: what finishes here belongs to a record begun in an earlier segment.
      this.appendPending(Buffer.from(trailing));
      discardedTail = this.currentRecordHead();
      this.setPending(undefined);
    } else {
      this.appendPending(trailing);
      const record = this.currentRecordHead();
      this.setPending(undefined);
      const total = record.length >= 4 ? record.readUInt32LE(0) : 0;
      if (record.length < XLOG_RECORD_HEADER_SIZE || total !== record.length) {
        throw new WalParseError('expected to find continuation of current xlog record, but found new records instead');
      }
      const recordView = new DataView(record.buffer, record.byteOffset, record.length);
      const isSwitch = this.parseRecord(recordView, 0, record.length, locations);
      recordCount++;
      if (isSwitch) return { kind: 'records', discardedTail, recordCount };
    }

    // Records that start on this page.
    let position = headerSize + trailingLength;
    for (;;) {
      position = (position + 7) & ~7;
      if (position >= end) break;
      const left = end - position;
      if (left < XLOG_RECORD_HEADER_SIZE) {
        if (isZero(page, position, end, this.zeroPage)) return { kind: 'partial', discardedTail, recordCount };
        this.setPending(Buffer.from(page.subarray(position, end)));
        break;
      }
      const total = view.getUint32(position, true);
      if (total < XLOG_RECORD_HEADER_SIZE) {
        if (isZero(page, position, position + XLOG_RECORD_HEADER_SIZE, this.zeroPage)) {
          if (isZero(page, position + XLOG_RECORD_HEADER_SIZE, end, this.zeroPage)) return { kind: 'partial', discardedTail, recordCount };
          throw new WalParseError('whole record header is zero, maybe it\'s parsed from .partial file or after WAL-Switch operation');
        }
        throw new WalParseError(`total record length is too small: ${total}, expected at least: ${XLOG_RECORD_HEADER_SIZE}`);
      }
      checkResourceManager(view.getUint8(position + 17));
      if (total > left) {
        this.setPending(Buffer.from(page.subarray(position, end)));
        break;
      }
      const isSwitch = this.parseRecord(view, position, total, locations);
      recordCount++;
      if (isSwitch) break;
      position += total;
    }
    return { kind: 'records', discardedTail, recordCount };
  }

  /**
   * Reads the block headers of the record at `start` (`length` bytes available, at least its total length) and adds
   * each block reference. Returns true for an XLOG_SWITCH record.
   */
  parseRecord(view: DataView, start: number, length: number, locations: BlockLocationList): boolean {
    if (length < XLOG_RECORD_HEADER_SIZE) throw new WalParseError('record shorter than its header');
    const total = view.getUint32(start, true);
    const info = view.getUint8(start + 16);
    const resourceManager = view.getUint8(start + 17);
    if (total < XLOG_RECORD_HEADER_SIZE) throw new WalParseError(`total record length is too small: ${total}, expected at least: ${XLOG_RECORD_HEADER_SIZE}`);
    checkResourceManager(resourceManager);
    if (length < total) throw new WalParseError(`record needs ${total} bytes but only ${length} are present`);

    // WAL-G's ShrinkableReader: `remaining` counts header bytes not yet read plus payload not yet skipped.
    let remaining = total - XLOG_RECORD_HEADER_SIZE;
    let at = start + XLOG_RECORD_HEADER_SIZE;
    let maxBlockId = -1;
    let haveRel = false;
    let spcNode = 0;
    let dbNode = 0;
    let relNode = 0;
    const blockSize = this.blockSize;
    const compressedMask = this.postgres15Images ? BKPIMAGE_COMPRESSED_PG15 : BKPIMAGE_IS_COMPRESSED_PG13;
    while (remaining > 0) {
      const blockId = view.getUint8(at);
      at += 1;
      remaining -= 1;
      if (blockId === XLR_BLOCK_ID_DATA_SHORT) {
        if (remaining < 1) throw truncated();
        const mainLength = view.getUint8(at);
        at += 1;
        remaining -= 1 + mainLength;
        if (remaining < 0) throw notEnough();
      } else if (blockId === XLR_BLOCK_ID_DATA_LONG) {
        if (remaining < 4) throw truncated();
        const mainLength = view.getUint32(at, true);
        at += 4;
        remaining -= 4 + mainLength;
        if (remaining < 0) throw notEnough();
      } else if (blockId === XLR_BLOCK_ID_ORIGIN) {
        if (remaining < 2) throw truncated();
        at += 2;
        remaining -= 2;
      } else if (blockId === XLR_BLOCK_ID_TOPLEVEL_XID) {
        if (remaining < 4) throw truncated();
        at += 4;
        remaining -= 4;
      } else {
        if (blockId > XLR_MAX_BLOCK_ID) throw new WalParseError(`invalid record blockId: ${blockId}`);
        if (blockId <= maxBlockId) throw new WalParseError(`out of order block id: ${blockId}, expected: ${maxBlockId}`);
        maxBlockId = blockId;
        if (remaining < 3) throw truncated();
        const forkFlags = view.getUint8(at);
        const dataLength = view.getUint16(at + 1, true);
        at += 3;
        remaining -= 3;
        const hasData = (forkFlags & BKPBLOCK_HAS_DATA) !== 0;
        if (hasData !== (dataLength !== 0)) {
          throw new WalParseError(`block state is inconsistent: hasData is: ${hasData}, while dataLength is: ${dataLength}`);
        }
        remaining -= dataLength;
        if (remaining < 0) throw notEnough();
        if ((forkFlags & BKPBLOCK_HAS_IMAGE) !== 0) {
          if (remaining < 5) throw truncated();
          const imageLength = view.getUint16(at, true);
          const holeOffset = view.getUint16(at + 2, true);
          const imageInfo = view.getUint8(at + 4);
          at += 5;
          remaining -= 5;
          const hasHole = (imageInfo & BKPIMAGE_HAS_HOLE) !== 0;
          const compressed = (imageInfo & compressedMask) !== 0;
          let holeLength: number;
          if (compressed) {
            holeLength = 0;
            if (hasHole) {
              if (remaining < 2) throw truncated();
              holeLength = view.getUint16(at, true);
              at += 2;
              remaining -= 2;
            }
          } else {
            holeLength = (blockSize - imageLength) & 0xffff;
          }
          if ((hasHole && (holeOffset === 0 || holeLength === 0 || imageLength === blockSize)) || (!hasHole && (holeOffset !== 0 || holeLength !== 0))) {
            throw new WalParseError(
              `block image hole state is inconsistent: holeOffset is: ${holeOffset}, holeLength is: ${holeLength}, imageLength is: ${imageLength}, while hasHole is: ${hasHole}`,
            );
          }
          if ((compressed && imageLength === blockSize) || (!hasHole && !compressed && imageLength !== blockSize)) {
            throw new WalParseError(`block image has invalid state: hasHole: ${hasHole}, isCompressed: ${compressed}, imageLength: ${imageLength}`);
          }
          remaining -= imageLength;
          if (remaining < 0) throw notEnough();
        }
        if ((forkFlags & BKPBLOCK_SAME_REL) !== 0) {
          if (!haveRel) throw new WalParseError('expected to copy previous rel file node, but not found one');
        } else {
          if (remaining < 12) throw truncated();
          spcNode = view.getUint32(at, true);
          dbNode = view.getUint32(at + 4, true);
          relNode = view.getUint32(at + 8, true);
          at += 12;
          remaining -= 12;
          haveRel = true;
        }
        if (remaining < 4) throw truncated();
        const blockNo = view.getUint32(at, true);
        at += 4;
        remaining -= 4;
        locations.push(spcNode, dbNode, relNode, blockNo);
      }
    }
    return resourceManager === RM_XLOG_ID && (info & ~XLR_INFO_MASK) === XLOG_SWITCH;
  }
}

function truncated(): WalParseError {
  return new WalParseError('unexpected EOF while reading record block headers');
}

function notEnough(): WalParseError {
  return new WalParseError('not enough data to shrink: record payload lengths exceed the record length');
}

function checkResourceManager(id: number): void {
  if (id > RM_MAX_BUILTIN_ID && id < RM_MIN_CUSTOM_ID) {
    throw new WalParseError(`resource manager id is invalid: ${id}, while it should be less than: ${RM_MAX_BUILTIN_ID + 1}`);
  }
}

/** True when page[start, end) is all zero bytes (compared natively against a zero page). */
function isZero(page: Buffer, start: number, end: number, zeroPage: Buffer): boolean {
  if (end <= start) return true;
  return page.compare(zeroPage, 0, end - start, start, end) === 0;
}

/** Parses one record given as contiguous bytes (e.g. assembled from a `_part` file) into `locations`. */
export function parseRecordBytes(record: Buffer, locations: BlockLocationList, options: WalParserOptions = {}): void {
  const parser = new WalRecordParser(options);
  const view = new DataView(record.buffer, record.byteOffset, record.length);
  parser.parseRecord(view, 0, record.length, locations);
}
