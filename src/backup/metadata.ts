// `metadata.json` (WAL-G's ExtendedMetadataDto): the small per-backup document that holds the authoritative
// permanent flag and user data, read by backup-list --detail, delete, backup-mark and user-data selection.

import { formatRfc3339Nano, parseGoTimeField, ZERO_GO_TIME, type GoTime } from './go-time.ts';
import {
  encodeAsGoInterface,
  fieldOf,
  goJsonString,
  isJsonObject,
  JsonFormatError,
  parseJson,
  readBoolean,
  readInteger,
  readString,
  readUint64,
  type JsonValue,
} from './json.ts';

export interface BackupMetadata {
  readonly startTime: GoTime;
  readonly finishTime: GoTime;
  readonly dateFormat: string;
  readonly hostname: string;
  readonly dataDir: string;
  readonly pgVersion: number;
  readonly startLsn: bigint;
  readonly finishLsn: bigint;
  readonly isPermanent: boolean;
  /** null in the JSON when unknown. */
  readonly systemIdentifier?: bigint;
  readonly uncompressedSize: number;
  readonly compressedSize: number;
  /** Omitted from the JSON when absent. */
  readonly userData?: JsonValue;
}

const WHERE = 'ExtendedMetadataDto';

function readTime(object: Map<string, JsonValue>, name: string): GoTime {
  const text = readString(object, name, WHERE);
  return text === undefined ? ZERO_GO_TIME : parseGoTimeField(text, name);
}

export function parseMetadata(text: string): BackupMetadata {
  const document = parseJson(text);
  if (!isJsonObject(document)) throw new JsonFormatError(`json: cannot unmarshal ${Array.isArray(document) ? 'array' : 'value'} into Go value of type postgres.ExtendedMetadataDto`);
  const userData = fieldOf(document, 'user_data');
  return {
    startTime: readTime(document, 'start_time'),
    finishTime: readTime(document, 'finish_time'),
    dateFormat: readString(document, 'date_fmt', WHERE) ?? '',
    hostname: readString(document, 'hostname', WHERE) ?? '',
    dataDir: readString(document, 'data_dir', WHERE) ?? '',
    pgVersion: readInteger(document, 'pg_version', WHERE) ?? 0,
    startLsn: readUint64(document, 'start_lsn', WHERE) ?? 0n,
    finishLsn: readUint64(document, 'finish_lsn', WHERE) ?? 0n,
    isPermanent: readBoolean(document, 'is_permanent', WHERE) ?? false,
    systemIdentifier: readUint64(document, 'system_identifier', WHERE),
    uncompressedSize: readInteger(document, 'uncompressed_size', WHERE, 'int64') ?? 0,
    compressedSize: readInteger(document, 'compressed_size', WHERE, 'int64') ?? 0,
    userData: userData === null ? undefined : userData,
  };
}

/** The members of the metadata object in WAL-G's order, as `"key":value` pieces (backup-list --json reuses them). */
export function metadataMembers(metadata: BackupMetadata): string[] {
  const members = [
    `"start_time":${goJsonString(formatRfc3339Nano(metadata.startTime))}`,
    `"finish_time":${goJsonString(formatRfc3339Nano(metadata.finishTime))}`,
    `"date_fmt":${goJsonString(metadata.dateFormat)}`,
    `"hostname":${goJsonString(metadata.hostname)}`,
    `"data_dir":${goJsonString(metadata.dataDir)}`,
    `"pg_version":${metadata.pgVersion}`,
    `"start_lsn":${metadata.startLsn}`,
    `"finish_lsn":${metadata.finishLsn}`,
    `"is_permanent":${metadata.isPermanent}`,
    `"system_identifier":${metadata.systemIdentifier === undefined ? 'null' : metadata.systemIdentifier}`,
    `"uncompressed_size":${metadata.uncompressedSize}`,
    `"compressed_size":${metadata.compressedSize}`,
  ];
  if (metadata.userData !== undefined && metadata.userData !== null) members.push(`"user_data":${encodeAsGoInterface(metadata.userData)}`);
  return members;
}

/** metadata.json as WAL-G's json.Marshal writes it: compact, no trailing newline. */
export function encodeMetadata(metadata: BackupMetadata): string {
  return `{${metadataMembers(metadata).join(',')}}`;
}

/** Whether a metadata document is Go's zero value (backup-list --detail then orders by modification time). */
export function isZeroMetadata(metadata: BackupMetadata): boolean {
  return (
    metadata.startTime.seconds === ZERO_GO_TIME.seconds &&
    metadata.startTime.nanoseconds === 0 &&
    metadata.finishTime.seconds === ZERO_GO_TIME.seconds &&
    metadata.dateFormat === '' &&
    metadata.hostname === '' &&
    metadata.dataDir === '' &&
    metadata.pgVersion === 0 &&
    metadata.startLsn === 0n &&
    metadata.finishLsn === 0n &&
    !metadata.isPermanent &&
    metadata.systemIdentifier === undefined &&
    metadata.uncompressedSize === 0 &&
    metadata.compressedSize === 0 &&
    metadata.userData === undefined
  );
}
