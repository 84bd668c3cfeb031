// The SQL connection backup-push keeps open for the whole backup: server facts, the non-exclusive start and stop
// (same session, as PostgreSQL requires), liveness pings, archive and checksum checks, and the per-database table
// lists for partial restore. Queries are serialized, like WAL-G's query runner with its mutex.

import type pg from 'pg';
import { connectPostgres } from '../replication/connect.ts';
import { errorMessage, WalgError } from '../errors.ts';
import { log } from '../log/logger.ts';
import { parseLsn } from '../wal/names.ts';
import {
  ARCHIVE_COMMAND_QUERY,
  ARCHIVE_MODE_QUERY,
  DATA_CHECKSUMS_QUERY,
  DATA_DIRECTORY_QUERY,
  DATABASES_QUERY,
  IN_RECOVERY_QUERY,
  LEGACY_TIMELINE_QUERY,
  startBackupQuery,
  statementTimeoutStatement,
  stopBackupQuery,
  STATISTICS_QUERY,
  SYSTEM_IDENTIFIER_QUERY,
  TABLES_QUERY,
  TIMELINE_QUERY,
  VERSION_QUERY,
} from './postgres-queries.ts';

export interface BackupStart {
  /** The WAL file holding startLsn-1 (`''` on a standby, where the caller computes it). */
  readonly walFileName: string;
  readonly lsn: bigint;
  readonly inRecovery: boolean;
}

export interface BackupStop {
  /** backup_label content (9.6+; '' for exclusive backups, whose label the server wrote into PGDATA). */
  readonly labelFile: string;
  readonly tablespaceMap: string;
  readonly lsn: bigint;
}

export interface DatabaseInfo {
  readonly oid: number;
  readonly name: string;
  readonly tablespaceOid: number;
}

export interface RelationRow {
  readonly relfilenode: number;
  readonly oid: number;
  readonly path: string | null;
  readonly name: string;
  readonly namespace: string;
  readonly kind: string;
  readonly parent: string | null;
}

/** One row of pg_stat_all_tables joined to pg_class: the updates the rating composer rates a file by. */
export interface RelationStatisticsRow {
  readonly relfilenode: number;
  readonly tablespaceOid: number;
  /** n_tup_ins + n_tup_upd + n_tup_del. */
  readonly updates: number;
}

type Row = (string | null)[];

/** One connection with WAL-G's query runner behaviour. */
export class PostgresSession {
  #client: pg.Client;
  readonly #env: NodeJS.ProcessEnv;
  readonly version: number;
  readonly systemIdentifier: bigint | undefined;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(client: pg.Client, env: NodeJS.ProcessEnv, version: number, systemIdentifier: bigint | undefined) {
    this.#client = client;
    this.#env = env;
    this.version = version;
    this.systemIdentifier = systemIdentifier;
  }

  /** Connects (libpq environment, WAL-G's localhost fallback) and reads the version and system identifier. */
  static async open(env: NodeJS.ProcessEnv, database?: string): Promise<PostgresSession> {
    const client = await connectPostgres({ env: database === undefined ? env : { ...env, PGDATABASE: database } });
    try {
      const version = Number((await firstRow(client, VERSION_QUERY, 'GetVersion: getting Postgres version failed'))[0]);
      let systemIdentifier: bigint | undefined;
      if (version < 90600) {
        log.warn('GetSystemIdentifier: Unable to get system identifier');
      } else {
        try {
          systemIdentifier = BigInt(String((await firstRow(client, SYSTEM_IDENTIFIER_QUERY, 'System Identifier: getting identifier of DB failed'))[0]));
        } catch (error) {
          log.warn(`Couldn't get system identifier because of error: '${errorMessage(error)}'`);
        }
      }
      return new PostgresSession(client, env, version, systemIdentifier);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
  }

  /** Runs queries one after another on the one connection (pings may come from a timer). */
  #serialized<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
    const result = this.#queue.then(() => work(this.#client));
    this.#queue = result.catch(() => undefined);
    return result;
  }

