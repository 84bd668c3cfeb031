// The `wi1` increment: the tar member body of a delta backup's changed relation file. Header, block list, then page
// images, all little-endian:
//
//   'w' 'i' '1' 0x55 | u64 file size | [u16 page size: OrioleDB files only] | u32 N | N × u32 block | N × page
//
// Also the facts about paged files that both the writer (backup-push) and the restorer need.

import { WalgError } from '../errors.ts';

export const INCREMENT_MAGIC = Buffer.from([0x77, 0x69, 0x31, 0x55]);
/** Bytes before the block list: magic, file size, block count (OrioleDB adds 2 for its page size). */
export const INCREMENT_HEADER_SIZE = 16;
export const ORIOLEDB_INCREMENT_HEADER_SIZE = 18;
/** PostgreSQL's page header; a page whose first 24 bytes are zero is missing (never written). */
export const PAGE_HEADER_SIZE = 24;

export interface IncrementHeader {
  /** Size of the complete file at backup time. */
  readonly fileSize: number;
  /** Bytes per page (WALG_PG_BLOCK_SIZE, or the OrioleDB header's own value). */
  readonly pageSize: number;
  readonly blockCount: number;
}

/** Checks the 4 magic bytes with WAL-G's two messages. */
export function checkIncrementMagic(bytes: Uint8Array): void {
  if (bytes.length < 4 || bytes[0] !== 0x77 || bytes[1] !== 0x69 || bytes[3] !== 0x55) {
    throw new WalgError('Invalid increment file header');
  }
  if (bytes[2] !== 0x31) throw new WalgError('Unknown increment file header');
}

/**
 * Reads the fixed part of the header: INCREMENT_HEADER_SIZE bytes, or ORIOLEDB_INCREMENT_HEADER_SIZE for files
 * under `orioledb_data` (see isOrioledbDataPath).
 */
export function parseIncrementHeader(bytes: Buffer, pageSize: number, orioledb = false): IncrementHeader {
  checkIncrementMagic(bytes);
  const needed = orioledb ? ORIOLEDB_INCREMENT_HEADER_SIZE : INCREMENT_HEADER_SIZE;
  if (bytes.length < needed) throw new WalgError(`increment header is ${bytes.length} bytes, expected ${needed}`);
  const fileSize = bytes.readBigUInt64LE(4);
  if (fileSize > BigInt(Number.MAX_SAFE_INTEGER)) throw new WalgError(`increment header claims a file of ${fileSize} bytes`);
  const ownPageSize = orioledb ? bytes.readUInt16LE(12) : pageSize;
  if (ownPageSize === 0) throw new WalgError('increment header has a page size of 0');
  const blockCount = bytes.readUInt32LE(orioledb ? 14 : 12);
  return { fileSize: Number(fileSize), pageSize: ownPageSize, blockCount };
}

/** The block numbers that follow the header (4 × blockCount bytes). */
export function parseBlockNumbers(bytes: Buffer, blockCount: number): Uint32Array {
  if (bytes.length < blockCount * 4) throw new WalgError(`increment block list is ${bytes.length} bytes, expected ${blockCount * 4}`);
  const blocks = new Uint32Array(blockCount);
  for (let index = 0; index < blockCount; index++) blocks[index] = bytes.readUInt32LE(index * 4);
  return blocks;
}

/** Header plus block list for a file of `fileSize` bytes whose pages `blocks` follow (what backup-push emits). */
export function encodeIncrementHeader(fileSize: number, blocks: ArrayLike<number>, orioledbPageSize?: number): Buffer {
  const fixed = orioledbPageSize === undefined ? INCREMENT_HEADER_SIZE : ORIOLEDB_INCREMENT_HEADER_SIZE;
  const buffer = Buffer.alloc(fixed + blocks.length * 4);
  INCREMENT_MAGIC.copy(buffer, 0);
  buffer.writeBigUInt64LE(BigInt(fileSize), 4);
  let offset = 12;
  if (orioledbPageSize !== undefined) {
    buffer.writeUInt16LE(orioledbPageSize, offset);
    offset += 2;
  }
  buffer.writeUInt32LE(blocks.length, offset);
  offset += 4;
  for (let index = 0; index < blocks.length; index++) buffer.writeUInt32LE(blocks[index], offset + index * 4);
  return buffer;
}

/** Total increment size: the tar header's Size for this member. */
export function incrementSize(blockCount: number, pageSize: number, orioledb = false): number {
  return (orioledb ? ORIOLEDB_INCREMENT_HEADER_SIZE : INCREMENT_HEADER_SIZE) + blockCount * (4 + pageSize);
}

const PAGED_FILE_NAME = /^(\d+)([.]\d+)?$/;

function baseName(path: string): string {
  const trimmed = path.replace(/\/+$/, '');
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}

/** OrioleDB data files carry a page size in their increment header. */
export function isOrioledbDataPath(path: string): boolean {
  return path.includes('orioledb_data') && PAGED_FILE_NAME.test(baseName(path));
}

/**
 * WAL-G's isPagedFile: a main-fork relation segment under `base` or `pg_tblspc` (substring test on the whole path),
 * not transaction status, non-empty and a whole number of pages.
 */
export function isPagedFile(path: string, size: number, isDirectory: boolean, pageSize: number): boolean {
  if (path.includes('pg_xact') || path.includes('pg_clog') || path.includes('pg_multixact')) return false;
  return (
    !isDirectory &&
    (path.includes('base') || path.includes('pg_tblspc')) &&
    size > 0 &&
    size % pageSize === 0 &&
    PAGED_FILE_NAME.test(baseName(path))
  );
}

/** A page counts as missing when its 24 header bytes are all zero (reverse unpack fills only those). */
export function isMissingPageHeader(header: Uint8Array): boolean {
  for (let index = 0; index < PAGE_HEADER_SIZE && index < header.length; index++) if (header[index] !== 0) return false;
  return true;
}
