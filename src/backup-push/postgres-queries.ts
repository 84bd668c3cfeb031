// The SQL backup-push sends, per PostgreSQL version, as WAL-G's query runner builds it, and the start-backup label.

import { WalgError } from '../errors.ts';
import { formatGoDuration } from '../config/go-values.ts';

export const VERSION_QUERY = "select (current_setting('server_version_num'))::int";
export const SYSTEM_IDENTIFIER_QUERY = 'select system_identifier from pg_control_system();';
export const DATA_DIRECTORY_QUERY = 'show data_directory';
export const TIMELINE_QUERY = 'select timeline_id, bytes_per_wal_segment from pg_control_checkpoint(), pg_control_init()';
/** 9.0–9.5 have no pg_control_checkpoint(): the timeline is read from the insert position's WAL name. */
export const LEGACY_TIMELINE_QUERY = 'SELECT SUBSTR(pg_xlogfile_name(pg_current_xlog_insert_location()), 1, 8) AS timeline';
export const IN_RECOVERY_QUERY = 'SELECT pg_is_in_recovery()';
export const ARCHIVE_MODE_QUERY = 'SHOW archive_mode';
export const ARCHIVE_COMMAND_QUERY = 'SHOW archive_command';
export const DATA_CHECKSUMS_QUERY = 'SHOW data_checksums';
export const DATABASES_QUERY = 'SELECT Oid, datname, dattablespace FROM pg_database WHERE datallowconn';
export const TABLES_QUERY =
  'SELECT c.relfilenode, c.oid, pg_relation_filepath(c.oid), c.relname, pg_namespace.nspname, ' +
  'c.relkind, parent.relname AS parent_name ' +
  'FROM pg_class c JOIN pg_namespace ON c.relnamespace = pg_namespace.oid ' +
  'LEFT JOIN pg_inherits i ON c.oid = i.inhrelid LEFT JOIN pg_class parent ON i.inhparent = parent.oid;';

/** BuildStatisticsQuery: tuples inserted, updated and deleted per relation file, for the rating composer. */
export const STATISTICS_QUERY =
  'SELECT info.relfilenode, info.reltablespace, s.n_tup_ins, s.n_tup_upd, s.n_tup_del FROM pg_class info ' +
  'LEFT OUTER JOIN pg_stat_all_tables s ON info.Oid = s.relid WHERE relfilenode != 0 AND n_tup_ins IS NOT NULL';

function unsupported(version: number): WalgError {
  if (version === 0) return new WalgError('Postgres version not set, cannot determine backup query');
  return new WalgError(`Could not determine backup query for version ${version}`);
}

/**
 * Starts a non-exclusive backup with a fast checkpoint ($1 is the label) and returns the start WAL file name (''
 * on a standby), the start LSN as text and whether the server is in recovery.
 */
export function startBackupQuery(version: number): string {
  const select = (walFunction: string): string =>
    `SELECT case when pg_is_in_recovery() then '' else (${walFunction}(lsn)).file_name end, lsn::text, pg_is_in_recovery()`;
  if (version >= 150000) return `${select('pg_walfile_name_offset')} FROM pg_backup_start($1, true) lsn`;
  if (version >= 100000) return `${select('pg_walfile_name_offset')} FROM pg_start_backup($1, true, false) lsn`;
  if (version >= 90600) return `${select('pg_xlogfile_name_offset')} FROM pg_start_backup($1, true, false) lsn`;
  if (version >= 90000) return `${select('pg_xlogfile_name_offset')} FROM pg_start_backup($1, true) lsn`;
  throw unsupported(version);
}

/** Stops the backup; for 9.6+ it returns the label file, the tablespace map and the stop LSN. */
export function stopBackupQuery(version: number): string {
  if (version >= 150000) return 'SELECT labelfile, spcmapfile, lsn FROM pg_backup_stop(false)';
  if (version >= 90600) return 'SELECT labelfile, spcmapfile, lsn FROM pg_stop_backup(false)';
  if (version >= 90000) {
    return (
      'SELECT (pg_xlogfile_name_offset(lsn)).file_name,' +
      " lpad((pg_xlogfile_name_offset(lsn)).file_offset::text, 8, '0') AS file_offset, lsn::text " +
      'FROM pg_stop_backup() lsn'
    );
  }
  throw unsupported(version);
}

/** Run (in a transaction) before the stop: WALG_STOP_BACKUP_TIMEOUT in milliseconds, 0 meaning no limit. */
export function statementTimeoutStatement(timeoutMs: number): string {
  return `SET statement_timeout=${Math.trunc(timeoutMs)};`;
}

/** backup_label and tablespace_map exist from 9.6 on (non-exclusive backups). */
export function hasTablespaceMap(version: number): boolean {
  return version >= 90600;
}

/**
 * The label WAL-G passes to the start function: Go's time.Now() rounded up to microseconds and printed with
 * Time.String(), monotonic reading included (`2025-03-04 10:11:12.123457 +0000 UTC m=+0.031234567`).
 */
export function backupLabel(epochNanoseconds: bigint, processUptimeSeconds: number, now = new Date(Number(epochNanoseconds / 1_000_000n))): string {
  let nanoseconds = epochNanoseconds;
  if (nanoseconds % 1000n !== 0n) nanoseconds += 1000n - (nanoseconds % 1000n);
  const offsetMinutes = -now.getTimezoneOffset();
  const local = new Date(Number(nanoseconds / 1_000_000n) + offsetMinutes * 60_000);
  const pad = (value: number, width = 2): string => String(value).padStart(width, '0');
  const fraction = String(nanoseconds % 1_000_000_000n).padStart(9, '0').replace(/0+$/, '');
  const sign = offsetMinutes < 0 ? '-' : '+';
  const absolute = Math.abs(offsetMinutes);
  const zone = zoneAbbreviation(now, offsetMinutes);
  return (
    `${local.getUTCFullYear()}-${pad(local.getUTCMonth() + 1)}-${pad(local.getUTCDate())} ` +
    `${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}:${pad(local.getUTCSeconds())}${fraction ? `.${fraction}` : ''} ` +
    `${sign}${pad(Math.floor(absolute / 60))}${pad(absolute % 60)} ${zone} m=+${processUptimeSeconds.toFixed(9)}`
  );
}

function zoneAbbreviation(now: Date, offsetMinutes: number): string {
  const tz = process.env.TZ;
  if (offsetMinutes === 0 && (tz === undefined || tz === '' || /^(UTC|Etc\/UTC|UTC0)$/.test(tz))) return 'UTC';
  try {
    const name = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(now).find((part) => part.type === 'timeZoneName')?.value;
    if (name !== undefined && !/^GMT[+-]/.test(name)) return name;
  } catch {
    // fall through to the numeric form Go prints for zones without an abbreviation
  }
  const sign = offsetMinutes < 0 ? '-' : '+';
  const absolute = Math.abs(offsetMinutes);
  const hours = String(Math.floor(absolute / 60)).padStart(2, '0');
  return absolute % 60 === 0 ? `${sign}${hours}` : `${sign}${hours}${String(absolute % 60).padStart(2, '0')}`;
}

/** Go's Duration.String for the alive-checker log line (`1m0s`). */
export function goDurationText(milliseconds: number): string {
  return formatGoDuration(milliseconds * 1e6);
}
