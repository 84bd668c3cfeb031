// Local archive-status bookkeeping: WAL-G's `walg_data/walg_archive_status/<wal>` markers for files the background
// uploader already sent, and PostgreSQL's own `archive_status/<wal>.ready|.done` files.

import { existsSync, statSync } from 'node:fs';
import { mkdir, rename, unlink, writeFile } from '../storage/local-fs.ts';
import { basename, join } from 'node:path';
import { log } from '../log/logger.ts';
import { pathErrorText, systemErrorReason } from '../storage/go-text.ts';

export const WALG_DATA_FOLDER = 'walg_data';
export const MARKER_FOLDER = 'walg_archive_status';
export const POSTGRES_ARCHIVE_STATUS_FOLDER = 'archive_status';
export const READY_SUFFIX = '.ready';
export const DONE_SUFFIX = '.done';

/** Go's os.TempDir on Unix: $TMPDIR, else /tmp (WAL-G's fallback base when no pg_wal is found). */
export function goTempDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.TMPDIR || '/tmp';
}

/**
 * WAL-G's getRelativeWalFolderPath: `<pgData>/pg_wal`, else `<pgData>/pg_xlog` (PostgreSQL 9), whichever exists;
 * else the temp directory. An empty pgData means paths relative to the current directory.
 */
export function walFolderOf(pgData: string, env: NodeJS.ProcessEnv = process.env): string {
  for (const walDirectory of ['pg_wal', 'pg_xlog']) {
    const candidate = join(pgData, walDirectory);
    if (existsSync(candidate)) return candidate;
  }
  return goTempDir(env);
}

/** The WAL folder WAL-G derives from the PGDATA setting (undefined = not set → the temp directory). */
export function walFolderFromSetting(pgData: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return pgData === undefined ? goTempDir(env) : walFolderOf(pgData, env);
}

/** Where the markers live: `<wal folder>/walg_data/walg_archive_status`. */
export function markerFolderOf(walFolder: string): string {
  return join(walFolder, WALG_DATA_FOLDER, MARKER_FOLDER);
}

/**
 * WAL-G's GetOnlyWalName: the base name without its last extension. So a segment keeps its name,
 * `00000002.history` becomes `00000002` and `X.partial` becomes `X` (WAL-G's markers share that quirk).
 */
export function markerNameOf(walPath: string): string {
  const name = basename(walPath);
  const dot = name.lastIndexOf('.');
  return dot < 0 ? name : name.slice(0, dot);
}

/** Which WAL files a background upload already stored (so PostgreSQL's own archive_command can skip them). */
export interface ArchiveStatusMarkers {
  isUploaded(walPath: string): boolean;
  mark(walPath: string): Promise<void>;
  unmark(walPath: string): Promise<void>;
}

/** Markers as empty files in a directory, WAL-G's DataFolderASM. */
export class DiskArchiveStatusMarkers implements ArchiveStatusMarkers {
  readonly directory: string;

  constructor(directory: string) {
    this.directory = directory;
  }

  isUploaded(walPath: string): boolean {
    // Like WAL-G, anything but "does not exist" (e.g. permission denied) counts as present.
    try {
      statSync(join(this.directory, markerNameOf(walPath)));
      return true;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code !== 'ENOENT';
    }
  }

  async mark(walPath: string): Promise<void> {
    const path = join(this.directory, markerNameOf(walPath));
    try {
      await writeFile(path, '', { mode: 0o666 });
    } catch (error) {
      throw new Error(pathErrorText('open', path, error));
    }
  }

  async unmark(walPath: string): Promise<void> {
    const path = join(this.directory, markerNameOf(walPath));
    try {
      await unlink(path);
    } catch (error) {
      throw new Error(pathErrorText('remove', path, error));
    }
  }
}

/** WAL-G's NopASM, used when the marker directory cannot be created: nothing is ever marked. */
export class NoArchiveStatusMarkers implements ArchiveStatusMarkers {
  isUploaded(): boolean {
    return false;
  }
  async mark(): Promise<void> {}
  async unmark(): Promise<void> {}
}

/**
 * Opens the marker directory under the WAL folder, creating it as WAL-G does on every wal-push; when that fails
 * the error is logged and markers are switched off (WAL-G's behaviour: the push itself still works).
 */
export async function openArchiveStatusMarkers(walFolder: string): Promise<ArchiveStatusMarkers> {
  const directory = markerFolderOf(walFolder);
  try {
    await mkdir(directory, { recursive: true, mode: 0o777 });
    return new DiskArchiveStatusMarkers(directory);
  } catch (error) {
    log.error(pathErrorText('mkdir', directory, error));
    return new NoArchiveStatusMarkers();
  }
}

/** PostgreSQL's `archive_status` directory: PG_READY_RENAME turns `<wal>.ready` into `<wal>.done` here. */
export class PostgresArchiveStatus {
  readonly directory: string;

  constructor(walFolder: string) {
    this.directory = join(walFolder, POSTGRES_ARCHIVE_STATUS_FOLDER);
  }

  async renameReadyToDone(walName: string): Promise<void> {
    const from = join(this.directory, walName + READY_SUFFIX);
    const to = join(this.directory, walName + DONE_SUFFIX);
    try {
      await rename(from, to);
    } catch (error) {
      // Go's os.LinkError text.
      throw new Error(`rename ${from} ${to}: ${systemErrorReason(error)}`);
    }
  }
}
