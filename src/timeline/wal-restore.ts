// wal-restore (a pg_rewind helper): finds where two clusters' timelines diverged and which WAL segments the source
// cluster's pg_wal lacks from that point up to its newest segment, then downloads them from storage.

import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import type { Folder } from '../storage/driver.ts';
import type { Crypter } from '../crypto/crypter.ts';
import { downloadToFile, findByBaseName } from '../objects/transfer.ts';
import { formatWalSegmentName } from '../wal/names.ts';
import { log } from '../log/logger.ts';
import { errorMessage, WalgError } from '../errors.ts';
import { historyRecordsFromDirectory, type TimelineHistoryRecord } from './history.ts';
import { segmentRange, segmentsFromNames, type SegmentsByTimeline } from './segment-names.ts';

export interface PgControlFacts {
  /** 64-bit, kept exact. */
  readonly systemIdentifier: bigint;
  readonly currentTimeline: number;
  readonly checkpoint: bigint;
}

/** Reads `global/pg_control` as WAL-G does: system id at 0, checkpoint at 32, timeline at 48 (56 before v1100). */
export function readPgControl(dataDirectory: string): PgControlFacts {
  const path = join(dataDirectory, 'global', 'pg_control');
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (error) {
    throw new Error(`open ${path}: ${errorMessage(error)}`);
  }
  if (data.length < 8192) throw new Error(`${path}: unexpected EOF (pg_control is ${data.length} bytes, expected 8192)`);
  const version = data.readUInt32LE(8);
  return {
    systemIdentifier: data.readBigUInt64LE(0),
    checkpoint: data.readBigUInt64LE(32),
    currentTimeline: data.readUInt32LE(version < 1100 ? 56 : 48),
  };
}

/** `pg_wal`, or `pg_xlog` for old clusters. */
export function walDirectoryOf(dataDirectory: string): string {
  for (const name of ['pg_wal', 'pg_xlog']) {
    const path = join(dataDirectory, name);
    if (existsSync(path)) return path;
  }
  throw new Error(`directory for WAL files doesn't exist in ${dataDirectory}`);
}

/**
 * WAL-G's FindLastCommonPoint: the LSN and timeline where the two histories part. Histories of equal length are an
 * error ("two clusters on the same timeline").
 */
export function findLastCommonPoint(target: readonly TimelineHistoryRecord[], source: readonly TimelineHistoryRecord[]): { lsn: bigint; timeline: number } {
  if (target.length === source.length) throw new Error('two clusters on the same timeline');
  let lsn = 1n;
  let timeline = 1;
  if (target.length === 0) ({ switchLsn: lsn, parentTimeline: timeline } = source[0]);
  if (source.length === 0) ({ switchLsn: lsn, parentTimeline: timeline } = target[0]);
  for (let index = 0; index < target.length && index < source.length; index++) {
    const targetRecord = target[index];
    if (targetRecord.switchLsn === source[index].switchLsn) {
      lsn = targetRecord.switchLsn;
      timeline = targetRecord.parentTimeline;
    } else {
      lsn = targetRecord.switchLsn < source[index].switchLsn ? targetRecord.switchLsn : source[index].switchLsn;
      timeline = targetRecord.parentTimeline;
      break;
    }
  }
  return { lsn, timeline };
}

/**
 * WAL-G's GetMissingWals: walking down from the source's newest segment on its current timeline to the divergence
 * segment, moving to the parent timeline below each timeline's first segment, the names not present in pg_wal.
 */
