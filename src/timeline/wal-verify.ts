// wal-verify: the integrity check (walk WAL segments backwards from the cluster's current one to the earliest backup,
// following timeline switches) and the timeline check (is the cluster on the highest timeline in storage).

import type { Folder } from '../storage/driver.ts';
import type { Crypter } from '../crypto/crypter.ts';
import { formatWalSegmentName } from '../wal/names.ts';
import { log } from '../log/logger.ts';
import { errorMessage, WalgError } from '../errors.ts';
import { hasSegment, parseWalFileName, segmentsFromNames, trimFileExtension, type SegmentId, type SegmentsByTimeline } from './segment-names.ts';
import { historyRecordsFromStorage, type TimelineHistoryRecord } from './history.ts';
import { listBackups, readBackupDetail, readBackupDetails, type BackupDetail } from './backups.ts';
import { numericText, renderPrettyTable } from './pretty-table.ts';
import { goJsonString } from './go-json.ts';

export type CheckStatus = 'OK' | 'WARNING' | 'FAILURE';
export type SegmentStatus = 'MISSING_LOST' | 'MISSING_UPLOADING' | 'MISSING_DELAYED' | 'FOUND';
export type CheckType = 'integrity' | 'timeline';

/** A run of consecutive scanned segments with the same timeline and status. */
export interface SegmentSequence {
  readonly timelineId: number;
  readonly startSegment: string;
  readonly endSegment: string;
  readonly segmentsCount: number;
  readonly status: SegmentStatus;
}

export interface IntegrityResult {
  readonly status: CheckStatus;
  /** null when nothing was scanned (WAL-G marshals a nil slice). */
  readonly details: SegmentSequence[] | null;
}

export interface TimelineResult {
  readonly status: CheckStatus;
  readonly details: { readonly currentTimelineId: number; readonly highestStorageTimelineId: number };
}

export interface WalVerifyResults {
  integrity?: IntegrityResult;
  timeline?: TimelineResult;
}

export interface WalVerifyOptions {
  readonly checks: readonly CheckType[];
  /** The segment of (current LSN - 1) on the current timeline. */
  readonly currentSegment: SegmentId;
  /** undefined: find the earliest correct backup; otherwise start at this backup. */
  readonly backupName?: string;
  readonly segmentSize: number;
  /** WALG_UPLOAD_CONCURRENCY. */
  readonly uploadingRange: number;
  /** WALG_INTEGRITY_MAX_DELAYED_WALS. */
  readonly delayedRange: number;
  readonly crypter: Crypter | undefined;
}

/** Runs the checks against one listing of wal_005/. */
export async function runWalVerify(rootFolder: Folder, options: WalVerifyOptions): Promise<WalVerifyResults> {
  const walFolder = rootFolder.subFolder('wal_005');
  const names: string[] = [];
  try {
    for await (const entry of walFolder.list('')) if (entry.kind === 'object') names.push(entry.key);
  } catch (error) {
    throw new WalgError(`Failed to fetch WAL folder filenames: ${errorMessage(error)}`);
  }
  const results: WalVerifyResults = {};
  for (const check of options.checks) {
    log.info(`Building check runner: ${check}`);
    if (check === 'timeline') {
      log.info(`Running the check: ${check}`);
      results.timeline = timelineCheck(names, options.currentSegment.timeline, options.segmentSize);
    } else {
      let runner;
      try {
        runner = await prepareIntegrityCheck(rootFolder, walFolder, options);
      } catch (error) {
        throw new WalgError(`Failed to build check runner ${check}: ${errorMessage(error)}`);
      }
      log.info(`Running the check: ${check}`);
      results.integrity = runIntegrityScan(segmentsFromNames(names, options.segmentSize), runner, options);
    }
  }
  return results;
}

// ---------------------------------------------------------------------------------------------------------------
// Timeline check

const HISTORY_NAME = /^([0-9a-fA-F]+)\.history(\.\w+)?$/;

function timelineOfName(name: string, segmentSize: number): number | undefined {
  const base = trimFileExtension(name);
  const parsed = parseWalFileName(base, segmentSize);
  if (typeof parsed !== 'string') return parsed.timeline;
  const match = HISTORY_NAME.exec(base);
  if (!match || match[1].length > 8) return undefined;
  return parseInt(match[1], 16);
}

