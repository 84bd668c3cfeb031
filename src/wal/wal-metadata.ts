// WAL metadata JSON (WALG_UPLOAD_WAL_METADATA): the `{"<wal>":{"created_time":…,"date_fmt":…}}` document, and
// its INDIVIDUAL (one object per WAL) and BULK (merged per 16 segments, staged locally) uploads.

import { nodeFsPromises } from '../native/lazy-builtins.ts';
import { basename, join } from 'node:path';
import { Readable } from 'node:stream';
import { WalgError, errorMessage } from '../errors.ts';
import { log } from '../log/logger.ts';
import type { Folder } from '../storage/driver.ts';
import { pathErrorText } from '../storage/go-text.ts';
import { markerFolderOf, walFolderOf } from './archive-status.ts';

export const WAL_METADATA_LEVELS = ['BULK', 'INDIVIDUAL', 'NOMETADATA'] as const;
export type WalMetadataLevel = (typeof WAL_METADATA_LEVELS)[number];

/** The strftime pattern WAL-G records next to every timestamp. */
export const METADATA_DATETIME_FORMAT = '%Y-%m-%dT%H:%M:%S.%fZ';

/** Checks a WALG_UPLOAD_WAL_METADATA value; WAL-G's error text (with its double space) otherwise. */
export function parseWalMetadataLevel(value: string): WalMetadataLevel {
  if ((WAL_METADATA_LEVELS as readonly string[]).includes(value)) return value as WalMetadataLevel;
  throw new WalgError(`got incorrect Wal metadata  level: '${value}', expected one of: '[${WAL_METADATA_LEVELS.join(' ')}]'`);
}

/** Go's time.RFC3339Nano for a UTC instant given in nanoseconds since the epoch: no trailing fraction zeros. */
export function formatRfc3339NanoUtc(epochNanoseconds: bigint): string {
  const seconds = epochNanoseconds / 1_000_000_000n;
  let nanos = epochNanoseconds % 1_000_000_000n;
  let wholeSeconds = seconds;
  if (nanos < 0n) {
    nanos += 1_000_000_000n;
    wholeSeconds -= 1n;
  }
  const base = new Date(Number(wholeSeconds) * 1000).toISOString().slice(0, 19);
  const fraction = nanos === 0n ? '' : `.${nanos.toString().padStart(9, '0').replace(/0+$/, '')}`;
  return `${base}${fraction}Z`;
}

export interface WalMetadataEntry {
  readonly created_time: string;
  readonly date_fmt: string;
}

/** The document for one WAL file, as Go's json.Marshal writes it. */
export function walMetadataDocument(walName: string, createdTimeNanoseconds: bigint): string {
  const entry: WalMetadataEntry = { created_time: formatRfc3339NanoUtc(createdTimeNanoseconds), date_fmt: METADATA_DATETIME_FORMAT };
  return JSON.stringify({ [walName]: entry });
}

/** Go's json.Marshal of a map: keys in sorted order. */
export function mergedWalMetadataDocument(entries: ReadonlyMap<string, unknown>): string {
  const sorted: Record<string, unknown> = {};
  for (const key of [...entries.keys()].sort()) sorted[key] = entries.get(key);
  return JSON.stringify(sorted);
}

/**
 * BULK merges when the pushed name ends in `F` (the 16th segment of a group) and names the merged object after the
 * other 23 characters; undefined when this push does not close a group.
 */
export function bulkGroupPrefix(walName: string): string | undefined {
  return walName.endsWith('F') ? walName.slice(0, -1) : undefined;
}

/** WAL-G stages BULK documents under `pg_wal/walg_data/walg_archive_status`, relative to the current directory. */
export function bulkStagingFolder(env: NodeJS.ProcessEnv = process.env): string {
  return markerFolderOf(walFolderOf('', env));
}

function putJson(folder: Folder, key: string, json: string): Promise<void> {
  return folder.put(key, Readable.from([Buffer.from(json)]), { sizeHint: Buffer.byteLength(json) });
}

/**
 * Uploads the metadata for a local WAL file after it was pushed: nothing for NOMETADATA, `<wal>.json` for
 * INDIVIDUAL, a staged document (and the merged group object on an `F` segment) for BULK. `walFolder` is `wal_005/`.
 */
export async function uploadLocalWalMetadata(walFolder: Folder, walFilePath: string, levelSetting: string): Promise<void> {
  if (levelSetting === 'NOMETADATA') return;
  const level = parseWalMetadataLevel(levelSetting);
  let modifiedNanoseconds: bigint;
  try {
    modifiedNanoseconds = (await nodeFsPromises().stat(walFilePath, { bigint: true })).mtimeNs;
  } catch (error) {
    throw new WalgError(`upload: could not stat wal file'${walFilePath}'\n: ${pathErrorText('stat', walFilePath, error)}`);
  }
  await uploadWalMetadata(walFolder, basename(walFilePath), modifiedNanoseconds, level);
}

/** Uploads (or stages) the metadata of one WAL name with the given creation time. */
export async function uploadWalMetadata(walFolder: Folder, walName: string, createdTimeNanoseconds: bigint, level: WalMetadataLevel): Promise<void> {
  if (level === 'NOMETADATA') return;
  const document = walMetadataDocument(walName, createdTimeNanoseconds);
  const objectName = `${walName}.json`;
  try {
    if (level === 'INDIVIDUAL') {
      await putJson(walFolder, objectName, document);
      return;
    }
    const staging = bulkStagingFolder();
    const stagedPath = join(staging, objectName);
    try {
      await nodeFsPromises().mkdir(staging, { recursive: true, mode: 0o755 });
      await nodeFsPromises().writeFile(stagedPath, document, { mode: 0o644 });
    } catch (error) {
      throw new Error(`unable to open file "${stagedPath}": ${pathErrorText('open', stagedPath, error)}`);
    }
    await uploadBulkGroup(walFolder, walName, staging);
  } catch (error) {
    throw new WalgError(`upload: could not Upload metadata'${walName}'\n: ${errorMessage(error)}`, 1, { cause: error });
  }
}

/** On an `F` segment: merges every staged `<prefix>*.json`, uploads `<prefix>.json`, removes the staged files. */
async function uploadBulkGroup(walFolder: Folder, walName: string, staging: string): Promise<void> {
  const prefix = bulkGroupPrefix(walName);
  if (prefix === undefined) return;
  const stagedFiles = (await nodeFsPromises().readdir(staging))
    .filter((name) => name.startsWith(prefix) && name.endsWith('.json'))
    .sort()
    .map((name) => join(staging, name));
  const merged = new Map<string, unknown>();
  for (const file of stagedFiles) {
    // A damaged staged document must not block archiving: WAL-G logs it and goes on.
    let text: string;
    try {
      text = await nodeFsPromises().readFile(file, 'utf8');
    } catch {
      log.error(`Unable to read walmetadata file ${file}`);
      continue;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      log.error(`Unable to unmarshal walmetadata file ${file} into json`);
      continue;
    }
    for (const [key, value] of Object.entries(parsed)) merged.set(key, value);
  }
  await putJson(walFolder, `${prefix}.json`, mergedWalMetadataDocument(merged));
  for (const file of stagedFiles) {
    try {
      await nodeFsPromises().unlink(file);
    } catch {
      log.info(`Unable to remove walmetadata file ${file}`);
    }
  }
}