  #row(text: string, context: string, values?: unknown[]): Promise<Row> {
    return this.#serialized((client) => firstRow(client, text, context, values));
  }

  async dataDirectory(): Promise<string> {
    return String((await this.#row(DATA_DIRECTORY_QUERY, 'show data_directory failed'))[0]);
  }

  /** The server's current timeline; from 9.6 on it also checks the WAL segment size against WALG_PG_WAL_SIZE. */
  async timeline(segmentSize: number): Promise<number> {
    if (this.version >= 90600) {
      const row = await this.#row(TIMELINE_QUERY, 'reading the timeline failed');
      if (Number(row[1]) !== segmentSize) {
        throw new WalgError('bytes_per_wal_segment of the server does not match expected value, you may need to set WALG_PG_WAL_SIZE');
      }
      return Number(row[0]);
    }
    const row = await this.#row(LEGACY_TIMELINE_QUERY, 'reading the timeline failed');
    return parseInt(String(row[0]), 16);
  }

  async startBackup(label: string): Promise<BackupStart> {
    log.info('Calling pg_start_backup()');
    const row = await this.#row(startBackupQuery(this.version), 'QueryRunner StartBackup: pg_start_backup() failed', [label]);
    return { walFileName: String(row[0] ?? ''), lsn: parseLsn(String(row[1])), inRecovery: row[2] === 't' || row[2] === 'true' };
  }

  /**
   * Stops the backup in a transaction with statement_timeout = `timeoutMs` (0: none). A connection that died during
   * a long copy is replaced first, as WAL-G does (PostgreSQL then reports that no backup is running).
   */
  async stopBackup(timeoutMs: number): Promise<BackupStop> {
    log.info('Calling pg_stop_backup()');
    return this.#serialized(async () => {
      try {
        await this.#client.query(';');
      } catch (pingError) {
        try {
          await this.#client.end().catch(() => undefined);
          this.#client = await connectPostgres({ env: this.#env });
        } catch (connectError) {
          throw new WalgError(`QueryRunner StopBackup: connection is dead: ${errorMessage(pingError)} ${errorMessage(connectError)}`);
        }
      }
      const client = this.#client;
      try {
        await client.query('BEGIN');
      } catch (error) {
        throw new WalgError(`QueryRunner StopBackup: transaction begin failed: ${errorMessage(error)}`);
      }
      try {
        try {
          await client.query(statementTimeoutStatement(timeoutMs));
        } catch (error) {
          throw new WalgError(`QueryRunner StopBackup: failed setting statement timeout in transaction: ${errorMessage(error)}`);
        }
        const row = await firstRow(client, stopBackupQuery(this.version), 'QueryRunner StopBackup: stop backup failed');
        try {
          await client.query('COMMIT');
        } catch (error) {
          throw new WalgError(`QueryRunner StopBackup: commit failed: ${errorMessage(error)}`);
        }
        if (this.version >= 90600) return { labelFile: String(row[0] ?? ''), tablespaceMap: String(row[1] ?? ''), lsn: parseLsn(String(row[2])) };
        return { labelFile: '', tablespaceMap: '', lsn: parseLsn(String(row[2])) };
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
    });
  }

  /** pgx's Ping: an empty statement. */
  ping(): Promise<void> {
    return this.#serialized(async (client) => {
      await client.query(';');
    });
  }

  async isInRecovery(): Promise<boolean> {
    const value = (await this.#row(IN_RECOVERY_QUERY, 'IsStandby: failed to determine recovery mode'))[0];
    return value === 't' || value === 'true';
  }

  async archiveMode(): Promise<string> {
    return String((await this.#row(ARCHIVE_MODE_QUERY, 'GetArchiveMode: failed to retrieve archive_mode'))[0] ?? '');
  }

  async archiveCommand(): Promise<string> {
    return String((await this.#row(ARCHIVE_COMMAND_QUERY, 'GetArchiveCommand: failed to retrieve archive_command'))[0] ?? '');
  }

  async dataChecksums(): Promise<string> {
    return String((await this.#row(DATA_CHECKSUMS_QUERY, 'GetDataChecksums: failed to check data_checksums'))[0] ?? '');
  }

  async databases(): Promise<DatabaseInfo[]> {
    log.info('Querying pg_database');
    const rows = await this.#serialized((client) => allRows(client, DATABASES_QUERY, 'QueryRunner GetDatabases: pg_database query failed'));
    return rows.map((row) => ({ oid: Number(row[0]), name: String(row[1]), tablespaceOid: Number(row[2]) }));
  }

  async relations(): Promise<RelationRow[]> {
    const rows = await this.#serialized((client) => allRows(client, TABLES_QUERY, 'QueryRunner GetTables: Query failed'));
    return rows.map((row) => ({
      relfilenode: Number(row[0]),
      oid: Number(row[1]),
      path: row[2],
      name: String(row[3]),
      namespace: String(row[4]),
      kind: String(row[5] ?? ''),
      parent: row[6],
    }));
  }

  /** getStatistics: per relation file of this database, its tablespace (0: the database's) and tuple counters. */
  async relationStatistics(): Promise<RelationStatisticsRow[]> {
    log.info('Querying pg_stat_all_tables');
    const rows = await this.#serialized((client) => allRows(client, STATISTICS_QUERY, 'QueryRunner GetStatistics: pg_stat_all_tables query failed'));
    return rows.map((row) => ({
      relfilenode: Number(row[0]),
      tablespaceOid: Number(row[1]),
      updates: Number(row[2] ?? 0) + Number(row[3] ?? 0) + Number(row[4] ?? 0),
    }));
  }

  /** Every row of a query (text values), for callers with their own queries; `context` prefixes an error. */
  rows(text: string, context: string, values?: unknown[]): Promise<Row[]> {
    return this.#serialized((client) => allRows(client, text, context, values));
  }

  async close(): Promise<void> {
    await this.#queue;
    await this.#client.end().catch(() => undefined);
  }
}

async function firstRow(client: pg.Client, text: string, context: string, values?: unknown[]): Promise<Row> {
  const rows = await allRows(client, text, context, values);
  if (rows.length === 0) throw new WalgError(`${context}: no rows in result set`);
  return rows[0];
}

async function allRows(client: pg.Client, text: string, context: string, values?: unknown[]): Promise<Row[]> {
  try {
    const result = await client.query({ text, values, rowMode: 'array' });
    return result.rows as Row[];
  } catch (error) {
    throw new WalgError(`${context}: ${errorMessage(error)}`, 1, { cause: error });
  }
}
