// Which files a backup-fetch extracts from each backup of a chain: the files_metadata set, --mask (Go's
// filepath.Match), the parent's share of a delta, --restore-only's database filter, and the tars worth downloading.

import { WalgError } from '../errors.ts';
import { log } from '../log/logger.ts';
import type { DatabaseObjects, FilesMetadata } from './files-metadata.ts';

export const PG_CONTROL_MEMBER = '/global/pg_control';
export const BACKUP_LABEL_MEMBER = 'backup_label';
export const TABLESPACE_MAP_MEMBER = 'tablespace_map';
/** Files a backup carries outside files_metadata.json (WAL-G's UtilityFilePaths). */
export const UTILITY_MEMBERS: readonly string[] = [PG_CONTROL_MEMBER, BACKUP_LABEL_MEMBER, TABLESPACE_MAP_MEMBER];

/** A set of member names to extract; undefined means "everything" (no files metadata to go by). */
export type FileSelection = Set<string> | undefined;

/**
 * Go's path/filepath.Match on `/`-separated paths: `*` and `?` stop at `/` (a class does not), `[...]` with ranges and `^`
 * negation, `\` escapes. A malformed pattern is Go's "syntax error in pattern".
 */
export function goPathMatch(pattern: string, name: string): boolean {
  return matchFrom(pattern, 0, name, 0);
}

function badPattern(): WalgError {
  return new WalgError('syntax error in pattern');
}

function matchFrom(pattern: string, patternIndex: number, name: string, nameIndex: number): boolean {
  while (patternIndex < pattern.length) {
    const character = pattern[patternIndex];
    if (character === '*') {
      let next = patternIndex;
      while (next < pattern.length && pattern[next] === '*') next++;
      // A star matches any run of non-separators; try every length (validating the rest of the pattern like Go).
      for (let end = nameIndex; ; end++) {
        if (matchFrom(pattern, next, name, end)) return true;
        if (end >= name.length || name[end] === '/') break;
      }
      checkRestOfPattern(pattern, next);
      return false;
    }
    if (nameIndex >= name.length) {
      checkRestOfPattern(pattern, patternIndex);
      return false;
    }
    if (character === '?') {
      if (name[nameIndex] === '/') return false;
      patternIndex++;
      nameIndex++;
      continue;
    }
    if (character === '[') {
      const { matched, next } = matchClass(pattern, patternIndex + 1, name[nameIndex]);
      if (!matched) {
        checkRestOfPattern(pattern, next);
        return false;
      }
      patternIndex = next;
      nameIndex++;
      continue;
    }
    let literal = character;
    if (character === '\\') {
      patternIndex++;
      if (patternIndex >= pattern.length) throw badPattern();
      literal = pattern[patternIndex];
    }
    if (name[nameIndex] !== literal) {
      checkRestOfPattern(pattern, patternIndex + 1);
      return false;
    }
    patternIndex++;
    nameIndex++;
  }
  return nameIndex === name.length;
}

function matchClass(pattern: string, start: number, character: string): { matched: boolean; next: number } {
  let index = start;
  let negated = false;
  if (pattern[index] === '^') {
    negated = true;
    index++;
  }
  let matched = false;
  let count = 0;
  for (;;) {
    if (index >= pattern.length) throw badPattern();
    if (pattern[index] === ']' && count > 0) {
      index++;
      break;
    }
    const low = classCharacter(pattern, index);
    index = low.next;
    let high = low.value;
    if (pattern[index] === '-') {
      const upper = classCharacter(pattern, index + 1);
      high = upper.value;
      index = upper.next;
    }
    if (low.value <= character && character <= high) matched = true;
    count++;
  }
  return { matched: matched !== negated, next: index };
}

function classCharacter(pattern: string, index: number): { value: string; next: number } {
  const character = pattern[index];
  if (character === undefined || character === '-' || character === ']') throw badPattern();
  if (character === '\\') {
    if (index + 1 >= pattern.length) throw badPattern();
    return { value: pattern[index + 1], next: index + 2 };
  }
  return { value: character, next: index + 1 };
}

