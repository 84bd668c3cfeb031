// LZ4 frame format constants and the frame descriptor, as WAL-G's lz4 writer (pierrec/lz4 v4.1.21) lays them out.

import { walnutNative } from '../native/walnut-native.ts';

export const LZ4_FRAME_MAGIC = 0x184d2204;
/** Legacy frames (lz4 -l): 8 MiB independent blocks, no descriptor, no end mark. */
export const LZ4_LEGACY_MAGIC = 0x184c2102;
/** Skippable frames: any magic 0x184D2A50..0x184D2A5F, then a u32 LE length of bytes to skip. */
export const LZ4_SKIPPABLE_MAGIC_MASK = 0xfffffff0;
export const LZ4_SKIPPABLE_MAGIC = 0x184d2a50;

export const LZ4_LEGACY_BLOCK_SIZE = 8 * 1024 * 1024;
/** Linked blocks may refer up to 64 KiB back into earlier blocks. */
export const LZ4_WINDOW_SIZE = 64 * 1024;
/** Set in a block's size field when the block is stored uncompressed. */
export const LZ4_UNCOMPRESSED_BIT = 0x80000000;

/** Block maximum sizes by the BD byte's 3-bit index (4..7). */
export const LZ4_BLOCK_SIZES: Readonly<Record<number, number>> = { 4: 64 * 1024, 5: 256 * 1024, 6: 1024 * 1024, 7: 4 * 1024 * 1024 };

/** pierrec's default and therefore WAL-G's: 4 MiB blocks. walnut reads them; it writes WALNUT_LZ4_BLOCK_SIZE. */
export const WALG_LZ4_BLOCK_SIZE = 4 * 1024 * 1024;

/**
 * The block size walnut writes: 1 MiB, the pipeline's chunk size, so a read chunk is compressed where it lies and
 * every block buffer (gathered input, compressed output, decoded output on restore) is a quarter of WAL-G's. The
 * frame header states it, and every LZ4 frame reader (WAL-G's pierrec/lz4 included) reads all four sizes.
 * Measured side by side with 4 MiB blocks (docs/PERFORMANCE.md, session 6): backup-fetch of scale 50 peak RSS
 * 63.0 -> 49.0 MiB, wal-push private writable 63.5 -> 56.4 MiB, output 0.5% larger. docs/COMPATIBILITY.md.
 */
export const WALNUT_LZ4_BLOCK_SIZE = 1024 * 1024;

// FLG bits (frame format spec 1.6.x).
export const FLG_VERSION_MASK = 0xc0;
export const FLG_VERSION_01 = 0x40;
export const FLG_BLOCK_INDEPENDENCE = 0x20;
export const FLG_BLOCK_CHECKSUM = 0x10;
export const FLG_CONTENT_SIZE = 0x08;
export const FLG_CONTENT_CHECKSUM = 0x04;
export const FLG_RESERVED = 0x02;
export const FLG_DICTIONARY_ID = 0x01;

export interface Lz4FrameDescriptor {
  readonly blockIndependence: boolean;
  readonly blockChecksum: boolean;
  readonly contentChecksum: boolean;
  /** Declared content size, when the frame has one. */
  readonly contentSize: bigint | undefined;
  readonly dictionaryId: number | undefined;
  readonly blockMaxSize: number;
}

/** The header checksum byte: the second byte of xxh32 over the descriptor (FLG … last field before HC). */
export function headerChecksum(descriptor: Uint8Array): number {
  return (walnutNative().xxh32(descriptor, 0) >>> 8) & 0xff;
}

/** Bytes of the descriptor after FLG (BD, optional content size and dictionary id, HC) for a given FLG. */
export function descriptorLengthAfterFlg(flg: number): number {
  return 1 + (flg & FLG_CONTENT_SIZE ? 8 : 0) + (flg & FLG_DICTIONARY_ID ? 4 : 0) + 1;
}

/** Magic + descriptor the way pierrec writes it by default: FLG 0x64, BD 0x70 for 4 MiB blocks. */
export function encodeFrameHeader(blockMaxSize: number = WALG_LZ4_BLOCK_SIZE): Buffer {
  const index = Number(Object.keys(LZ4_BLOCK_SIZES).find((key) => LZ4_BLOCK_SIZES[Number(key)] === blockMaxSize));
  if (!Number.isInteger(index)) throw new RangeError(`lz4 block size must be 64 KiB, 256 KiB, 1 MiB or 4 MiB, got ${blockMaxSize}`);
  const header = Buffer.alloc(7);
  header.writeUInt32LE(LZ4_FRAME_MAGIC, 0);
  header[4] = FLG_VERSION_01 | FLG_BLOCK_INDEPENDENCE | FLG_CONTENT_CHECKSUM;
  header[5] = index << 4;
  header[6] = headerChecksum(header.subarray(4, 6));
  return header;
}

/**
 * Parses a frame descriptor: `bytes` holds FLG through HC. Returns the descriptor, or a message naming
 * what is wrong (the decoder turns it into an error).
 */
export function parseFrameDescriptor(bytes: Uint8Array): Lz4FrameDescriptor | string {
  const flg = bytes[0];
  const bd = bytes[1];
  if ((flg & FLG_VERSION_MASK) !== FLG_VERSION_01) return `unsupported frame version ${(flg & FLG_VERSION_MASK) >> 6}`;
  if (flg & FLG_RESERVED || bd & 0x8f) return 'reserved bits set in the frame descriptor';
  const blockMaxSize = LZ4_BLOCK_SIZES[(bd >> 4) & 7];
  if (blockMaxSize === undefined) return `invalid block maximum size index ${(bd >> 4) & 7}`;
  const end = bytes.length - 1;
  if (headerChecksum(bytes.subarray(0, end)) !== bytes[end]) return 'frame header checksum mismatch';
  let position = 2;
  let contentSize: bigint | undefined;
  if (flg & FLG_CONTENT_SIZE) {
    const view = new DataView(bytes.buffer, bytes.byteOffset + position, 8);
    contentSize = view.getBigUint64(0, true);
    position += 8;
  }
  let dictionaryId: number | undefined;
  if (flg & FLG_DICTIONARY_ID) {
    dictionaryId = (bytes[position] | (bytes[position + 1] << 8) | (bytes[position + 2] << 16) | (bytes[position + 3] << 24)) >>> 0;
  }
  return {
    blockIndependence: (flg & FLG_BLOCK_INDEPENDENCE) !== 0,
    blockChecksum: (flg & FLG_BLOCK_CHECKSUM) !== 0,
    contentChecksum: (flg & FLG_CONTENT_CHECKSUM) !== 0,
    contentSize,
    dictionaryId,
    blockMaxSize,
  };
}

/** Largest compressed size of an n-byte LZ4 block (LZ4_compressBound). */
export function lz4CompressBound(n: number): number {
  return n + Math.floor(n / 255) + 16;
}
