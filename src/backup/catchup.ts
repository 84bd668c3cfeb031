// catchup-fetch and catchup-list: the catchup backups in catchup_005/, and applying one onto a lagging replica's
// existing data directory (relation files the primary no longer has are removed).

import { lstat, readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { CATCHUP_EXCLUDED_NAMES, CATCHUP_FOLDER } from '../backup-push/catchup-push.ts';
import { EXCLUDED_NAMES } from '../backup-push/pgdata-walk.ts';
import type { Settings } from '../config/settings.ts';
import { errorMessage, WalgError } from '../errors.ts';
import { log } from '../log/logger.ts';
import { configuredCrypter } from '../objects/configured.ts';
import { installRateLimits } from '../storage/rate-limit.ts';
import { backupListOutput, type BackupListOptions } from './backup-list.ts';
import { backupByName } from './catalog.ts';
import { applyCatchupBackup } from './restore.ts';
import { openStorageSetFor } from './storage-set.ts';

/** The folders holding relation files; only there are files missing from the backup taken as dropped. */
const RELATION_FOLDERS = ['base', 'global', 'pg_tblspc'];

function isExcludedPath(relative: string): boolean {
  return relative.split('/').some((part) => EXCLUDED_NAMES.has(part) || CATCHUP_EXCLUDED_NAMES.has(part) || part === 'pg_control');
}

/**
 * Regular files below base/, global/ and pg_tblspc/ (tablespace links followed) that the backup's file list does not
 * hold: tables dropped or rewritten on the primary since the replica stopped. Paths are relative to `target`.
 */
export async function filesAbsentFromBackup(target: string, backupFiles: ReadonlySet<string> | ReadonlyMap<string, unknown>): Promise<string[]> {
  const absent: string[] = [];
  const visit = async (relative: string): Promise<void> => {
    let entries: string[];
    try {
      entries = await readdir(join(target, relative));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    for (const name of entries.sort()) {
      const child = `${relative}/${name}`;
      if (isExcludedPath(child)) continue;
      const info = await stat(join(target, child)).catch(() => undefined);
      if (info === undefined) continue;
      if (info.isDirectory()) await visit(child);
      else if (info.isFile() && !backupFiles.has(`/${child}`)) absent.push(child);
    }
  };
  for (const folder of RELATION_FOLDERS) {
    const info = await lstat(join(target, folder)).catch(() => undefined);
    if (info !== undefined) await visit(folder);
  }
  return absent;
}

export interface CatchupFetchRequest {
  readonly dataDirectory: string;
  readonly backupName: string;
  /** --use-new-unwrap: WAL-G's beta unwrapper; for whole-file catchup backups it writes the same files. */
  readonly useNewUnwrap: boolean;
  readonly settings: Settings;
}

/** Runs catchup-fetch with WAL-G's error wording ("Failed get backup by name: …", "Failed unwrap backup: …"). */
export async function runCatchupFetch(request: CatchupFetchRequest): Promise<void> {
  const { settings } = request;
  installRateLimits(settings, false);
  const storages = await openStorageSetFor(settings, '');
  try {
    let backup;
    try {
      backup = await backupByName(storages, request.backupName, CATCHUP_FOLDER);
    } catch (error) {
      throw new WalgError(`Failed get backup by name: ${errorMessage(error)}`, 1, { cause: error });
    }
    let backupFiles: ReadonlyMap<string, unknown>;
    try {
      backupFiles = (await backup.filesMetadata()).files;
      await backup.sentinel();
    } catch (error) {
      throw new WalgError(`Failed get backup sentinel: ${errorMessage(error)}`, 1, { cause: error });
    }
    if (request.useNewUnwrap) log.debug('catchup-fetch: --use-new-unwrap given; catchup backups are unwrapped the same way');
    const removeDropped = async (target: string): Promise<void> => {
      // Without a file list (WALG_WITHOUT_FILES_METADATA) nothing tells a dropped file from a kept one.
      if (backupFiles.size === 0) return;
      for (const relative of await filesAbsentFromBackup(target, backupFiles)) {
        log.info(`Deleting ${relative}: not in catchup backup ${backup.name}`);
        await unlink(join(target, relative));
      }
    };
    try {
      await applyCatchupBackup(
        backup,
        {
          destination: request.dataDirectory,
          mask: '',
          restoreSpecPath: '',
          reverseUnpack: false,
          skipRedundantTars: false,
          concurrency: settings.concurrency('WALG_DOWNLOAD_CONCURRENCY'),
          retries: settings.int('WALG_DOWNLOAD_FILE_RETRIES'),
          fsync: !settings.bool('WALG_TAR_DISABLE_FSYNC'),
          pageSize: settings.int('WALG_PG_BLOCK_SIZE') || 8192,
          crypter: configuredCrypter(settings),
        },
        removeDropped,
      );
    } catch (error) {
      throw new WalgError(`Failed unwrap backup: ${errorMessage(error)}`, 1, { cause: error });
    }
  } finally {
    await storages.close();
  }
}

/** catchup-list: backup-list's output over catchup_005/. */
export async function catchupListOutput(settings: Settings, options: Omit<BackupListOptions, 'backupsFolder'>): Promise<string> {
  const storages = await openStorageSetFor(settings, '');
  try {
    return await backupListOutput(storages, { ...options, backupsFolder: CATCHUP_FOLDER });
  } finally {
    await storages.close();
  }
}