/** Go reports a malformed remainder even when the match already failed. */
function checkRestOfPattern(pattern: string, index: number): void {
  while (index < pattern.length) {
    const character = pattern[index];
    if (character === '\\') {
      if (index + 1 >= pattern.length) throw badPattern();
      index += 2;
    } else if (character === '[') {
      index = matchClass(pattern, index + 1, '\0').next;
    } else {
      index++;
    }
  }
}

/**
 * WAL-G's GetFilesToUnwrap: every file of files_metadata.json plus pg_control and the label files, narrowed by
 * `--mask` (matched against `/` + mask). No files metadata means everything (and the mask is not applied).
 */
export function filesToUnwrap(metadata: FilesMetadata, mask: string): FileSelection {
  if (metadata.files.size === 0) return undefined;
  const selection = new Set<string>(metadata.files.keys());
  for (const name of UTILITY_MEMBERS) selection.add(name);
  if (mask === '') return selection;
  const pattern = `/${mask}`;
  const matching = new Set<string>();
  for (const name of selection) if (goPathMatch(pattern, name)) matching.add(name);
  return matching;
}

/**
 * The parent's share of a delta (WAL-G's GetBaseFilesToUnwrap): files the delta skipped or incremented. Files the
 * delta does not list at all were deleted before it and are not restored. A file wanted but unknown to the delta
 * (other than the utility files) is an error.
 */
export function baseFilesToUnwrap(deltaFiles: FilesMetadata['files'], wanted: FileSelection): FileSelection {
  if (wanted === undefined) return undefined;
  const base = new Set<string>();
  for (const name of wanted) {
    const description = deltaFiles.get(name);
    if (description === undefined) {
      if (!UTILITY_MEMBERS.includes(name)) throw new WalgError(`Wanted to fetch increment for file: '${name}', but didn't find one in base`);
      continue;
    }
    if (description.isSkipped || description.isIncremented) base.add(name);
  }
  return base;
}

/** Whether a tar holds anything wanted (WAL-G's shouldUnwrapTar, for --skip-redundant-tars). */
export function tarHasWantedFiles(tarName: string, metadata: FilesMetadata, wanted: FileSelection): boolean {
  if (metadata.tarFileSets.size === 0 || wanted === undefined) return true;
  for (const member of metadata.tarFileSets.get(tarName) ?? []) if (wanted.has(member)) return true;
  log.debug(`Skipping archive '${tarName}'`);
  return false;
}

const PG_CONTROL_TAR = /^.*?pg_control\.tar(\..*)?$/;
const BACKUP_LABEL_TAR = /^.*?backup_label\.tar(\..*)?$/;

/**
 * Splits a backup's tars into data tars (extracted concurrently) and the label and pg_control tars, which go last,
 * pg_control very last. Unlike WAL-G this also recognises `pg_control.tar.` (compression `none`).
 */
export function classifyTars(tarNames: readonly string[]): { data: string[]; backupLabel: string[]; pgControl: string[] } {
  const data: string[] = [];
  const backupLabel: string[] = [];
  const pgControl: string[] = [];
  for (const name of tarNames) {
    if (PG_CONTROL_TAR.test(name)) pgControl.push(name);
    else if (BACKUP_LABEL_TAR.test(name)) backupLabel.push(name);
    else data.push(name);
  }
  return { data, backupLabel, pgControl };
}

// ---------------------------------------------------------------------------------------------------------
// --restore-only (partial restore)

/** Below this OID a database or table is a system one and always restored. */
const FIRST_NORMAL_OBJECT_ID = 16384;

/** Database OID → relfilenodes to restore (WAL-G's RestoreDesc). */
export type RestoreDescription = Map<number, Set<number>>;

