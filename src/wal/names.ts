// WAL file names and positions: 24-hex segment names, timelines, LSNs (as bigint, exact to 64 bits).

/** Default WAL segment size (WALG_PG_WAL_SIZE is in MiB). */
export const DEFAULT_WAL_SEGMENT_SIZE = 16 * 1024 * 1024;

const SEGMENT_NAME = /^[0-9A-F]{24}$/;
const ANY_SEGMENT_NAME = /[0-9A-F]{24}/;

export interface WalSegment {
  readonly timeline: number;
  /** Segment number across the whole LSN space: LSN / segment size. */
  readonly segmentNumber: bigint;
}

/** Segments per "xlogid" (the middle 8 hex digits count 4 GiB units). */
export function segmentsPerXLogId(segmentSize = DEFAULT_WAL_SEGMENT_SIZE): bigint {
  return 0x100000000n / BigInt(segmentSize);
}

export function isWalSegmentName(name: string): boolean {
  return SEGMENT_NAME.test(name);
}

/** Parses `TTTTTTTTXXXXXXXXYYYYYYYY`; undefined when the name is not a segment name. */
export function parseWalSegmentName(name: string, segmentSize = DEFAULT_WAL_SEGMENT_SIZE): WalSegment | undefined {
  if (!SEGMENT_NAME.test(name)) return undefined;
  const timeline = parseInt(name.slice(0, 8), 16);
  const high = BigInt(`0x${name.slice(8, 16)}`);
  const low = BigInt(`0x${name.slice(16, 24)}`);
  return { timeline, segmentNumber: high * segmentsPerXLogId(segmentSize) + low };
}

function hex8(value: bigint | number): string {
  return value.toString(16).toUpperCase().padStart(8, '0');
}

export function formatWalSegmentName(timeline: number, segmentNumber: bigint, segmentSize = DEFAULT_WAL_SEGMENT_SIZE): string {
  const perId = segmentsPerXLogId(segmentSize);
  return hex8(timeline) + hex8(segmentNumber / perId) + hex8(segmentNumber % perId);
}

/** The segment holding lsn. */
export function segmentNumberOfLsn(lsn: bigint, segmentSize = DEFAULT_WAL_SEGMENT_SIZE): bigint {
  return lsn / BigInt(segmentSize);
}

export function walSegmentNameForLsn(timeline: number, lsn: bigint, segmentSize = DEFAULT_WAL_SEGMENT_SIZE): string {
  return formatWalSegmentName(timeline, segmentNumberOfLsn(lsn, segmentSize), segmentSize);
}

/** Parses PostgreSQL's `X/X` LSN text. */
export function parseLsn(text: string): bigint {
  const match = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text.trim());
  if (!match) throw new Error(`invalid LSN '${text}'`);
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

/** Formats an LSN as PostgreSQL and WAL-G print it: upper-case hex halves, `X/X`. */
export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** The first 24-hex run in a name (backup names, object paths), as WAL-G's backup-list shows it. */
export function firstSegmentNameIn(text: string): string | undefined {
  return ANY_SEGMENT_NAME.exec(text)?.[0];
}

/** Next segment name on the same timeline. */
export function nextWalSegmentName(name: string, segmentSize = DEFAULT_WAL_SEGMENT_SIZE): string {
  const parsed = parseWalSegmentName(name, segmentSize);
  if (!parsed) throw new Error(`not a WAL segment name: '${name}'`);
  return formatWalSegmentName(parsed.timeline, parsed.segmentNumber + 1n, segmentSize);
}

/** `00000002.history` → 2; undefined when not a history file name. */
export function parseHistoryFileName(name: string): number | undefined {
  const match = /^([0-9A-F]{8})\.history$/.exec(name);
  return match ? parseInt(match[1], 16) : undefined;
}

/** WAL segment size in bytes from the WALG_PG_WAL_SIZE setting (MiB). */
export function walSegmentSizeFromSetting(value: string | undefined): number {
  const mib = value ? parseInt(value, 10) : 16;
  return (Number.isFinite(mib) && mib > 0 ? mib : 16) * 1024 * 1024;
}
