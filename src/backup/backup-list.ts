// backup-list: the rows WAL-G prints for the backups in a set of storages, plain or with metadata (--detail).

import { errorMessage, WalgError } from '../errors.ts';
import { log } from '../log/logger.ts';
import { BackupRef, listBackups, listSentinelObjects, objectModifiedNanoseconds, sortByModification, type BackupTime } from './catalog.ts';
import { compareGoTimes, goTimeFromNanoseconds, isZeroGoTime } from './go-time.ts';
import { backupListFields, backupListJsonObject, renderList, type BackupListEntry } from './list-output.ts';
import { isZeroMetadata } from './metadata.ts';
import { backupNameFromSentinelKey, walFileNameOf } from './names.ts';
import type { StorageSet } from './storage-set.ts';

export interface BackupListOptions {
  readonly pretty: boolean;
  readonly json: boolean;
  readonly detail: boolean;
  /** basebackups_005/ unless given (catchup-list: catchup_005/). */
  readonly backupsFolder?: string;
}

/** What backup-list writes to stdout; the "No backups found" info line is logged here when it applies. */
export async function backupListOutput(storages: StorageSet, options: BackupListOptions): Promise<string> {
  const entries = options.detail
    ? await detailedEntries(storages, options.backupsFolder)
    : (await listBackups(storages, options.backupsFolder)).map((backup) => ({ backup }));
  if (entries.length === 0 && !options.json) log.info('No backups found');
  return renderList(
    entries.map(backupListFields),
    entries.map(backupListJsonObject),
    options,
  );
}

/**
 * Rows with metadata.json, ordered by start_time when every backup has a non-zero one, otherwise by sentinel
 * modification time. A backup whose metadata cannot be read fails the listing, as in WAL-G.
 */
async function detailedEntries(storages: StorageSet, backupsFolder: string | undefined): Promise<BackupListEntry[]> {
  const objects = await listSentinelObjects(storages, backupsFolder);
  // WAL-G fetches the details walking its listing backwards, and its sort keeps that order for equal keys.
  const backups: BackupTime[] = objects.reverse().map((object) => {
    const storage = storages.storage(object.storageName);
    return {
      backupName: backupNameFromSentinelKey(object.key),
      modified: goTimeFromNanoseconds(objectModifiedNanoseconds(object), storage.root.driver.kind === 'file' ? 'local' : 'UTC'),
      walFileName: walFileNameOf(object.key),
      storageName: object.storageName,
    };
  });
  const entries: Array<Required<BackupListEntry>> = [];
  for (const backup of backups) {
    try {
      entries.push({ backup, metadata: await new BackupRef(backup.backupName, storages.storage(backup.storageName), backupsFolder).metadata() });
    } catch (error) {
      throw error instanceof WalgError ? error : new WalgError(errorMessage(error), 1, { cause: error });
    }
  }
  const byStartTime = entries.every((entry) => !isZeroMetadata(entry.metadata) && !isZeroGoTime(entry.metadata.startTime));
  if (!byStartTime) return sortByModification(entries.map((entry) => ({ ...entry, modified: entry.backup.modified })));
  return entries
    .map((entry, index) => ({ entry, index }))
    .sort((left, right) => compareGoTimes(left.entry.metadata.startTime, right.entry.metadata.startTime) || left.index - right.index)
    .map(({ entry }) => entry);
}
