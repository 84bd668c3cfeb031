// The backup sentinel `<name>_backup_stop_sentinel.json`: WAL-G's BackupSentinelDto and its V2 superset, read from
// any WAL-G or WAL-E version and written byte for byte as WAL-G v3 writes it (struct field order, Go's escaping,
// LSNs and system identifiers as exact 64-bit integers).

import { WalgError } from '../errors.ts';
import { decodeFilesMetadataObject, type FilesMetadata } from './files-metadata.ts';
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
  toPlainValue,
  type JsonValue,
} from './json.ts';
import { decodeTablespaceSpec, encodeTablespaceSpec, type TablespaceSpec } from './tablespace-spec.ts';

/** `MetadataDatetimeFormat`, stored beside every backup time. */
export const METADATA_DATE_FORMAT = '%Y-%m-%dT%H:%M:%S.%fZ';

export interface BackupSentinel {
  /** Start LSN (`LSN`); absent in WAL-E sentinels. */
  readonly startLsn?: bigint;
  /** Parent's start LSN (`DeltaLSN`, formerly `DeltaFromLSN`), deltas only. */
  readonly deltaLsn?: bigint;
  /** Parent backup name (`DeltaFrom`); its presence makes the backup a delta. */
  readonly deltaFrom?: string;
  /** Full backup at the root of the chain (`DeltaFullName`). */
  readonly deltaFullName?: string;
  /** 1 for the first delta after a full backup (`DeltaCount`). */
  readonly deltaCount?: number;
  readonly pgVersion: number;
  readonly finishLsn?: bigint;
  readonly systemIdentifier?: bigint;
  readonly uncompressedSize: number;
  readonly compressedSize: number;
  /** Omitted from the JSON when 0. */
  readonly dataCatalogSize: number;
  /** Tablespace spec (`Spec`, WAL-E's `spec`); absent when the cluster had none. */
  readonly spec?: TablespaceSpec;
  /** Any JSON value; absent (or JSON null) means none. */
  readonly userData?: JsonValue;
  readonly filesMetadataDisabled: boolean;
  /** OrioleDB checkpoint (`ChkpNum`); WAL-G always writes the key, normally as null. */
  readonly checkpointNumber?: number;
  readonly deltaCheckpointNumber?: number;
  /** V2 fields; `version` is 2 for WAL-G v3 sentinels and undefined for older ones. */
  readonly version?: number;
  readonly startTime?: GoTime;
  readonly finishTime?: GoTime;
  readonly dateFormat?: string;
  readonly hostname?: string;
  readonly dataDir?: string;
  /** The permanence at push time only; metadata.json holds the real flag. */
  readonly isPermanent?: boolean;
  /** Files/TarFileSets/DatabasesByNames kept in the sentinel by old WAL-G versions. */
  readonly legacyFilesMetadata?: FilesMetadata;
}

/** What backup-push writes: a full V2 sentinel. */
export interface BackupSentinelV2 extends BackupSentinel {
  readonly version: number;
  readonly startTime: GoTime;
  readonly finishTime: GoTime;
  readonly dateFormat: string;
  readonly hostname: string;
  readonly dataDir: string;
  readonly isPermanent: boolean;
}

const WHERE = 'BackupSentinelDto';

function readTime(object: Map<string, JsonValue>, name: string): GoTime | undefined {
  const text = readString(object, name, WHERE);
  return text === undefined ? undefined : parseGoTimeField(text, name);
}

/** Parses a sentinel document; errors name the JSON problem (callers add the object path). */
export function parseSentinel(text: string): BackupSentinel {
  const document = parseJson(text);
  if (!isJsonObject(document)) throw new JsonFormatError(`json: cannot unmarshal ${Array.isArray(document) ? 'array' : 'value'} into Go value of type postgres.BackupSentinelDto`);
  const specValue = fieldOf(document, 'Spec');
  const userData = fieldOf(document, 'UserData');
  const legacyFiles = fieldOf(document, 'Files');
  const deltaLsn = readUint64(document, 'DeltaLSN', WHERE) ?? readUint64(document, 'DeltaFromLSN', WHERE);
  const checkpointNumber = readInteger(document, 'ChkpNum', WHERE, 'uint32');
  const deltaCheckpointNumber = readInteger(document, 'DeltaChkpNum', WHERE, 'uint32');
  const sentinel: BackupSentinel = {
    startLsn: readUint64(document, 'LSN', WHERE),
    deltaLsn,
    deltaFrom: readString(document, 'DeltaFrom', WHERE),
    deltaFullName: readString(document, 'DeltaFullName', WHERE),
    deltaCount: readInteger(document, 'DeltaCount', WHERE),
    pgVersion: readInteger(document, 'PgVersion', WHERE) ?? 0,
    finishLsn: readUint64(document, 'FinishLSN', WHERE),
    systemIdentifier: readUint64(document, 'SystemIdentifier', WHERE),
    uncompressedSize: readInteger(document, 'UncompressedSize', WHERE, 'int64') ?? 0,
    compressedSize: readInteger(document, 'CompressedSize', WHERE, 'int64') ?? 0,
    dataCatalogSize: readInteger(document, 'DataCatalogSize', WHERE, 'int64') ?? 0,
    spec: specValue === undefined || specValue === null ? undefined : decodeTablespaceSpec(specValue),
    userData: userData === null ? undefined : userData,
    filesMetadataDisabled: readBoolean(document, 'FilesMetadataDisabled', WHERE) ?? false,
    checkpointNumber,
    deltaCheckpointNumber,
    version: readInteger(document, 'Version', WHERE),
    startTime: readTime(document, 'StartTime'),
    finishTime: readTime(document, 'FinishTime'),
    dateFormat: readString(document, 'DateFmt', WHERE),
    hostname: readString(document, 'Hostname', WHERE),
    dataDir: readString(document, 'DataDir', WHERE),
    isPermanent: readBoolean(document, 'IsPermanent', WHERE),
    legacyFilesMetadata:
      legacyFiles === undefined || legacyFiles === null
        ? undefined
        : decodeFilesMetadataObject(toPlainValue(document) as Record<string, unknown>),
  };
  return sentinel;
}