export function timelineCheck(names: readonly string[], currentTimeline: number, segmentSize: number): TimelineResult {
  let highest = 0;
  for (const name of names) {
    const timeline = timelineOfName(name, segmentSize);
    if (timeline === undefined) {
      log.warn(`Could not parse the timeline Id from ${name}. Skipping...`);
      continue;
    }
    if (timeline > highest) highest = timeline;
  }
  const status: CheckStatus = highest === 0 ? 'WARNING' : highest === currentTimeline ? 'OK' : 'FAILURE';
  return { status, details: { currentTimelineId: currentTimeline, highestStorageTimelineId: highest } };
}

// ---------------------------------------------------------------------------------------------------------------
// Integrity check

interface IntegrityPlan {
  /** Segment number at which the scan stops (inclusive). */
  readonly stopSegmentNumber: bigint;
  /** Switch segment → history record, from the current timeline's history file. */
  readonly switchMap: Map<bigint, TimelineHistoryRecord>;
  readonly noBackupsFound: boolean;
}

async function prepareIntegrityCheck(rootFolder: Folder, walFolder: Folder, options: WalVerifyOptions): Promise<IntegrityPlan> {
  const segmentSize = BigInt(options.segmentSize);
  let history: TimelineHistoryRecord[];
  try {
    history = (await historyRecordsFromStorage(walFolder, options.currentSegment.timeline, options.crypter)) ?? [];
  } catch (error) {
    throw new Error(`Failed to initialize timeline history map: ${errorMessage(error)}`);
  }
  const switchMap = new Map<bigint, TimelineHistoryRecord>();
  for (const record of history) switchMap.set(record.switchLsn / segmentSize, record);
  const switchSegmentByTimeline = new Map<number, bigint>();
  for (const record of switchMap.values()) switchSegmentByTimeline.set(record.parentTimeline, record.switchLsn / segmentSize);

  if (options.backupName === undefined) {
    try {
      const earliest = await findEarliestBackup(rootFolder, options, switchSegmentByTimeline);
      log.info(`Detected earliest available backup: ${earliest.backup.backupName}`);
      return { stopSegmentNumber: earliest.segmentNumber, switchMap, noBackupsFound: false };
    } catch (error) {
      log.warn(
        `Failed to detect earliest backup WAL segment no: '${errorMessage(error)}',will scan until the 0000000X0000000000000001 segment.`,
      );
      return { stopSegmentNumber: 1n, switchMap, noBackupsFound: true };
    }
  }
  const backups = await listBackups(rootFolder);
  if (backups.length === 0) throw new Error('Failed to find specified backup start segment: No backups found');
  const backup = backups.find((candidate) => candidate.backupName === options.backupName);
  if (!backup) throw new Error(`Failed to find specified backup start segment: Backup with specified name "${options.backupName}" was not found`);
  const detail = await readBackupDetail(rootFolder, backup);
  const start = backupStartSegment(detail, options.segmentSize);
  if (!isBackupCorrect(options.currentSegment.timeline, detail, start, switchSegmentByTimeline, true)) {
    throw new Error(`Failed to find specified backup start segment: Backup with specified name "${detail.backupName}" is incorrect`);
  }
  log.info(`Detected correct backup with specified name: ${detail.backupName}`);
  return { stopSegmentNumber: start.segmentNumber, switchMap, noBackupsFound: false };
}

function backupStartSegment(detail: BackupDetail, segmentSize: number): SegmentId {
  const parsed = parseWalFileName(detail.walFileName, segmentSize);
  if (typeof parsed === 'string') throw new Error(`expected to get wal filename, but found: '${detail.walFileName}'`);
  return parsed;
}

