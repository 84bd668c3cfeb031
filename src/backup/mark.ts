// backup-mark: makes a backup (and the chain it increments from) permanent, or one backup impermanent, by rewriting
// only its metadata.json, with WAL-G's checks and log lines.

import { Readable } from 'node:stream';
import { errorMessage, WalgError } from '../errors.ts';
import { log } from '../log/logger.ts';
import type { Folder } from '../storage/driver.ts';
import { isNotFound, listBackups, readObjectText } from './catalog.ts';
import { encodeMetadata, parseMetadata, type BackupMetadata } from './metadata.ts';
import { metadataKey, sentinelKey } from './names.ts';
import { isIncrementalSentinel, parseSentinel } from './sentinel.ts';
import { DEFAULT_STORAGE_NAME, StorageSet } from './storage-set.ts';

/** Reads metadata.json of a backup in basebackups_005/ (errors as WAL-G's FetchDto gives them). */
async function fetchMetadata(baseBackups: Folder, backupName: string): Promise<BackupMetadata> {
  const key = metadataKey(backupName);
  const text = await readObjectText(baseBackups, key);
  try {
    return parseMetadata(text);
  } catch (error) {
    throw new WalgError(`failed to fetch dto from ${key}: ${errorMessage(error)}`, 1, { cause: error });
  }
}

/** The parent a backup increments from, or undefined for a full backup. */
async function incrementFrom(baseBackups: Folder, backupName: string): Promise<string | undefined> {
  const key = sentinelKey(backupName);
  const text = await readObjectText(baseBackups, key);
  let sentinel;
  try {
    sentinel = parseSentinel(text);
  } catch (error) {
    throw new WalgError(`failed to fetch dto from ${key}: ${errorMessage(error)}`, 1, { cause: error });
  }
  return isIncrementalSentinel(sentinel) ? sentinel.deltaFrom : undefined;
}

/** Backups to mark permanent: the chain's not-yet-permanent members, oldest (the full backup) first. */
async function backupsToMarkPermanent(baseBackups: Folder, backupName: string): Promise<string[]> {
  const metadata = await fetchMetadata(baseBackups, backupName);
  const own = metadata.isPermanent ? [] : [backupName];
  const parent = await incrementFrom(baseBackups, backupName);
  if (parent === undefined) return own;
  return [...(await backupsToMarkPermanent(baseBackups, parent)), ...own];
}

/** Names of backups whose metadata says permanent (WAL-G's GetPermanentBackups, with its log lines). */
async function permanentBackupSet(baseBackups: Folder, root: Folder): Promise<Set<string>> {
  log.info('retrieving permanent objects');
  const permanent = new Set<string>();
  const backups = await listBackups(new StorageSet([{ name: DEFAULT_STORAGE_NAME, root }]));
  for (const backup of backups) {
    try {
      if ((await fetchMetadata(baseBackups, backup.backupName)).isPermanent) permanent.add(backup.backupName);
    } catch (error) {
      if (!isNotFound(error)) throw new WalgError(`failed to fetch backup meta for backup ${backup.backupName} with error ${errorMessage(error)}`);
      log.info(`Backup ${backup.backupName} lacks metadata to check if it's permanent, ignoring...`);
    }
  }
  return permanent;
}

async function backupsToMarkImpermanent(root: Folder, baseBackups: Folder, backupName: string): Promise<string[]> {
  const metadata = await fetchMetadata(baseBackups, backupName);
  const permanent = await permanentBackupSet(baseBackups, root);
  permanent.delete(backupName);
  const backups = await listBackups(new StorageSet([{ name: DEFAULT_STORAGE_NAME, root }]));
  if (backups.length === 0) throw new WalgError('No backups found');
  // WAL-G looks at the backups that increment directly from this one.
  for (const backup of backups) {
    await fetchMetadata(baseBackups, backup.backupName);
    const parent = await incrementFrom(baseBackups, backup.backupName);
    if (parent === backupName && permanent.has(backup.backupName)) {
      throw new WalgError(`Can't mark backup '${backupName}' as impermanent. There is permanent increment backup that depends on this backup.`);
    }
  }
  return metadata.isPermanent ? [backupName] : [];
}

/** Rewrites metadata.json with the new flag; nothing else in the backup changes. */
async function setPermanent(baseBackups: Folder, backupName: string, isPermanent: boolean): Promise<void> {
  let metadata: BackupMetadata;
  try {
    metadata = await fetchMetadata(baseBackups, backupName);
  } catch (error) {
    throw new WalgError(`failed to fetch the existing backup metadata for modifying: ${errorMessage(error)}`, 1, { cause: error });
  }
  try {
    await baseBackups.put(metadataKey(backupName), Readable.from([Buffer.from(encodeMetadata({ ...metadata, isPermanent }))]));
  } catch (error) {
    throw new WalgError(`failed to upload the modified metadata to the storage: ${errorMessage(error)}`, 1, { cause: error });
  }
}

/** WAL-G's MarkBackup against the primary storage root. */
export async function markBackup(root: Folder, backupName: string, toPermanent: boolean): Promise<void> {
  const baseBackups = root.subFolder('basebackups_005');
  log.info(`Retrieving previous related backups to be marked: toPermanent=${toPermanent}`);
  let toMark: string[];
  try {
    const metadata = await fetchMetadata(baseBackups, backupName);
    if (toPermanent === metadata.isPermanent) {
      log.warn(`Backup ${backupName} is already marked as ${metadata.isPermanent ? 'permanent' : 'impermanent'}, ignoring...`);
    }
    toMark = toPermanent ? await backupsToMarkPermanent(baseBackups, backupName) : await backupsToMarkImpermanent(root, baseBackups, backupName);
  } catch (error) {
    throw new WalgError(`Failed to get previous backups: ${errorMessage(error)}`, 1, { cause: error });
  }
  log.info(`Retrieved backups to be marked, marking: [${toMark.join(' ')}]`);
  for (const name of toMark) {
    try {
      await setPermanent(baseBackups, name, toPermanent);
    } catch (error) {
      throw new WalgError(`Failed to mark backups: ${errorMessage(error)}`, 1, { cause: error });
    }
  }
}
