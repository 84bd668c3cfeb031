// wal-show: WAL segments in storage grouped by timeline, with each timeline's parent, switch point, missing segments
// and (optionally) the backups taken on it; rendered as WAL-G's go-pretty table or its JSON.

import type { Folder } from '../storage/driver.ts';
import type { Crypter } from '../crypto/crypter.ts';
import { formatLsn, formatWalSegmentName } from '../wal/names.ts';
import { log } from '../log/logger.ts';
import { errorMessage, WalgError } from '../errors.ts';
import { parseWalFileName, segmentRange, segmentsFromNames } from './segment-names.ts';
import { historyRecordsFromStorage } from './history.ts';
import { listBackups, readBackupDetails, type BackupDetail } from './backups.ts';
import { numericText, renderPrettyTable } from './pretty-table.ts';
import { goJsonString } from './go-json.ts';

export const TIMELINE_OK = 'OK';
export const TIMELINE_LOST_SEGMENTS = 'LOST_SEGMENTS';

export interface TimelineInfo {
  readonly id: number;
  readonly parentId: number;
  readonly switchPointLsn: bigint;
  readonly startSegment: string;
  readonly endSegment: string;
  readonly segmentsCount: number;
  /** Missing segment names, highest first (WAL-G scans downwards). */
  readonly missingSegments: string[];
  backups: BackupDetail[];
  readonly segmentRangeSize: bigint;
  readonly status: string;
}

/** Names of the objects directly in wal_005/ (WAL-G's getFolderFilenames). */
export async function listWalFolderNames(walFolder: Folder): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of walFolder.list('')) {
    if (entry.kind === 'object') names.push(entry.key);
  }
  return names;
}

export interface WalShowOptions {
  readonly showBackups: boolean;
  readonly segmentSize: number;
  readonly crypter: Crypter | undefined;
}

/** Builds the per-timeline summary WAL-G's HandleWalShow prints, sorted by timeline. */
export async function collectTimelineInfos(rootFolder: Folder, options: WalShowOptions): Promise<TimelineInfo[]> {
  const walFolder = rootFolder.subFolder('wal_005');
  let names: string[];
  try {
    names = await listWalFolderNames(walFolder);
  } catch (error) {
    throw new WalgError(`Failed to get the WAL folder filenames ${errorMessage(error)}`);
  }
  const byTimeline = segmentsFromNames(names, options.segmentSize);
  const infos: TimelineInfo[] = [];
  for (const [timeline, numbers] of byTimeline) {
    let history;
    try {
      history = await historyRecordsFromStorage(walFolder, timeline, options.crypter);
    } catch (error) {
      throw new WalgError(`Error while loading .history file ${errorMessage(error)}`);
    }
    const { min, max } = segmentRange(numbers);
    const missing: string[] = [];
    for (let number = max - 1n; number >= min; number--) {
      if (!numbers.has(number)) missing.push(formatWalSegmentName(timeline, number, options.segmentSize));
    }
    const last = history && history.length > 0 ? history[history.length - 1] : undefined;
    infos.push({
      id: timeline,
      parentId: last?.parentTimeline ?? 0,
      switchPointLsn: last?.switchLsn ?? 0n,
      startSegment: formatWalSegmentName(timeline, min, options.segmentSize),
      endSegment: formatWalSegmentName(timeline, max, options.segmentSize),
      segmentsCount: numbers.size,
      missingSegments: missing,
      backups: [],
      segmentRangeSize: max - min + 1n,
      status: missing.length > 0 ? TIMELINE_LOST_SEGMENTS : TIMELINE_OK,
    });
  }
  if (options.showBackups) {
    try {
      await addBackups(infos, rootFolder, options.segmentSize);
    } catch (error) {
      throw new WalgError(`Failed to add backups info: ${errorMessage(error)}`);
    }
  }
  return infos.sort((a, b) => a.id - b.id);
}

async function addBackups(infos: TimelineInfo[], rootFolder: Folder, segmentSize: number): Promise<void> {
  const backups = await listBackups(rootFolder);
  if (backups.length === 0) {
    log.info('No backups found in storage.');
    return;
  }
  const details = await readBackupDetails(rootFolder, backups);
  for (const info of infos) {
    info.backups = [];
    for (const detail of details) {
      const parsed = parseWalFileName(detail.walFileName, segmentSize);
      if (typeof parsed === 'string') throw new Error(`expected to get wal filename, but found: '${detail.walFileName}'`);
      const start = formatWalSegmentName(parsed.timeline, detail.startLsn / BigInt(segmentSize), segmentSize);
      const end = formatWalSegmentName(parsed.timeline, detail.finishLsn / BigInt(segmentSize), segmentSize);
      // WAL-G compares the names as strings (same timeline, so this orders by segment).
      if (info.id === parsed.timeline && start >= info.startSegment && end <= info.endSegment) info.backups.push(detail);
    }
  }
}

/** WAL-G's table: one row per timeline, go-pretty style, newline-terminated. */
export function renderWalShowTable(infos: readonly TimelineInfo[], includeBackups: boolean): string {
  const header = ['TLI', 'Parent TLI', 'Switchpoint LSN', 'Start segment', 'End segment', 'Segment range', 'Segments count', 'Status'];
  if (includeBackups) header.push('Backups count');
  const rows = infos.map((info) => {
    const row = [
      info.id,
      info.parentId,
      numericText(formatLsn(info.switchPointLsn)),
      info.startSegment,
      info.endSegment,
      info.segmentRangeSize,
      info.segmentsCount,
      info.status,
    ];
    if (includeBackups) row.push(info.backups.length);
    return row;
  });
  return renderPrettyTable({ header, rows });
}

/** WAL-G's --detailed-json: one line, no trailing newline; `backups` omitted when empty. */
export function renderWalShowJson(infos: readonly TimelineInfo[]): string {
  const items = infos.map((info) => {
    const fields = [
      `"id":${info.id}`,
      `"parent_id":${info.parentId}`,
      `"switch_point_lsn":${info.switchPointLsn}`,
      `"start_segment":${goJsonString(info.startSegment)}`,
      `"end_segment":${goJsonString(info.endSegment)}`,
      `"segments_count":${info.segmentsCount}`,
      `"missing_segments":[${info.missingSegments.map(goJsonString).join(',')}]`,
    ];
    if (info.backups.length > 0) fields.push(`"backups":[${info.backups.map((backup) => backup.json).join(',')}]`);
    fields.push(`"segment_range_size":${info.segmentRangeSize}`, `"status":${goJsonString(info.status)}`);
    return `{${fields.join(',')}}`;
  });
  return `[${items.join(',')}]`;
}