async function findEarliestBackup(
  rootFolder: Folder,
  options: WalVerifyOptions,
  switchSegmentByTimeline: Map<number, bigint>,
): Promise<{ backup: BackupDetail; segmentNumber: bigint }> {
  const backups = await listBackups(rootFolder);
  if (backups.length === 0) throw new Error('No backups found');
  const details = await readBackupDetails(rootFolder, backups);
  let earliest: { backup: BackupDetail; segmentNumber: bigint } | undefined;
  for (const detail of details) {
    const start = backupStartSegment(detail, options.segmentSize);
    if (!isBackupCorrect(options.currentSegment.timeline, detail, start, switchSegmentByTimeline, false)) continue;
    if (earliest === undefined || earliest.segmentNumber > start.segmentNumber) earliest = { backup: detail, segmentNumber: start.segmentNumber };
  }
  if (!earliest) throw new Error('Could not find any correct backup in storage');
  return earliest;
}

/** WAL-G's checkBackupIsCorrect, with its warnings. */
function isBackupCorrect(
  currentTimeline: number,
  detail: BackupDetail,
  start: SegmentId,
  switchSegmentByTimeline: Map<number, bigint>,
  permanentAllowed: boolean,
): boolean {
  if (detail.isPermanent && !permanentAllowed) {
    log.warn(
      `checkBackupIsCorrect: ${detail.backupName}: backup is permanent, it is not eligible to be selected as the earliest backup for wal-verify.`,
    );
    return false;
  }
  if (switchSegmentByTimeline.size === 0) return true;
  if (start.timeline > 1) {
    const timelineStart = switchSegmentByTimeline.get(start.timeline - 1);
    if (timelineStart !== undefined && start.segmentNumber < timelineStart) {
      log.warn(
        `checkBackupIsCorrect: ${detail.backupName}: backup start segment number ${start.segmentNumber} is less than the backup timeline start segment number ${timelineStart}.`,
      );
      return false;
    }
  }
  if (start.timeline === currentTimeline) return true;
  const timelineEnd = switchSegmentByTimeline.get(start.timeline);
  if (timelineEnd === undefined) {
    log.warn(`checkBackupIsCorrect: ${detail.backupName}: backup timeline ${start.timeline} is not present in .history file and is not current.`);
    return false;
  }
  if (start.segmentNumber >= timelineEnd) {
    log.warn(
      `checkBackupIsCorrect: ${detail.backupName}: backup start segment number ${start.segmentNumber} should be less than the backup timeline end segment number ${timelineEnd}.`,
    );
    return false;
  }
  return true;
}

interface ScannedSegment {
  readonly timeline: number;
  readonly segmentNumber: bigint;
  readonly status: SegmentStatus;
}

/**
 * Walks from the segment before the current one down to the stop segment (inclusive), switching to the parent
 * timeline below each switch segment, in WAL-G's three phases (delayed, uploading, lost).
 */
function runIntegrityScan(segments: SegmentsByTimeline, plan: IntegrityPlan, options: WalVerifyOptions): IntegrityResult {
  const scanned: ScannedSegment[] = [];
  let current = { timeline: options.currentSegment.timeline, segmentNumber: options.currentSegment.segmentNumber };
  let stopped = false;

  // One step of WAL-G's WalSegmentRunner: undefined at the stop segment, else the next (older) segment and whether
  // it exists in storage. The runner moves even when the segment is missing (ForceMoveNext).
  const step = (): { found: boolean } | undefined => {
    if (current.segmentNumber <= plan.stopSegmentNumber) return undefined;
    const record = plan.switchMap.get(current.segmentNumber);
    current = { timeline: record ? record.parentTimeline : current.timeline, segmentNumber: current.segmentNumber - 1n };
    return { found: hasSegment(segments, current.timeline, current.segmentNumber) };
  };

  const scan = (limit: number | undefined, stopOnFound: boolean, missingStatus: SegmentStatus): void => {
    for (let index = 0; !stopped && (limit === undefined || index < limit); index++) {
      const result = step();
      if (!result) {
        stopped = true;
        return;
      }
      scanned.push({ ...current, status: result.found ? 'FOUND' : missingStatus });
      if (result.found && stopOnFound) return;
    }
  };

  scan(options.delayedRange, true, 'MISSING_DELAYED');
  scan(options.uploadingRange, false, 'MISSING_UPLOADING');
  scan(undefined, false, 'MISSING_LOST');

  const sequences = collapse(scanned, options.segmentSize);
  let status: CheckStatus = 'OK';
  let previousFound = false;
  for (const sequence of sequences ?? []) {
    if (sequence.status === 'FOUND') previousFound = true;
    else if (sequence.status === 'MISSING_LOST') {
      if (plan.noBackupsFound && !previousFound) status = 'WARNING';
      else {
        status = 'FAILURE';
        break;
      }
    } else status = 'WARNING';
  }
  return { status, details: sequences };
}

