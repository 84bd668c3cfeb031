// The `_delta` sidecar format (also WAL-G's local in-progress delta file): block locations as four LE u32 each, a
// 16-byte all-zero terminator, then the parser seed as an LE u32 length and that many bytes. Pure encode/decode.
//
// Naming: 16 consecutive segments form a group; the sidecar of the group holding segment N is named after the
// group's first segment plus `_delta` (e.g. 000000010000000000000010_delta) and stored as wal_005/<name>.<ext>.

import { BlockLocationList, LOCATION_BYTES } from './block-locations.ts';
import { formatWalSegmentName, parseWalSegmentName, DEFAULT_WAL_SEGMENT_SIZE } from '../wal/names.ts';

/** Segments per sidecar group (WAL-G's WalFileInDelta). */
export const WAL_FILES_IN_DELTA = 16n;
export const DELTA_SUFFIX = '_delta';
export const PART_SUFFIX = '_part';

export interface DeltaFile {
  readonly locations: BlockLocationList;
  /** Beginning of the WAL record still incomplete at the end of the group (may be empty). */
  readonly parserSeed: Buffer;
}

export class DeltaFileFormatError extends Error {
  override name = 'DeltaFileFormatError';
}

/** Encodes a sidecar: locations, terminator, seed length, seed. */
export function encodeDeltaFile(file: DeltaFile): Buffer {
  const locations = file.locations.toBuffer();
  const out = Buffer.alloc(locations.length + LOCATION_BYTES + 4 + file.parserSeed.length);
  locations.copy(out, 0);
  const seedAt = locations.length + LOCATION_BYTES;
  out.writeUInt32LE(file.parserSeed.length, seedAt);
  file.parserSeed.copy(out, seedAt + 4);
  return out;
}

/**
 * Decodes a sidecar. Locations are read until the terminator (or the end of the data, which WAL-G accepts too);
 * then the seed follows. A truncated location or seed is an error naming what is missing.
 */
export function decodeDeltaFile(data: Buffer): DeltaFile {
  const locations = new BlockLocationList(Math.max(16, data.length >> 4));
  const view = new DataView(data.buffer, data.byteOffset, data.length);
  let at = 0;
  let terminated = false;
  while (at + LOCATION_BYTES <= data.length) {
    const spcNode = view.getUint32(at, true);
    const dbNode = view.getUint32(at + 4, true);
    const relNode = view.getUint32(at + 8, true);
    const blockNo = view.getUint32(at + 12, true);
    at += LOCATION_BYTES;
    if (spcNode === 0 && dbNode === 0 && relNode === 0 && blockNo === 0) {
      terminated = true;
      break;
    }
    locations.push(spcNode, dbNode, relNode, blockNo);
  }
  if (!terminated) {
    if (at !== data.length) throw new DeltaFileFormatError(`delta file ends inside a block location (${data.length - at} stray bytes)`);
    // WAL-G reads locations up to EOF and then fails to read the seed length.
    throw new DeltaFileFormatError('delta file has no parser state after its block locations');
  }
  if (at + 4 > data.length) throw new DeltaFileFormatError('delta file ends before the parser state length');
  const seedLength = view.getUint32(at, true);
  at += 4;
  if (at + seedLength > data.length) throw new DeltaFileFormatError(`delta file parser state is truncated: ${seedLength} bytes announced, ${data.length - at} present`);
  return { locations, parserSeed: Buffer.from(data.subarray(at, at + seedLength)) };
}

/** The group (sidecar) number of a segment: segno - segno % 16. */
export function deltaGroupOf(segmentNumber: bigint): bigint {
  return segmentNumber - (segmentNumber % WAL_FILES_IN_DELTA);
}

/** `<first WAL name of the group>_delta` for a WAL segment name; undefined when the name is not a segment. */
export function deltaFileNameFor(walName: string, segmentSize = DEFAULT_WAL_SEGMENT_SIZE): string | undefined {
  const parsed = parseWalSegmentName(walName, segmentSize);
  if (!parsed) return undefined;
  return formatWalSegmentName(parsed.timeline, deltaGroupOf(parsed.segmentNumber), segmentSize) + DELTA_SUFFIX;
}

/** Position of a segment inside its group, 0..15. */
export function positionInDelta(segmentNumber: bigint): number {
  return Number(segmentNumber % WAL_FILES_IN_DELTA);
}
