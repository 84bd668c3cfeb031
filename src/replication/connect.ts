// Opens PostgreSQL connections the way WAL-G's Connect does: settings from the libpq environment variables, and on
// failure one retry on localhost:5432 with WAL-G's log lines. Also opens physical replication connections.

import { existsSync, readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import pg from 'pg';
import { log } from '../log/logger.ts';
import { errorMessage, WalgError } from '../errors.ts';

export interface ConnectOptions {
  /** The environment holding PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE, ... */
  readonly env: NodeJS.ProcessEnv;
  /** true: a physical replication connection (`replication=true` startup parameter). */
  readonly replication?: boolean;
}

/** Where pgx looks for a unix socket when PGHOST is unset. */
const DEFAULT_SOCKET_DIRECTORIES = ['/var/run/postgresql', '/private/tmp', '/tmp'];

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/** The pg client configuration libpq/pgx would derive from the environment. */
export function connectionConfig(options: ConnectOptions): pg.ClientConfig {
  const env = options.env;
  const port = Number(nonEmpty(env.PGPORT) ?? 5432);
  let host = nonEmpty(env.PGHOST);
  if (host === undefined) {
    host = DEFAULT_SOCKET_DIRECTORIES.find((directory) => existsSync(`${directory}/.s.PGSQL.${port}`)) ?? 'localhost';
  }
  const user = nonEmpty(env.PGUSER) ?? safeUserName();
  const config: pg.ClientConfig = {
    host,
    port,
    user,
    database: nonEmpty(env.PGDATABASE) ?? user,
    password: nonEmpty(env.PGPASSWORD) ?? passwordFromPassFile(env, host, port, user),
    application_name: nonEmpty(env.PGAPPNAME) ?? 'wal-g',
    connectionTimeoutMillis: env.PGCONNECT_TIMEOUT ? Number(env.PGCONNECT_TIMEOUT) * 1000 : undefined,
    // Values arrive as text: LSNs and identifiers stay exact.
    types: { getTypeParser: () => (value: string) => value } as never,
  };
  const sslMode = nonEmpty(env.PGSSLMODE) ?? 'prefer';
  if (sslMode === 'require' || sslMode === 'verify-ca' || sslMode === 'verify-full') {
    config.ssl = {
      rejectUnauthorized: sslMode !== 'require',
      ca: env.PGSSLROOTCERT ? readFileSync(env.PGSSLROOTCERT) : undefined,
      cert: env.PGSSLCERT ? readFileSync(env.PGSSLCERT) : undefined,
      key: env.PGSSLKEY ? readFileSync(env.PGSSLKEY) : undefined,
      checkServerIdentity: sslMode === 'verify-full' ? undefined : () => undefined,
    };
  }
  if (options.replication) (config as { replication?: string }).replication = 'true';
  return config;
}

function safeUserName(): string {
  try {
    return userInfo().username;
  } catch {
    return 'postgres';
  }
}

/** ~/.pgpass (or PGPASSFILE) lookup: `host:port:database:user:password`, `*` matching anything. */
function passwordFromPassFile(env: NodeJS.ProcessEnv, host: string, port: number, user: string): string | undefined {
  const path = nonEmpty(env.PGPASSFILE) ?? (env.HOME ? `${env.HOME}/.pgpass` : undefined);
  if (!path || !existsSync(path)) return undefined;
  let content: string;
  try {
    content = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  const database = nonEmpty(env.PGDATABASE) ?? user;
  const hostName = host.startsWith('/') ? 'localhost' : host;
  for (const line of content.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const fields = line.split(/(?<!\\):/).map((field) => field.replaceAll('\\:', ':').replaceAll('\\\\', '\\'));
    if (fields.length < 5) continue;
    const wanted = [hostName, String(port), database, user];
    if (wanted.every((value, index) => fields[index] === '*' || fields[index] === value)) return fields.slice(4).join(':');
  }
  return undefined;
}

async function tryConnect(config: pg.ClientConfig): Promise<pg.Client> {
  const client = new pg.Client(config);
  // An error after connecting (server shutdown) must not crash the process through an unhandled 'error' event.
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/**
 * Connects like WAL-G: with the environment's settings, then (unless the host already was localhost) once more on
 * localhost:5432, logging WAL-G's two error lines in between.
 */
export async function connectPostgres(options: ConnectOptions): Promise<pg.Client> {
  const config = connectionConfig(options);
  try {
    return await tryConnect(config);
  } catch (firstError) {
    if (config.host === 'localhost') {
      throw new WalgError(`Connect: postgres connection failed: ${errorMessage(firstError)}`);
    }
    log.error(errorMessage(firstError));
    log.error('Failed to connect using provided PGHOST and PGPORT, trying localhost:5432');
    try {
      return await tryConnect({ ...config, host: 'localhost', port: 5432 });
    } catch (secondError) {
      throw new WalgError(`Connect: postgres connection failed: ${errorMessage(secondError)}`);
    }
  }
}

/** Runs a query on a normal connection and returns the first row's columns as text (undefined: no row). */
export async function queryFirstRow(client: pg.Client, text: string, values?: unknown[]): Promise<(string | null)[] | undefined> {
  const result = await client.query({ text, values, rowMode: 'array' });
  return (result.rows[0] as (string | null)[] | undefined) ?? undefined;
}

/** server_version_num of the connected server. */
export async function serverVersionNumber(client: pg.Client): Promise<number> {
  const row = await queryFirstRow(client, 'SHOW server_version_num');
  return Number(row?.[0] ?? 0);
}