function unpackRestoreKey(key: string): { database: string; table: string } {
  const tokens = key.split('/');
  const formatTable = (table: string): string | undefined => {
    const parts = table.split('.');
    if (parts.length === 1) return `public.${parts[0]}`;
    if (parts.length === 2) return table;
    return undefined;
  };
  const incorrect = (): WalgError =>
    new WalgError(`Unexpected format of database or table to restore: '${key}'. Use 'dat', 'dat/rel' or 'dat/nmsp.rel'`);
  switch (tokens.length) {
    case 1:
      return { database: tokens[0], table: '' };
    case 2: {
      const table = formatTable(tokens[1]);
      if (table === undefined) throw incorrect();
      return { database: tokens[0], table };
    }
    case 3: {
      const table = formatTable(`${tokens[1]}.${tokens[2]}`);
      if (table === undefined) throw incorrect();
      return { database: tokens[0], table };
    }
    default:
      throw incorrect();
  }
}

function wildcardRegExp(text: string): RegExp {
  return new RegExp(`^${text.replaceAll('*', '.*')}$`);
}

/**
 * What to keep for `--restore-only a,b/c` (WAL-G's RegexpRestoreDescMaker): the system tables of every database, plus
 * the named databases (all tables) or tables with their sub-tables; `*` is a wildcard. Logs like WAL-G.
 */
export function restoreDescription(parameters: readonly string[], databases: ReadonlyMap<string, DatabaseObjects>): RestoreDescription {
  const description: RestoreDescription = new Map();
  for (const info of databases.values()) {
    const tables = new Set<number>();
    for (const table of info.tables.values()) {
      if (table.oid < FIRST_NORMAL_OBJECT_ID) {
        log.debug(`chose table ${table.oid} to restore as system one`);
        tables.add(table.relfilenode);
      }
    }
    description.set(info.oid, tables);
  }
  for (const parameter of parameters) {
    const { database, table } = unpackRestoreKey(parameter);
    // WAL-G's log line really spells "unpaсked" with a Cyrillic "с".
    log.info(`unpaсked keys  ${database} ${table}`);
    const databasePattern = wildcardRegExp(database);
    const tablePattern = wildcardRegExp(table);
    for (const [name, info] of databases) {
      if (!databasePattern.test(name)) continue;
      const tables = description.get(info.oid) ?? new Set<number>();
      description.set(info.oid, tables);
      if (table === '') log.info(`restore all for  ${name}`);
      for (const [tableName, tableInfo] of info.tables) {
        if (table !== '' && !tablePattern.test(tableName)) continue;
        log.info(`table to restore through key  ${tableInfo.relfilenode} ${table}`);
        tables.add(tableInfo.relfilenode);
        for (const sub of tableInfo.subTables.values()) {
          log.info(`subtanble for the table table to restore through key  ${sub.relfilenode} ${table}`);
          tables.add(sub.relfilenode);
        }
      }
    }
  }
  return description;
}

function leadingInteger(text: string): number {
  const base = text.split('.')[0].split('_')[0];
  return /^\d+$/.test(base) && Number(base) <= 0xffffffff ? Number(base) : 0;
}

/** (database OID, relfilenode) of a relation file path, when it lies under /base/ or /pg_tblspc/. */
export function relationOfPath(file: string): { database: number; relation: number } | undefined {
  if (!file.startsWith('/base/') && !file.startsWith('/pg_tblspc/')) return undefined;
  const slash = file.lastIndexOf('/');
  const parent = file.slice(0, slash);
  const relation = leadingInteger(file.slice(slash + 1));
  const database = leadingInteger(parent.slice(parent.lastIndexOf('/') + 1));
  return { database, relation };
}

/** Removes from the selection the relation files of tables --restore-only leaves out (WAL-G's FilterFilesToUnwrap). */
export function applyRestoreDescription(selection: FileSelection, description: RestoreDescription): void {
  if (selection === undefined) return;
  const dropped: string[] = [];
  for (const file of selection) {
    const relation = relationOfPath(file);
    if (relation === undefined || relation.relation === 0 || relation.database < FIRST_NORMAL_OBJECT_ID) continue;
    const tables = description.get(relation.database);
    if (tables !== undefined && tables.has(relation.relation)) continue;
    log.info(`will skip  ${file}`);
    dropped.push(file);
  }
  for (const file of dropped) {
    log.info(`deleting ${file}`);
    selection.delete(file);
  }
}
