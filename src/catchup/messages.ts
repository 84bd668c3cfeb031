// The messages of WAL-G's catchup protocol as gob types: the receiver's PgControlData and file list, then the
// sender's CatchupCommandDto commands, each whole or incremental file followed by its bytes in []byte chunks.

import { GobError, type GobType, type GobValue } from './gob.ts';

/** Bytes per file chunk message, as WAL-G sends them. */
export const FILE_CHUNK_SIZE = 8192;

export const PG_CONTROL_DATA: GobType = {
  kind: 'struct',
  name: 'PgControlData',
  fields: [
    { name: 'SystemIdentifier', type: { kind: 'uint' } },
    { name: 'CurrentTimeline', type: { kind: 'uint' } },
    { name: 'Checkpoint', type: { kind: 'uint' } },
  ],
};

const TIME: GobType = { kind: 'gobEncoder', name: 'Time' };

const BACKUP_FILE_DESCRIPTION: GobType = {
  kind: 'struct',
  name: 'BackupFileDescription',
  fields: [
    { name: 'IsIncremented', type: { kind: 'bool' } },
    { name: 'IsSkipped', type: { kind: 'bool' } },
    { name: 'MTime', type: TIME },
  ],
};

export const BACKUP_FILE_LIST: GobType = { kind: 'map', name: 'BackupFileList', key: { kind: 'string' }, elem: BACKUP_FILE_DESCRIPTION };

export const CATCHUP_COMMAND: GobType = {
  kind: 'struct',
  name: 'CatchupCommandDto',
  fields: [
    { name: 'IsDone', type: { kind: 'bool' } },
    { name: 'IsIncremental', type: { kind: 'bool' } },
    { name: 'IsFull', type: { kind: 'bool' } },
    { name: 'IsDelete', type: { kind: 'bool' } },
    { name: 'IsBinContents', type: { kind: 'bool' } },
    { name: 'FileSize', type: { kind: 'uint' } },
    { name: 'FileName', type: { kind: 'string' } },
    { name: 'BinaryContents', type: { kind: 'bytes' } },
    { name: 'FilesToDelete', type: { kind: 'slice', name: '[]string', elem: { kind: 'string' } } },
  ],
};

export const BYTES: GobType = { kind: 'bytes' };

export interface PgControlData {
  readonly systemIdentifier: bigint;
  readonly currentTimeline: number;
  readonly checkpoint: bigint;
}

export interface CatchupCommand {
  readonly isDone?: boolean;
  readonly isIncremental?: boolean;
  readonly isFull?: boolean;
  readonly isDelete?: boolean;
  readonly isBinContents?: boolean;
  readonly fileSize?: bigint;
  readonly fileName?: string;
  readonly binaryContents?: Buffer;
  readonly filesToDelete?: readonly string[];
}

function record(value: GobValue, what: string): { [field: string]: GobValue } {
  if (typeof value !== 'object' || value === null || Buffer.isBuffer(value) || Array.isArray(value) || value instanceof Map) {
    throw new GobError(`expected ${what}, got another value`);
  }
  return value;
}

const uintField = (fields: { [field: string]: GobValue }, name: string): bigint => (typeof fields[name] === 'bigint' ? (fields[name] as bigint) : 0n);

export function pgControlToGob(control: PgControlData): GobValue {
  return { SystemIdentifier: control.systemIdentifier, CurrentTimeline: BigInt(control.currentTimeline), Checkpoint: control.checkpoint };
}

export function pgControlFromGob(value: GobValue): PgControlData {
  const fields = record(value, 'PgControlData');
  return { systemIdentifier: uintField(fields, 'SystemIdentifier'), currentTimeline: Number(uintField(fields, 'CurrentTimeline')), checkpoint: uintField(fields, 'Checkpoint') };
}

// Go's time.Time MarshalBinary: version, seconds since year 1, nanoseconds, zone offset in minutes (-1: UTC).
const UNIX_TO_ABSOLUTE_SECONDS = 62135596800n;

export function encodeGoTime(unixNanoseconds: bigint): Buffer {
  const seconds = unixNanoseconds / 1_000_000_000n - (unixNanoseconds % 1_000_000_000n < 0n ? 1n : 0n);
  const nanoseconds = unixNanoseconds - seconds * 1_000_000_000n;
  const bytes = Buffer.alloc(15);
  bytes[0] = 1;
  bytes.writeBigInt64BE(seconds + UNIX_TO_ABSOLUTE_SECONDS, 1);
  bytes.writeUInt32BE(Number(nanoseconds), 9);
  bytes.writeInt16BE(-1, 13);
  return bytes;
}

export function decodeGoTime(bytes: Buffer): bigint {
  if (bytes.length < 15 || (bytes[0] !== 1 && bytes[0] !== 2)) throw new GobError('Time.UnmarshalBinary: unsupported version or length');
  const seconds = bytes.readBigInt64BE(1) - UNIX_TO_ABSOLUTE_SECONDS;
  return seconds * 1_000_000_000n + BigInt(bytes.readUInt32BE(9));
}

/** Receiver's file list: relative path → modification time in Unix nanoseconds. */
export function fileListToGob(files: ReadonlyMap<string, bigint>): GobValue {
  const entries = new Map<GobValue, GobValue>();
  for (const [name, mtime] of files) entries.set(name, { MTime: encodeGoTime(mtime) });
  return entries;
}

export function fileListFromGob(value: GobValue): Map<string, bigint> {
  if (!(value instanceof Map)) throw new GobError('expected BackupFileList, got another value');
  const files = new Map<string, bigint>();
  for (const [name, description] of value) {
    const mtime = record(description, 'BackupFileDescription').MTime;
    files.set(String(name), Buffer.isBuffer(mtime) ? decodeGoTime(mtime) : 0n);
  }
  return files;
}

export function commandToGob(command: CatchupCommand): GobValue {
  const value: { [field: string]: GobValue } = {};
  if (command.isDone) value.IsDone = true;
  if (command.isIncremental) value.IsIncremental = true;
  if (command.isFull) value.IsFull = true;
  if (command.isDelete) value.IsDelete = true;
  if (command.isBinContents) value.IsBinContents = true;
  if (command.fileSize !== undefined) value.FileSize = command.fileSize;
  if (command.fileName !== undefined) value.FileName = command.fileName;
  if (command.binaryContents !== undefined) value.BinaryContents = command.binaryContents;
  if (command.filesToDelete !== undefined) value.FilesToDelete = [...command.filesToDelete];
  return value;
}

export function commandFromGob(value: GobValue): CatchupCommand {
  const fields = record(value, 'CatchupCommandDto');
  const names = fields.FilesToDelete;
  return {
    isDone: fields.IsDone === true,
    isIncremental: fields.IsIncremental === true,
    isFull: fields.IsFull === true,
    isDelete: fields.IsDelete === true,
    isBinContents: fields.IsBinContents === true,
    fileSize: uintField(fields, 'FileSize'),
    fileName: typeof fields.FileName === 'string' ? fields.FileName : '',
    binaryContents: Buffer.isBuffer(fields.BinaryContents) ? fields.BinaryContents : Buffer.alloc(0),
    filesToDelete: Array.isArray(names) ? names.map(String) : [],
  };
}