export function missingWalNames(
  lastCommonSegment: bigint,
  lastCommonTimeline: number,
  currentTimeline: number,
  sourceHistory: readonly TimelineHistoryRecord[],
  localSegments: SegmentsByTimeline,
  segmentSize: number,
): string[] {
  // Timeline t+1 begins at the segment of the switch record that ended timeline t; timeline 1 begins at segment 1.
  const timelineStart = new Map<number, bigint>([[1, 1n]]);
  for (const record of sourceHistory) timelineStart.set(record.parentTimeline + 1, record.switchLsn / BigInt(segmentSize));
  const currentSegments = localSegments.get(currentTimeline);
  if (!currentSegments || currentSegments.size === 0) throw new Error(`no WAL segments of timeline ${currentTimeline} in the source pg_wal`);
  let segment = segmentRange(currentSegments).max;
  const result: string[] = [];
  for (let timeline = currentTimeline; timeline >= lastCommonTimeline && timeline > 0; timeline--) {
    const present = localSegments.get(timeline);
    const start = timelineStart.get(timeline);
    if (start === undefined) throw new Error(`timeline ${timeline} is not in the source history`);
    for (; segment >= start; segment--) {
      if (!present?.has(segment)) result.push(formatWalSegmentName(timeline, segment, segmentSize));
      if (segment === lastCommonSegment) return result;
      if (segment === 0n) return result;
    }
  }
  return result;
}

export interface WalRestoreOptions {
  readonly targetDataDirectory: string;
  readonly sourceDataDirectory: string;
  readonly walFolder: Folder;
  readonly crypter: Crypter | undefined;
  readonly segmentSize: number;
}

export async function restoreWalForRewind(options: WalRestoreOptions): Promise<void> {
  const fatal = (prefix: string) => (error: unknown) => {
    throw new WalgError(`${prefix}: ${errorMessage(error)}`);
  };
  let target: PgControlFacts;
  let source: PgControlFacts;
  try {
    target = readPgControl(options.targetDataDirectory);
  } catch (error) {
    return fatal('Failed to get pg data on target cluster')(error);
  }
  try {
    source = readPgControl(options.sourceDataDirectory);
  } catch (error) {
    return fatal('Failed to get pg data on source cluster')(error);
  }
  if (target.systemIdentifier !== source.systemIdentifier) throw new WalgError('System identifiers of target and source clusters are not equal');
  if (target.currentTimeline === source.currentTimeline) throw new WalgError('Latest checkpoint timelines of target and source clusters are equal');

  let targetWal: string;
  let sourceWal: string;
  try {
    targetWal = walDirectoryOf(options.targetDataDirectory);
    sourceWal = walDirectoryOf(options.sourceDataDirectory);
  } catch (error) {
    return fatal('Failed to get WAL directory name')(error);
  }
  const targetHistory = await historyRecordsFromDirectory(targetWal, target.currentTimeline).catch(fatal('Failed to get history data on target cluster'));
  const sourceHistory = await historyRecordsFromDirectory(sourceWal, source.currentTimeline).catch(fatal('Failed to get history data on source cluster'));
  let common: { lsn: bigint; timeline: number };
  try {
    common = findLastCommonPoint(targetHistory, sourceHistory);
  } catch (error) {
    return fatal('Failed to find last common point')(error);
  }
  let names: string[];
  try {
    const local = segmentsFromNames(readdirSync(sourceWal), options.segmentSize);
    names = missingWalNames(common.lsn / BigInt(options.segmentSize), common.timeline, source.currentTimeline, sourceHistory, local, options.segmentSize);
  } catch (error) {
    return fatal('Failed to get missing source WALs')(error);
  }
  if (names.length === 0) {
    log.info('No WAL files to restore');
    return;
  }
  log.info(`WAL files to restore: [${names.join(' ')}]`);
  for (const name of names) {
    let destination = join(sourceWal, name);
    try {
      destination = realpathSync(destination);
    } catch {
      // not a symlink (the usual case: the file does not exist yet)
    }
    try {
      const found = await findByBaseName(options.walFolder, name);
      if (!found) throw new Error(`Archive '${name}' does not exist.`);
      await downloadToFile(options.walFolder, found.key, destination, { format: found.format, crypter: options.crypter });
      log.info(`Successfully download WAL file ${name}`);
    } catch (error) {
      log.error(`Failed to download WAL file ${name}: ${errorMessage(error)}`);
    }
  }
}
