// Timeline history files (`0000000N.history`): parsing them as WAL-G does and reading them from storage or pg_wal.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Folder } from '../storage/driver.ts';
import { findByBaseName, openDecoded, objectError } from '../objects/transfer.ts';
import type { Crypter } from '../crypto/crypter.ts';
import { errorMessage, WalgError } from '../errors.ts';

/** One line of a history file: the timeline `parentTimeline` ended (switched away) at `switchLsn`. */
export interface TimelineHistoryRecord {
  readonly parentTimeline: number;
  readonly switchLsn: bigint;
  readonly comment: string;
}

const RECORD_LINE = /^(\d+)\t(.+)\t(.+)$/;

/** `%08X.history` */
export function historyFileName(timeline: number): string {
  return `${timeline.toString(16).toUpperCase().padStart(8, '0')}.history`;
}

/** pglogrepl's ParseLSN: `%X/%X` via Sscanf, so surrounding text after the second number is tolerated. */
export function parseLsnLenient(text: string): bigint {
  const match = /^\s*([0-9A-Fa-f]+)\/([0-9A-Fa-f]+)/.exec(text);
  if (!match) throw new Error(`failed to parse LSN: ${text}`);
  const high = BigInt(`0x${match[1]}`);
  const low = BigInt(`0x${match[2]}`);
  if (high > 0xffffffffn || low > 0xffffffffn) throw new Error(`failed to parse LSN: ${text}`);
  return (high << 32n) | low;
}

/**
 * Parses a history file as WAL-G's parseHistoryFile: lines matching `^(\d+)\t(.+)\t(.+)$` are records, every other
 * line (comments, blank lines) is skipped; a record whose timeline or LSN does not parse is an error.
 */
export function parseHistoryFile(content: string): TimelineHistoryRecord[] {
  const records: TimelineHistoryRecord[] = [];
  for (let line of content.split('\n')) {
    if (line.endsWith('\r')) line = line.slice(0, -1); // bufio.ScanLines drops a trailing \r
    if (line === '') continue;
    const match = RECORD_LINE.exec(line);
    if (!match) continue;
    const timeline = Number(match[1]);
    if (!Number.isSafeInteger(timeline) || timeline > 0xffffffff) {
      throw new Error(`strconv.ParseUint: parsing "${match[1]}": value out of range`);
    }
    records.push({ parentTimeline: timeline, switchLsn: parseLsnLenient(match[2]), comment: match[3] });
  }
  return records;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * Reads `wal_005/<TLI>.history` (any compression extension), decoded. Undefined when it does not exist; a download
 * or decode failure is an error naming the file.
 */
export async function fetchHistoryFromStorage(walFolder: Folder, timeline: number, crypter: Crypter | undefined): Promise<string | undefined> {
  const name = historyFileName(timeline);
  const found = await findByBaseName(walFolder, name);
  if (!found) return undefined;
  try {
    const stream = await openDecoded(walFolder, found.key, { format: found.format, crypter });
    return (await readAll(stream)).toString('utf8');
  } catch (error) {
    throw new WalgError(`Error during .history file '${name}' downloading.: ${objectError(found.key, error).message}`);
  }
}

/** The history records of `timeline` from storage; an empty list when the file is absent. */
export async function historyRecordsFromStorage(walFolder: Folder, timeline: number, crypter: Crypter | undefined): Promise<TimelineHistoryRecord[] | undefined> {
  const content = await fetchHistoryFromStorage(walFolder, timeline, crypter);
  return content === undefined ? undefined : parseHistoryFile(content);
}

/** The history records of `timeline` from a local pg_wal directory (timeline 1 has none). */
export async function historyRecordsFromDirectory(walDirectory: string, timeline: number): Promise<TimelineHistoryRecord[]> {
  if (timeline === 1) return [];
  const path = join(walDirectory, historyFileName(timeline));
  let content: string;
  try {
    content = await readFile(path, 'utf8');
  } catch (error) {
    throw new WalgError(`open ${path}: ${errorMessage(error)}`);
  }
  return parseHistoryFile(content);
}

/**
 * The timeline an LSN belongs to, given the history of `currentTimeline` (pglogrepl-style rows sorted by timeline):
 * the first timeline whose switch point lies after the LSN, else the current one.
 */
export function timelineOfLsn(records: readonly TimelineHistoryRecord[], currentTimeline: number, lsn: bigint): number {
  const sorted = [...records].sort((a, b) => a.parentTimeline - b.parentTimeline);
  for (const record of sorted) {
    if (lsn < record.switchLsn) return record.parentTimeline;
  }
  return currentTimeline;
}