function collapse(scanned: ScannedSegment[], segmentSize: number): SegmentSequence[] | null {
  if (scanned.length === 0) return null;
  const ordered = [...scanned].sort((a, b) => (a.segmentNumber < b.segmentNumber ? -1 : a.segmentNumber > b.segmentNumber ? 1 : 0));
  const sequences: SegmentSequence[] = [];
  let first = ordered[0];
  let numbers = new Set<bigint>([first.segmentNumber]);
  let min = first.segmentNumber;
  let max = first.segmentNumber;
  const close = (): void => {
    sequences.push({
      timelineId: first.timeline,
      startSegment: formatWalSegmentName(first.timeline, min, segmentSize),
      endSegment: formatWalSegmentName(first.timeline, max, segmentSize),
      segmentsCount: numbers.size,
      status: first.status,
    });
  };
  for (const segment of ordered.slice(1)) {
    if (segment.status !== first.status || segment.timeline !== first.timeline) {
      close();
      first = segment;
      numbers = new Set([segment.segmentNumber]);
      min = max = segment.segmentNumber;
    } else {
      numbers.add(segment.segmentNumber);
      if (segment.segmentNumber < min) min = segment.segmentNumber;
      if (segment.segmentNumber > max) max = segment.segmentNumber;
    }
  }
  close();
  return sequences;
}

// ---------------------------------------------------------------------------------------------------------------
// Output

/** WAL-G's JSON: one line, checks keyed by name in sorted order, no trailing newline. */
export function renderWalVerifyJson(results: WalVerifyResults): string {
  const parts: string[] = [];
  if (results.integrity) {
    const details =
      results.integrity.details === null
        ? 'null'
        : `[${results.integrity.details
            .map(
              (sequence) =>
                `{"timeline_id":${sequence.timelineId},"start_segment":${goJsonString(sequence.startSegment)},` +
                `"end_segment":${goJsonString(sequence.endSegment)},"segments_count":${sequence.segmentsCount},` +
                `"status":${goJsonString(sequence.status)}}`,
            )
            .join(',')}]`;
    parts.push(`"integrity":{"status":"${results.integrity.status}","details":${details}}`);
  }
  if (results.timeline) {
    const details = results.timeline.details;
    parts.push(
      `"timeline":{"status":"${results.timeline.status}","details":{"current_timeline_id":${details.currentTimelineId},` +
        `"highest_storage_timeline_id":${details.highestStorageTimelineId}}}`,
    );
  }
  return `{${parts.join(',')}}`;
}

/** WAL-G's plain text: per check a status line, a details line and the details (integrity first). */
export function renderWalVerifyText(results: WalVerifyResults): string {
  let out = '';
  if (results.integrity) {
    out += `[wal-verify] integrity check status: ${results.integrity.status}\n[wal-verify] integrity check details:\n`;
    out += renderPrettyTable({
      header: ['TLI', 'Start', 'End', 'Segments count', 'Status'],
      rows: (results.integrity.details ?? []).map((sequence) => [
        sequence.timelineId,
        sequence.startSegment,
        sequence.endSegment,
        sequence.segmentsCount,
        // WAL-G's status is an integer enum with a String method: go-pretty aligns it as a number.
        numericText(sequence.status),
      ]),
    });
  }
  if (results.timeline) {
    const details = results.timeline.details;
    out += `[wal-verify] timeline check status: ${results.timeline.status}\n[wal-verify] timeline check details:\n`;
    out += `Highest timeline found in storage: ${details.highestStorageTimelineId}\nCurrent cluster timeline: ${details.currentTimelineId}\n`;
  }
  return out;
}