/**
 * Whether the backup is a delta. Like WAL-G, a sentinel naming a parent but lacking the parent's LSN, the chain's
 * full backup or the count is refused ("Inconsistent BackupSentinelDto").
 */
export function isIncrementalSentinel(sentinel: BackupSentinel): boolean {
  if (sentinel.deltaFrom === undefined) return false;
  if (sentinel.deltaLsn === undefined || sentinel.deltaFullName === undefined || sentinel.deltaCount === undefined) {
    throw new WalgError('Inconsistent BackupSentinelDto: a delta backup needs DeltaLSN, DeltaFullName and DeltaCount beside DeltaFrom');
  }
  return true;
}

function lsnOrNull(lsn: bigint | undefined): string {
  return lsn === undefined ? 'null' : lsn.toString();
}

/** The fields of BackupSentinelDto in WAL-G's struct order, as `"Key":value` pieces. */
function baseSentinelMembers(sentinel: BackupSentinel): string[] {
  const members: string[] = [`"LSN":${lsnOrNull(sentinel.startLsn)}`];
  if (sentinel.deltaLsn !== undefined) members.push(`"DeltaLSN":${sentinel.deltaLsn}`);
  if (sentinel.deltaFrom !== undefined) members.push(`"DeltaFrom":${goJsonString(sentinel.deltaFrom)}`);
  if (sentinel.deltaFullName !== undefined) members.push(`"DeltaFullName":${goJsonString(sentinel.deltaFullName)}`);
  if (sentinel.deltaCount !== undefined) members.push(`"DeltaCount":${sentinel.deltaCount}`);
  members.push(`"PgVersion":${sentinel.pgVersion}`);
  members.push(`"FinishLSN":${lsnOrNull(sentinel.finishLsn)}`);
  if (sentinel.systemIdentifier !== undefined) members.push(`"SystemIdentifier":${sentinel.systemIdentifier}`);
  members.push(`"UncompressedSize":${sentinel.uncompressedSize}`);
  members.push(`"CompressedSize":${sentinel.compressedSize}`);
  if (sentinel.dataCatalogSize !== 0) members.push(`"DataCatalogSize":${sentinel.dataCatalogSize}`);
  if (sentinel.spec !== undefined) members.push(`"Spec":${encodeTablespaceSpec(sentinel.spec)}`);
  if (sentinel.userData !== undefined && sentinel.userData !== null) members.push(`"UserData":${encodeAsGoInterface(sentinel.userData)}`);
  if (sentinel.filesMetadataDisabled) members.push('"FilesMetadataDisabled":true');
  members.push(`"ChkpNum":${sentinel.checkpointNumber === undefined ? 'null' : sentinel.checkpointNumber}`);
  if (sentinel.deltaCheckpointNumber !== undefined) members.push(`"DeltaChkpNum":${sentinel.deltaCheckpointNumber}`);
  return members;
}

/** The V2 sentinel WAL-G v3 uploads: compact, no trailing newline. */
export function encodeSentinelV2(sentinel: BackupSentinelV2): string {
  const members = baseSentinelMembers(sentinel);
  members.push(`"Version":${sentinel.version}`);
  members.push(`"StartTime":${goJsonString(formatRfc3339Nano(sentinel.startTime))}`);
  members.push(`"FinishTime":${goJsonString(formatRfc3339Nano(sentinel.finishTime))}`);
  members.push(`"DateFmt":${goJsonString(sentinel.dateFormat)}`);
  members.push(`"Hostname":${goJsonString(sentinel.hostname)}`);
  members.push(`"DataDir":${goJsonString(sentinel.dataDir)}`);
  members.push(`"IsPermanent":${sentinel.isPermanent}`);
  return `{${members.join(',')}}`;
}

/** A V1 (pre-v3) sentinel, as older WAL-G wrote it; kept for tests and tools that rewrite old backups. */
export function encodeSentinelV1(sentinel: BackupSentinel): string {
  return `{${baseSentinelMembers(sentinel).join(',')}}`;
}

/** Fills the V2 fields a parsed sentinel may lack (older versions), so it can be written as V2. */
export function asSentinelV2(sentinel: BackupSentinel): BackupSentinelV2 {
  return {
    ...sentinel,
    version: sentinel.version ?? 2,
    startTime: sentinel.startTime ?? ZERO_GO_TIME,
    finishTime: sentinel.finishTime ?? ZERO_GO_TIME,
    dateFormat: sentinel.dateFormat ?? '',
    hostname: sentinel.hostname ?? '',
    dataDir: sentinel.dataDir ?? '',
    isPermanent: sentinel.isPermanent ?? false,
  };
}

/** The user data as Go decodes it into interface{} (for deep-equality selection). */
export function plainUserData(userData: JsonValue | undefined): unknown {
  return userData === undefined ? undefined : toPlainValue(userData);
}

