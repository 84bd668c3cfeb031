// `files_metadata.json`: every file of a backup with its increment/skip flags and mtime, which tar holds which
// members, and database/table names for partial restore. Written by WAL-G with encoding/json/v2 (no HTML escaping,
// empty maps omitted, map keys in whatever order the writer had them), so the writer here keeps the caller's order.
//
// This document can be large (one entry per file of the cluster), so it is read with the native JSON.parse: none of
// its numbers needs more than 53 bits (OIDs and block numbers are 32-bit, UpdatesCount is always 0 for PostgreSQL),
// and its keys are paths and names, which JavaScript keeps in document order.

import { goJsonV2String, JsonFormatError } from './json.ts';

export interface CorruptBlocks {
  readonly count: number;
  /** At most 10 block numbers unless WALG_STORE_ALL_CORRUPT_BLOCKS. */
  readonly someBlocks: readonly number[];
}

export interface BackupFileDescription {
  readonly isIncremented: boolean;
  /** The file is not in this backup's tars: take it from the parent. */
  readonly isSkipped: boolean;
  /** RFC 3339 with nanoseconds, exactly as stored (Go's time.Time text). */
  readonly modificationTime: string;
  readonly corruptBlocks?: CorruptBlocks;
  readonly updatesCount: number;
}

export interface TableInfo {
  readonly oid: number;
  readonly relfilenode: number;
  readonly subTables: ReadonlyMap<string, TableInfo>;
}

export interface DatabaseObjects {
  readonly oid: number;
  /** `schema.table` → table; stored as `tables_new`. */
  readonly tables: ReadonlyMap<string, TableInfo>;
}

export interface FilesMetadata {
  /** Member name (`/base/1/1259`) → description. Directories are included; pg_control and the label files are not. */
  readonly files: ReadonlyMap<string, BackupFileDescription>;
  /** Tar object name (`part_001.tar.lz4`) → member names in it. */
  readonly tarFileSets: ReadonlyMap<string, readonly string[]>;
  readonly databasesByNames: ReadonlyMap<string, DatabaseObjects>;
}

export const EMPTY_FILES_METADATA: FilesMetadata = { files: new Map(), tarFileSets: new Map(), databasesByNames: new Map() };

type Plain = Record<string, unknown>;

function isPlainObject(value: unknown): value is Plain {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Go's v1 field matching on a plain object: exact key, else the last case-insensitive one. */
function plainField(object: Plain, name: string): unknown {
  if (Object.hasOwn(object, name)) return object[name];
  const folded = name.toLowerCase();
  let found: unknown;
  for (const key of Object.keys(object)) if (key.toLowerCase() === folded) found = object[key];
  return found;
}

function expectObject(value: unknown, where: string): Plain | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isPlainObject(value)) throw new JsonFormatError(`json: cannot unmarshal ${describe(value)} into Go struct field ${where} of type map`);
  return value;
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return 'number';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'string') return 'string';
  return 'object';
}

function expectInteger(value: unknown, where: string): number {
  if (value === undefined || value === null) return 0;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new JsonFormatError(`json: cannot unmarshal ${describe(value)} into Go struct field ${where} of type uint32`);
  return value;
}

function expectBoolean(value: unknown, where: string): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean') throw new JsonFormatError(`json: cannot unmarshal ${describe(value)} into Go struct field ${where} of type bool`);
  return value;
}

function decodeDescription(value: unknown, name: string): BackupFileDescription {
  const object = expectObject(value, `FilesMetadataDto.Files`) ?? {};
  const modificationTime = plainField(object, 'MTime');
  if (modificationTime !== undefined && modificationTime !== null && typeof modificationTime !== 'string') {
    throw new JsonFormatError(`files_metadata.json: file ${name}: MTime must be a time string`);
  }
  const corrupt = expectObject(plainField(object, 'CorruptBlocks'), 'BackupFileDescription.CorruptBlocks');
  const description: BackupFileDescription = {
    isIncremented: expectBoolean(plainField(object, 'IsIncremented'), 'BackupFileDescription.IsIncremented'),
    isSkipped: expectBoolean(plainField(object, 'IsSkipped'), 'BackupFileDescription.IsSkipped'),
    modificationTime: (modificationTime as string | undefined) ?? '0001-01-01T00:00:00Z',
    updatesCount: expectInteger(plainField(object, 'UpdatesCount'), 'BackupFileDescription.UpdatesCount'),
    ...(corrupt === undefined
      ? {}
      : {
          corruptBlocks: {
            count: expectInteger(plainField(corrupt, 'CorruptBlocksCount'), 'CorruptBlocksInfo.CorruptBlocksCount'),
            someBlocks: ((plainField(corrupt, 'SomeCorruptBlocks') as unknown[] | null | undefined) ?? []).map((block) =>
              expectInteger(block, 'CorruptBlocksInfo.SomeCorruptBlocks'),
            ),
          },
        }),
  };
  return description;
}

