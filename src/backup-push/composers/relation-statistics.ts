// How often each relation file is written to (WAL-G's RelFileStatistics): pg_stat_all_tables' inserted + updated +
// deleted tuples per relation of every connectable database, looked up by a data file's path.

import { errorMessage } from '../../errors.ts';
import { log } from '../../log/logger.ts';
import { PostgresSession } from '../postgres-session.ts';
import { relationFileOf, relationKey } from '../wal-delta-map.ts';

/** Relation key (tablespace/database/filenode) → updates counted by the statistics collector. */
export class RelationStatistics {
  readonly #updates: ReadonlyMap<string, number>;

  constructor(updates: ReadonlyMap<string, number>) {
    this.#updates = updates;
  }

  /**
   * getFileUpdateCount: the updates of the relation a path (a tar member name or a walked path) belongs to; 0 for
   * anything that is not a relation file, or a relation the collector has no counters for.
   */
  updatesOf(path: string): number {
    const relation = relationFileOf(path);
    if (relation === undefined) return 0;
    return this.#updates.get(relation.key) ?? 0;
  }
}

/**
 * newRelFileStatistics: connects to each database in turn; a relation's tablespace 0 means the database's default
 * tablespace. A database that refuses the connection is left out with WAL-G's warning.
 */
export async function loadRelationStatistics(session: PostgresSession, env: NodeJS.ProcessEnv): Promise<RelationStatistics> {
  const updates = new Map<string, number>();
  for (const database of await session.databases()) {
    let databaseSession: PostgresSession;
    try {
      databaseSession = await PostgresSession.open(env, database.name);
    } catch (error) {
      log.warn(`Failed to connect to database: ${database.name}\n'${errorMessage(error)}'`);
      continue;
    }
    try {
      for (const row of await databaseSession.relationStatistics()) {
        const tablespace = row.tablespaceOid === 0 ? database.tablespaceOid : row.tablespaceOid;
        updates.set(relationKey(tablespace, database.oid, row.relfilenode), row.updates);
      }
    } finally {
      await databaseSession.close();
    }
  }
  return new RelationStatistics(updates);
}
