// The backups wal-show and wal-verify need: sentinel names from basebackups_005/ and each backup's metadata.json,
// read minimally, with 64-bit LSNs kept exact, and rendered as WAL-G's BackupDetail JSON.

import type { Readable } from 'node:stream';
import type { Folder } from '../storage/driver.ts';
import { NotFoundError } from '../storage/driver.ts';
import { firstSegmentNameIn } from '../wal/names.ts';
import { errorMessage, WalgError } from '../errors.ts';
import { RawJsonObject, goJsonReencode, goJsonString, goTimeRfc3339Nano } from './go-json.ts';

const SENTINEL_SUFFIX = '_backup_stop_sentinel.json';
const BASE_BACKUP_FOLDER = 'basebackups_005';

/** A backup as its sentinel object shows it (WAL-G's BackupTime). */
export interface BackupTime {
  readonly backupName: string;
  /** The sentinel's modification time. */
  readonly modified: Date;
  /** First 24-hex run of the sentinel name, or 24 `Z`s. */
  readonly walFileName: string;
  readonly storageName: string;
}

/** BackupTime plus metadata.json (WAL-G's BackupDetail). */
export interface BackupDetail extends BackupTime {
  readonly startLsn: bigint;
  readonly finishLsn: bigint;
  readonly isPermanent: boolean;
  /** The detail as WAL-G's encoding/json writes it (BackupTime fields, then ExtendedMetadataDto fields). */
  readonly json: string;
}

/** Sentinels directly in basebackups_005/, in listing order (WAL-G's GetBackups); empty when there are none. */
export async function listBackups(rootFolder: Folder): Promise<BackupTime[]> {
  const folder = rootFolder.subFolder(BASE_BACKUP_FOLDER);
  const backups: BackupTime[] = [];
  for await (const entry of folder.list('')) {
    if (entry.kind !== 'object' || !entry.key.endsWith(SENTINEL_SUFFIX)) continue;
    const base = entry.key.slice(entry.key.lastIndexOf('/') + 1);
    backups.push({
      backupName: base.slice(0, -SENTINEL_SUFFIX.length),
      modified: entry.modified,
      walFileName: firstSegmentNameIn(base) ?? 'Z'.repeat(24),
      storageName: 'default',
    });
  }
  return backups;
}

async function readText(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const ZERO_TIME = '"0001-01-01T00:00:00Z"';

function timeField(metadata: RawJsonObject, key: string): string {
  const raw = metadata.raw(key);
  if (raw === undefined || raw === 'null') return ZERO_TIME;
  return goJsonString(JSON.parse(raw) as string);
}

function integerText(metadata: RawJsonObject, key: string): string {
  return metadata.integer(key).toString();
}

/** Reads `basebackups_005/<name>/metadata.json` and builds the detail. */
export async function readBackupDetail(rootFolder: Folder, backup: BackupTime): Promise<BackupDetail> {
  const key = `${BASE_BACKUP_FOLDER}/${backup.backupName}/metadata.json`;
  let metadata: RawJsonObject;
  try {
    metadata = new RawJsonObject(await readText(await rootFolder.get(key)), key);
  } catch (error) {
    if (error instanceof NotFoundError) throw new WalgError(`failed to fetch metadata of backup ${backup.backupName}: ${error.message}`);
    throw new WalgError(`failed to read metadata of backup ${backup.backupName} (${key}): ${errorMessage(error)}`);
  }
  const systemIdentifier = metadata.optionalInteger('system_identifier');
  const userData = metadata.raw('user_data');
  const fields = [
    `"backup_name":${goJsonString(backup.backupName)}`,
    `"time":${goJsonString(goTimeRfc3339Nano(backup.modified))}`,
    `"wal_file_name":${goJsonString(backup.walFileName)}`,
    `"storage_name":${goJsonString(backup.storageName)}`,
    `"start_time":${timeField(metadata, 'start_time')}`,
    `"finish_time":${timeField(metadata, 'finish_time')}`,
    `"date_fmt":${goJsonString(metadata.string('date_fmt'))}`,
    `"hostname":${goJsonString(metadata.string('hostname'))}`,
    `"data_dir":${goJsonString(metadata.string('data_dir'))}`,
    `"pg_version":${integerText(metadata, 'pg_version')}`,
    `"start_lsn":${integerText(metadata, 'start_lsn')}`,
    `"finish_lsn":${integerText(metadata, 'finish_lsn')}`,
    `"is_permanent":${metadata.bool('is_permanent')}`,
    `"system_identifier":${systemIdentifier === undefined ? 'null' : systemIdentifier.toString()}`,
    `"uncompressed_size":${integerText(metadata, 'uncompressed_size')}`,
    `"compressed_size":${integerText(metadata, 'compressed_size')}`,
  ];
  if (userData !== undefined && userData !== 'null') fields.push(`"user_data":${goJsonReencode(userData)}`);
  return {
    ...backup,
    startLsn: metadata.integer('start_lsn'),
    finishLsn: metadata.integer('finish_lsn'),
    isPermanent: metadata.bool('is_permanent'),
    json: `{${fields.join(',')}}`,
  };
}

/** Details of every backup, last listed first (WAL-G's GetBackupsDetails walks the list backwards). */
export async function readBackupDetails(rootFolder: Folder, backups: readonly BackupTime[]): Promise<BackupDetail[]> {
  const details: BackupDetail[] = [];
  for (let index = backups.length - 1; index >= 0; index--) details.push(await readBackupDetail(rootFolder, backups[index]));
  return details;
}
