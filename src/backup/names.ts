// Names and paths of base backups in storage: folders, sentinel and metadata keys, backup names and what they encode.

import { firstSegmentNameIn, formatWalSegmentName, parseWalSegmentName, segmentNumberOfLsn } from '../wal/names.ts';

export const BASE_BACKUP_FOLDER = 'basebackups_005/';
export const WAL_FOLDER = 'wal_005/';
export const SENTINEL_SUFFIX = '_backup_stop_sentinel.json';
export const METADATA_FILE_NAME = 'metadata.json';
export const FILES_METADATA_FILE_NAME = 'files_metadata.json';
export const TAR_PARTITION_FOLDER = 'tar_partitions/';
/** `LATEST` selects the backup whose sentinel was modified last. */
export const LATEST = 'LATEST';

/** `backup-list`'s wal_file_name when a name holds no 24-hex run. */
export const NO_WAL_FILE_NAME = 'Z'.repeat(24);

/** `<backup>_backup_stop_sentinel.json`, relative to basebackups_005/. */
export function sentinelKey(backupName: string): string {
  return backupName + SENTINEL_SUFFIX;
}

export function metadataKey(backupName: string): string {
  return `${backupName}/${METADATA_FILE_NAME}`;
}

export function filesMetadataKey(backupName: string): string {
  return `${backupName}/${FILES_METADATA_FILE_NAME}`;
}

export function tarPartitionFolder(backupName: string): string {
  return `${backupName}/${TAR_PARTITION_FOLDER}`;
}

export function isSentinelKey(key: string): boolean {
  return key.endsWith(SENTINEL_SUFFIX);
}

/** WAL-G's StripRightmostBackupName: the last path element, cut at its first `_backup`. */
export function backupNameFromSentinelKey(key: string): string {
  const trimmed = key.replace(/^\/+|\/+$/g, '');
  const last = trimmed.slice(trimmed.lastIndexOf('/') + 1);
  return last.split('_backup')[0];
}

/** WAL-G's StripLeftmostBackupName: the first path element, cut at its first `_backup`. */
export function backupNameFromObjectKey(key: string): string {
  const trimmed = key.replace(/^\/+|\/+$/g, '');
  const first = trimmed.split('/')[0];
  return first.split('_backup')[0];
}

/** WAL-G's StripWalFileName: the first 24-hex run, or 24 `Z`. */
export function walFileNameOf(key: string): string {
  return firstSegmentNameIn(key) ?? NO_WAL_FILE_NAME;
}

const PG_BACKUP_NAME = /base_[0-9A-F]{24}(_D_[0-9A-F]{24})?(_[0-9A-F]{8})?/;

/** WAL-G's DeduceBackupName: the first backup-name-looking run in an object key, or ''. */
export function deduceBackupName(key: string): string {
  return PG_BACKUP_NAME.exec(key)?.[0] ?? '';
}

/**
 * Whether a backup needs pg_control.tar (WAL-G's IsPgControlRequired): every WAL-G full name does; a name with two
 * `_`-separated parts after `base` is WAL-E's, which has none, unless the backup is a delta.
 */
export function requiresPgControl(backupName: string, isIncremental: boolean): boolean {
  const looksLikeWalE = /^([^_]+._[^_]+._)/.test(backupName);
  return !looksLikeWalE || isIncremental;
}

/** The timeline in a backup name (characters 5–12, hex), as WAL-G's ParseTimelineFromBackupName reads it. */
export function timelineOfBackupName(backupName: string): number | undefined {
  const text = backupName.slice(5, 13);
  if (!/^[0-9A-Fa-f]{1,8}$/.test(text)) return undefined;
  return parseInt(text, 16);
}

/** (timeline, segment number) from the first 24-hex run of a key, when it is a valid WAL name (TryFetchTimelineAndLogSegNo). */
export function timelineAndSegmentOf(key: string, segmentSize: number): { timeline: number; segment: bigint } | undefined {
  const name = firstSegmentNameIn(key);
  if (name === undefined) return undefined;
  const perId = 0x100000000n / BigInt(segmentSize);
  if (BigInt(`0x${name.slice(16)}`) >= perId) return undefined;
  const parsed = parseWalSegmentName(name, segmentSize);
  if (parsed === undefined) return undefined;
  return { timeline: parsed.timeline, segment: parsed.segmentNumber };
}

/** A backup's name: `base_` + the WAL file holding startLsn-1, plus `_D_<parent's 24-hex>` for a delta. */
export function backupNameFor(timeline: number, startLsn: bigint, segmentSize: number, parentName?: string): string {
  const segment = segmentNumberOfLsn(startLsn - 1n, segmentSize);
  const own = `base_${formatWalSegmentName(timeline, segment, segmentSize)}`;
  if (parentName === undefined) return own;
  return `${own}_D_${walFileNameOf(parentName)}`;
}
