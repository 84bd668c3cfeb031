// The three JSON documents that finish a backup — metadata.json, files_metadata.json and the sentinel — built from
// what the push learned, and uploaded in WAL-G's order with the sentinel strictly last.

import { hostname } from 'node:os';
import { Readable } from 'node:stream';
import type { GoTime } from '../backup/go-time.ts';
import type { JsonValue } from '../backup/json.ts';
import { encodeMetadata, type BackupMetadata } from '../backup/metadata.ts';
import { filesMetadataKey, metadataKey, sentinelKey } from '../backup/names.ts';
import { encodeSentinelV2, isIncrementalSentinel, METADATA_DATE_FORMAT, type BackupSentinel, type BackupSentinelV2 } from '../backup/sentinel.ts';
import type { TablespaceSpec } from '../backup/tablespace-spec.ts';
import { errorMessage, WalgError } from '../errors.ts';
import { log } from '../log/logger.ts';
import type { Folder } from '../storage/driver.ts';

/** Everything the sentinel and metadata.json record about a finished push. */
export interface PushedBackup {
  readonly name: string;
  readonly startLsn: bigint;
  readonly finishLsn: bigint;
  readonly pgVersion: number;
  readonly systemIdentifier?: bigint;
  readonly uncompressedSize: number;
  readonly compressedSize: number;
  readonly dataCatalogSize: number;
  readonly spec?: TablespaceSpec;
  readonly userData?: JsonValue;
  readonly filesMetadataDisabled: boolean;
  readonly isPermanent: boolean;
  readonly dataDir: string;
  readonly startTime: GoTime;
  /** For a delta: the parent's name, its sentinel and the new DeltaCount. */
  readonly parent?: { readonly name: string; readonly sentinel: BackupSentinel; readonly incrementCount: number };
}

/** The current time as WAL-G stamps backups: UTC, rounded up to whole microseconds. */
export function backupTimeNow(nowEpochNanoseconds: bigint = currentEpochNanoseconds()): GoTime {
  let nanoseconds = nowEpochNanoseconds;
  if (nanoseconds % 1000n !== 0n) nanoseconds += 1000n - (nanoseconds % 1000n);
  return {
    seconds: Number(nanoseconds / 1_000_000_000n),
    nanoseconds: Number(nanoseconds % 1_000_000_000n),
    offsetSeconds: 0,
    zoneName: 'UTC',
  };
}

/** Wall-clock nanoseconds with microsecond resolution (performance.timeOrigin + now()). */
export function currentEpochNanoseconds(): bigint {
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n;
}

/** os.Hostname(), '' with WAL-G's warning when it cannot be read. */
function hostName(): string {
  try {
    return hostname();
  } catch (error) {
    log.warn(`Failed to fetch the hostname for metadata, leaving empty: ${errorMessage(error)}`);
    return '';
  }
}

/** metadata.json (ExtendedMetadataDto) and the V2 sentinel, FinishTime being now. */
export function backupDocuments(backup: PushedBackup, finishTime: GoTime = backupTimeNow()): { metadata: BackupMetadata; sentinel: BackupSentinelV2 } {
  const parent = backup.parent;
  let deltaFullName: string | undefined;
  if (parent !== undefined) deltaFullName = isIncrementalSentinel(parent.sentinel) ? parent.sentinel.deltaFullName : parent.name;
  const metadata: BackupMetadata = {
    startTime: backup.startTime,
    finishTime,
    dateFormat: METADATA_DATE_FORMAT,
    hostname: hostName(),
    dataDir: backup.dataDir,
    pgVersion: backup.pgVersion,
    startLsn: backup.startLsn,
    finishLsn: backup.finishLsn,
    isPermanent: backup.isPermanent,
    systemIdentifier: backup.systemIdentifier,
    uncompressedSize: backup.uncompressedSize,
    compressedSize: backup.compressedSize,
    userData: backup.userData,
  };
  const sentinel: BackupSentinelV2 = {
    startLsn: backup.startLsn,
    deltaLsn: parent?.sentinel.startLsn,
    deltaFrom: parent?.name,
    deltaFullName,
    deltaCount: parent?.incrementCount,
    pgVersion: backup.pgVersion,
    finishLsn: backup.finishLsn,
    systemIdentifier: backup.systemIdentifier,
    uncompressedSize: backup.uncompressedSize,
    compressedSize: backup.compressedSize,
    dataCatalogSize: backup.dataCatalogSize,
    spec: backup.spec,
    userData: backup.userData,
    filesMetadataDisabled: backup.filesMetadataDisabled,
    version: 2,
    startTime: backup.startTime,
    finishTime,
    dateFormat: METADATA_DATE_FORMAT,
    hostname: metadata.hostname,
    dataDir: backup.dataDir,
    isPermanent: backup.isPermanent,
  };
  return { metadata, sentinel };
}

function bodyOf(text: string): Readable {
  return Readable.from([Buffer.from(text, 'utf8')]);
}

/**
 * Uploads metadata.json, files_metadata.json (when a stream is given) and, last, the sentinel — whose existence
 * is what makes the backup complete.
 */
export async function uploadBackupDocuments(
  baseBackups: Folder,
  backupName: string,
  documents: { metadata: BackupMetadata; sentinel: BackupSentinelV2 },
  filesMetadata: (() => Readable) | undefined,
): Promise<void> {
  try {
    await baseBackups.put(metadataKey(backupName), bodyOf(encodeMetadata(documents.metadata)));
  } catch (error) {
    throw new WalgError(`Failed to upload metadata file for backup ${backupName}: ${errorMessage(error)}`, 1, { cause: error });
  }
  if (filesMetadata === undefined) {
    log.info('Files metadata tracking is disabled, will not upload the files_metadata.json');
  } else {
    try {
      await baseBackups.put(filesMetadataKey(backupName), filesMetadata());
    } catch (error) {
      throw new WalgError(`Failed to upload files metadata for backup ${backupName}: ${errorMessage(error)}`, 1, { cause: error });
    }
  }
  try {
    await baseBackups.put(sentinelKey(backupName), bodyOf(encodeSentinelV2(documents.sentinel)));
  } catch (error) {
    throw new WalgError(`Failed to upload sentinel file for backup ${backupName}: ${errorMessage(error)}`, 1, { cause: error });
  }
}