function decodeTables(value: unknown, where: string): Map<string, TableInfo> {
  const tables = new Map<string, TableInfo>();
  const object = expectObject(value, where);
  if (object === undefined) return tables;
  for (const [name, table] of Object.entries(object)) {
    const fields = expectObject(table, where) ?? {};
    tables.set(name, {
      oid: expectInteger(plainField(fields, 'oid'), 'TableInfo.oid'),
      relfilenode: expectInteger(plainField(fields, 'relfilenode'), 'TableInfo.relfilenode'),
      subTables: decodeTables(plainField(fields, 'subtables'), 'TableInfo.subtables'),
    });
  }
  return tables;
}

/** Decodes the three members from a parsed object (files_metadata.json, or a pre-v1 sentinel that held them). */
export function decodeFilesMetadataObject(object: Plain): FilesMetadata {
  const files = new Map<string, BackupFileDescription>();
  const filesObject = expectObject(plainField(object, 'Files'), 'FilesMetadataDto.Files');
  if (filesObject !== undefined) {
    for (const [name, description] of Object.entries(filesObject)) files.set(name, decodeDescription(description, name));
  }
  const tarFileSets = new Map<string, string[]>();
  const setsObject = expectObject(plainField(object, 'TarFileSets'), 'FilesMetadataDto.TarFileSets');
  if (setsObject !== undefined) {
    for (const [tarName, members] of Object.entries(setsObject)) {
      if (members !== null && !Array.isArray(members)) throw new JsonFormatError(`files_metadata.json: TarFileSets[${tarName}] must be a list of names`);
      tarFileSets.set(tarName, ((members as unknown[] | null) ?? []).map(String));
    }
  }
  const databasesByNames = new Map<string, DatabaseObjects>();
  const databasesObject = expectObject(plainField(object, 'DatabasesByNames'), 'FilesMetadataDto.DatabasesByNames');
  if (databasesObject !== undefined) {
    for (const [name, database] of Object.entries(databasesObject)) {
      const fields = expectObject(database, 'FilesMetadataDto.DatabasesByNames') ?? {};
      databasesByNames.set(name, {
        oid: expectInteger(plainField(fields, 'oid'), 'DatabaseObjectsInfo.oid'),
        tables: decodeTables(plainField(fields, 'tables_new'), 'DatabaseObjectsInfo.tables_new'),
      });
    }
  }
  return { files, tarFileSets, databasesByNames };
}

/** Parses files_metadata.json. */
export function parseFilesMetadata(text: string): FilesMetadata {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new JsonFormatError(`invalid JSON: ${(error as Error).message}`);
  }
  if (!isPlainObject(parsed)) throw new JsonFormatError(`json: cannot unmarshal ${describe(parsed)} into Go value of type postgres.FilesMetadataDto`);
  return decodeFilesMetadataObject(parsed);
}

// ---------------------------------------------------------------------------------------------------------
// Writing (encoding/json/v2: omitempty drops empty maps, no HTML escaping, no trailing newline)

function encodeDescription(description: BackupFileDescription): string {
  let text = `{"IsIncremented":${description.isIncremented},"IsSkipped":${description.isSkipped},"MTime":${goJsonV2String(description.modificationTime)}`;
  if (description.corruptBlocks !== undefined) {
    text += `,"CorruptBlocks":{"CorruptBlocksCount":${description.corruptBlocks.count},"SomeCorruptBlocks":[${description.corruptBlocks.someBlocks.join(',')}]}`;
  }
  return `${text},"UpdatesCount":${description.updatesCount}}`;
}

function encodeTables(tables: ReadonlyMap<string, TableInfo>): string {
  const parts: string[] = [];
  for (const [name, table] of tables) {
    let text = `${goJsonV2String(name)}:{"oid":${table.oid},"relfilenode":${table.relfilenode}`;
    if (table.subTables.size > 0) text += `,"subtables":${encodeTables(table.subTables)}`;
    parts.push(`${text}}`);
  }
  return `{${parts.join(',')}}`;
}

/** Yields files_metadata.json in pieces, so a writer can stream a document with millions of files. */
export function* encodeFilesMetadataChunks(metadata: FilesMetadata): Generator<string> {
  yield '{';
  let needsComma = false;
  if (metadata.files.size > 0) {
    yield '"Files":{';
    let first = true;
    for (const [name, description] of metadata.files) {
      yield `${first ? '' : ','}${goJsonV2String(name)}:${encodeDescription(description)}`;
      first = false;
    }
    yield '}';
    needsComma = true;
  }
  if (metadata.tarFileSets.size > 0) {
    const parts: string[] = [];
    for (const [tarName, members] of metadata.tarFileSets) parts.push(`${goJsonV2String(tarName)}:[${members.map(goJsonV2String).join(',')}]`);
    yield `${needsComma ? ',' : ''}"TarFileSets":{${parts.join(',')}}`;
    needsComma = true;
  }
  if (metadata.databasesByNames.size > 0) {
    const parts: string[] = [];
    for (const [name, database] of metadata.databasesByNames) {
      let text = `${goJsonV2String(name)}:{"oid":${database.oid}`;
      if (database.tables.size > 0) text += `,"tables_new":${encodeTables(database.tables)}`;
      parts.push(`${text}}`);
    }
    yield `${needsComma ? ',' : ''}"DatabasesByNames":{${parts.join(',')}}`;
  }
  yield '}';
}

export function encodeFilesMetadata(metadata: FilesMetadata): string {
  return [...encodeFilesMetadataChunks(metadata)].join('');
}
