// How WAL-G recognises WAL segments among object and file names (wal-show, wal-verify, wal-restore), including
// its leniencies: lower-case hex is accepted, and a 24-character name that fails to parse still counts.

import { segmentsPerXLogId } from '../wal/names.ts';

/** A WAL segment: timeline plus segment number across the whole LSN space (LSN / segment size). */
export interface SegmentId {
  readonly timeline: number;
  readonly segmentNumber: bigint;
}

/** Go's path.Ext-based TrimFileExtension: `a.lz4` → `a`, `a.` → `a`, `a.b.c` → `a.b`, `a` → `a`. */
export function trimFileExtension(name: string): string {
  const lastSlash = name.lastIndexOf('/');
  const lastDot = name.lastIndexOf('.');
  if (lastDot <= lastSlash) return name;
  return name.slice(0, lastDot);
}

const HEX8 = /^[0-9A-Fa-f]{8}$/;

/**
 * WAL-G's ParseWALFilename: 'not-wal' unless the name is 24 characters; 'invalid' when it is 24 characters but not
 * three hex numbers or the low part exceeds the segments per 4 GiB.
 */
export function parseWalFileName(name: string, segmentSize: number): SegmentId | 'not-wal' | 'invalid' {
  if (name.length !== 24) return 'not-wal';
  const parts = [name.slice(0, 8), name.slice(8, 16), name.slice(16, 24)];
  if (!parts.every((part) => HEX8.test(part))) return 'invalid';
  const [timeline, high, low] = parts.map((part) => BigInt(`0x${part}`));
  const perId = segmentsPerXLogId(segmentSize);
  if (low >= perId) return 'invalid';
  return { timeline: Number(timeline), segmentNumber: high * perId + low };
}

/** A set of segments grouped by timeline, as WAL-G builds it from a folder listing. */
export type SegmentsByTimeline = Map<number, Set<bigint>>;

/**
 * The segments among `names` (object names in wal_005/, or files in pg_wal/). The last extension is removed first,
 * so `X.lz4` and `X.` count but `X.partial.lz4` does not. As in WAL-G, a 24-character name that does not parse
 * counts as segment 0 of timeline 0.
 */
export function segmentsFromNames(names: Iterable<string>, segmentSize: number): SegmentsByTimeline {
  const result: SegmentsByTimeline = new Map();
  for (const name of names) {
    const parsed = parseWalFileName(trimFileExtension(name), segmentSize);
    if (parsed === 'not-wal') continue;
    const segment = parsed === 'invalid' ? { timeline: 0, segmentNumber: 0n } : parsed;
    let numbers = result.get(segment.timeline);
    if (!numbers) result.set(segment.timeline, (numbers = new Set()));
    numbers.add(segment.segmentNumber);
  }
  return result;
}

export function hasSegment(segments: SegmentsByTimeline, timeline: number, segmentNumber: bigint): boolean {
  return segments.get(timeline)?.has(segmentNumber) ?? false;
}

/** Lowest and highest segment number of a non-empty set. */
export function segmentRange(numbers: Set<bigint>): { min: bigint; max: bigint } {
  let min: bigint | undefined;
  let max: bigint | undefined;
  for (const number of numbers) {
    if (min === undefined || number < min) min = number;
    if (max === undefined || number > max) max = number;
  }
  if (min === undefined || max === undefined) throw new Error('segmentRange of an empty set');
  return { min, max };
}
