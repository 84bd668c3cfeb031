// DatabasesByNames for files_metadata.json: every connectable database with its relations' oids and filenodes,
// partitions folded under their top-level table, as WAL-G collects them for `backup-fetch --restore-only`.

import { goJsonV2String } from '../backup/json.ts';
import { errorMessage } from '../errors.ts';
import { log } from '../log/logger.ts';
import type { FilesMetadataSpool } from './metadata-spool.ts';
import { PostgresSession, type RelationRow } from './postgres-session.ts';

interface Table {
  oid: number;
  relfilenode: number;
  subTables: Map<string, Table | undefined>;
}

/** The filenode WAL-G records: relfilenode, or for mapped catalogs (relfilenode 0) the last part of the file path. */
function storedFilenode(row: RelationRow): number | undefined {
  if (row.kind === 'p') return row.relfilenode;
  if (row.relfilenode !== 0) return row.relfilenode;
  if (row.path === null || row.path === '') return undefined;
  const last = row.path.slice(row.path.lastIndexOf('/') + 1);
  if (!/^\d+$/.test(last) || Number(last) > 0xffffffff) return undefined;
  return Number(last);
}

/**
 * WAL-G's getTables: `schema.table` → table for every table without a parent, each with all its descendants
 * (flattened) as subtables. Returns the encoded `tables_new` members.
 */
export function tablesOf(rows: readonly RelationRow[]): Map<string, { oid: number; relfilenode: number; subTables: Map<string, { oid: number; relfilenode: number }> }> {
  const tables = new Map<string, Table>();
  const topLevel: string[] = [];
  for (const row of rows) {
    const relfilenode = storedFilenode(row);
    if (relfilenode === undefined) continue;
    const child = `${row.namespace}.${row.name}`;
    const entry = tables.get(child);
    if (entry === undefined) tables.set(child, { oid: row.oid, relfilenode, subTables: new Map() });
    else {
      entry.oid = row.oid;
      entry.relfilenode = relfilenode;
    }
    if (row.parent === null || row.parent === '') {
      topLevel.push(child);
      continue;
    }
    const parent = `${row.namespace}.${row.parent}`;
    const parentEntry = tables.get(parent);
    if (parentEntry === undefined) tables.set(parent, { oid: row.oid, relfilenode, subTables: new Map([[child, undefined]]) });
    else parentEntry.subTables.set(child, undefined);
  }
  const formatted = new Map<string, { oid: number; relfilenode: number; subTables: Map<string, { oid: number; relfilenode: number }> }>();
  for (const name of topLevel) {
    const table = tables.get(name)!;
    const subTables = new Map<string, { oid: number; relfilenode: number }>();
    formatted.set(name, { oid: table.oid, relfilenode: table.relfilenode, subTables });
    const stack = [name];
    while (stack.length > 0) {
      const current = tables.get(stack.pop()!);
      for (const childName of current?.subTables.keys() ?? []) {
        const childTable = tables.get(childName);
        subTables.set(childName, { oid: childTable?.oid ?? 0, relfilenode: childTable?.relfilenode ?? 0 });
        stack.push(childName);
      }
    }
  }
  return formatted;
}

/** One DatabaseObjectsInfo as encoding/json/v2 writes it (`tables_new` and `subtables` left out when empty). */
export function encodeDatabaseObjects(oid: number, tables: ReturnType<typeof tablesOf>): string {
  if (tables.size === 0) return `{"oid":${oid}}`;
  const parts: string[] = [];
  for (const [name, table] of tables) {
    let text = `${goJsonV2String(name)}:{"oid":${table.oid},"relfilenode":${table.relfilenode}`;
    if (table.subTables.size > 0) {
      const children = [...table.subTables].map(([childName, child]) => `${goJsonV2String(childName)}:{"oid":${child.oid},"relfilenode":${child.relfilenode}}`);
      text += `,"subtables":{${children.join(',')}}`;
    }
    parts.push(`${text}}`);
  }
  return `{"oid":${oid},"tables_new":{${parts.join(',')}}}`;
}

/** Connects to each database in turn and spools its names; a database that refuses the connection is skipped. */
export async function collectDatabaseNames(session: PostgresSession, env: NodeJS.ProcessEnv, spool: FilesMetadataSpool): Promise<void> {
  const databases = await session.databases();
  for (const database of databases) {
    let databaseSession: PostgresSession;
    try {
      databaseSession = await PostgresSession.open(env, database.name);
    } catch (error) {
      log.warn(`Failed to connect to database: ${database.name}\n'${errorMessage(error)}'`);
      continue;
    }
    try {
      const rows = await databaseSession.relations();
      await spool.addDatabase(database.name, encodeDatabaseObjects(database.oid, tablesOf(rows)));
    } finally {
      await databaseSession.close();
    }
  }
}
