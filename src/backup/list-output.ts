// backup-list's three output shapes, as WAL-G's printlist prints them: a Go tabwriter table (default), a go-pretty v4
// ASCII table (--pretty), and a JSON array from Go's json.Encoder (--json, indented by 4 with --pretty).

import { formatListTime, formatPrettyListTime, formatRfc3339Nano } from './go-time.ts';
import { goJsonString, indentJson } from './json.ts';
import { metadataMembers, type BackupMetadata } from './metadata.ts';
import type { BackupTime } from './catalog.ts';
import { formatLsn } from '../wal/names.ts';

/** One column of one row (WAL-G's printlist.TableField). */
export interface TableField {
  readonly name: string;
  readonly prettyName: string;
  readonly value: string;
  /** Shown instead of value in the --pretty table. */
  readonly prettyValue?: string;
}

/** A listed backup, optionally with its metadata (WAL-G's BackupTime / BackupDetail). */
export interface BackupListEntry {
  readonly backup: BackupTime;
  readonly metadata?: BackupMetadata;
}

export function backupListFields(entry: BackupListEntry): TableField[] {
  const { backup, metadata } = entry;
  const fields: TableField[] = [
    { name: 'backup_name', prettyName: 'Backup name', value: backup.backupName },
    { name: 'modified', prettyName: 'Modified', value: formatListTime(backup.modified), prettyValue: formatPrettyListTime(backup.modified) },
    { name: 'wal_file_name', prettyName: 'WAL file name', value: backup.walFileName },
    { name: 'storage_name', prettyName: 'Storage name', value: backup.storageName },
  ];
  if (metadata === undefined) return fields;
  fields.push(
    { name: 'start_time', prettyName: 'Start time', value: formatListTime(metadata.startTime), prettyValue: formatPrettyListTime(metadata.startTime) },
    { name: 'finish_time', prettyName: 'Finish time', value: formatListTime(metadata.finishTime), prettyValue: formatPrettyListTime(metadata.finishTime) },
    { name: 'hostname', prettyName: 'Hostname', value: metadata.hostname },
    { name: 'data_dir', prettyName: 'Datadir', value: metadata.dataDir },
    { name: 'pg_version', prettyName: 'PG version', value: String(metadata.pgVersion) },
    { name: 'start_lsn', prettyName: 'Start LSN', value: formatLsn(metadata.startLsn) },
    { name: 'finish_lsn', prettyName: 'Finish LSN', value: formatLsn(metadata.finishLsn) },
    { name: 'is_permanent', prettyName: 'Permanent', value: String(metadata.isPermanent) },
  );
  return fields;
}

/** The JSON object of one entry: BackupTime's fields, then (with --detail) metadata.json's. */
export function backupListJsonObject(entry: BackupListEntry): string {
  const members = [
    `"backup_name":${goJsonString(entry.backup.backupName)}`,
    `"time":${goJsonString(formatRfc3339Nano(entry.backup.modified))}`,
    `"wal_file_name":${goJsonString(entry.backup.walFileName)}`,
    `"storage_name":${goJsonString(entry.backup.storageName)}`,
  ];
  if (entry.metadata !== undefined) members.push(...metadataMembers(entry.metadata));
  return `{${members.join(',')}}`;
}

/** The whole output for a list of rows; '' when a table has no rows. */
export function renderList(rows: ReadonlyArray<readonly TableField[]>, jsonObjects: readonly string[], options: { pretty: boolean; json: boolean }): string {
  if (options.json) {
    const compact = `[${jsonObjects.join(',')}]`;
    return `${options.pretty ? indentJson(compact, '    ') : compact}\n`;
  }
  if (rows.length === 0) return '';
  return options.pretty ? renderPrettyTable(rows) : renderTabbedTable(rows);
}

function width(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

/**
 * Go's text/tabwriter with minwidth 0, padding 1, pad char ' ': every cell but the last of a line is padded to its
 * column's widest cell plus one space; the last cell is printed as is.
 */
export function renderTabbedTable(rows: ReadonlyArray<readonly TableField[]>): string {
  const lines: string[][] = [rows[0].map((field) => field.name), ...rows.map((row) => row.map((field) => field.value))];
  const columnWidths: number[] = [];
  for (const line of lines) {
    for (let column = 0; column < line.length - 1; column++) {
      columnWidths[column] = Math.max(columnWidths[column] ?? 0, width(line[column]) + 1);
    }
  }
  let output = '';
  for (const line of lines) {
    for (let column = 0; column < line.length; column++) {
      const cell = line[column];
      output += column < line.length - 1 ? cell + ' '.repeat(columnWidths[column] - width(cell)) : cell;
    }
    output += '\n';
  }
  return output;
}

/**
 * go-pretty v4.3.0's default style: `+---+` borders, a header row upper-cased and separated, a leading `#` column
 * of 0-based row numbers right-aligned (they are Go ints), text left-aligned, one space of padding.
 */
export function renderPrettyTable(rows: ReadonlyArray<readonly TableField[]>): string {
  const header = ['#', ...rows[0].map((field) => field.prettyName)];
  const body = rows.map((row, index) => [String(index), ...row.map((field) => field.prettyValue ?? field.value)]);
  const widths = header.map((cell, column) => Math.max(width(cell), ...body.map((line) => width(line[column]))));
  const separator = `+${widths.map((columnWidth) => '-'.repeat(columnWidth + 2)).join('+')}+`;
  const renderLine = (cells: readonly string[], isHeader: boolean): string => {
    const rendered = cells.map((cell, column) => {
      const text = isHeader ? cell.toUpperCase() : cell;
      if (column === 0) return ` ${text.replace(/^ +/, '').padStart(widths[column])} `;
      const trimmed = text.replace(/ +$/, '');
      return ` ${trimmed}${' '.repeat(Math.max(0, widths[column] - width(trimmed)))} `;
    });
    return `|${rendered.join('|')}|`;
  };
  const lines = [separator, renderLine(header, true), separator, ...body.map((line) => renderLine(line, false)), separator];
  return `${lines.join('\n')}\n`;
}
