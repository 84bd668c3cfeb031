// Which backups a storage holds and how one is chosen: the sentinel listing, modification-time order, LATEST,
// a name, or user data; and reading a chosen backup's sentinel, metadata.json and files_metadata.json.

import type { Readable } from 'node:stream';
import { parseUserDataJson } from '../config/settings.ts';
import { WalgError, errorMessage } from '../errors.ts';
import { log } from '../log/logger.ts';
import { NotFoundError, type Folder } from '../storage/driver.ts';
import { EMPTY_FILES_METADATA, parseFilesMetadata, type FilesMetadata } from './files-metadata.ts';
import { compareGoTimes, goTimeFromNanoseconds, type GoTime } from './go-time.ts';
import { deepEqualPlain, toPlainValue } from './json.ts';
import { parseMetadata, type BackupMetadata } from './metadata.ts';
import {
  BASE_BACKUP_FOLDER,
  backupNameFromSentinelKey,
  filesMetadataKey,
  FILES_METADATA_FILE_NAME,
  isSentinelKey,
  LATEST,
  metadataKey,
  sentinelKey,
  tarPartitionFolder,
  walFileNameOf,
} from './names.ts';
import { isIncrementalSentinel, parseSentinel, type BackupSentinel } from './sentinel.ts';
import type { NamedStorage, StorageSet, StoredObject } from './storage-set.ts';

/** No backup matched (WAL-G's NoBackupsFoundError): some commands treat it as an empty result. */
export class NoBackupsFoundError extends WalgError {
  constructor() {
    super('No backups found');
    this.name = 'NoBackupsFoundError';
  }
}

/** A named backup without a sentinel (WAL-G's BackupNonExistenceError). */
export class BackupNotFoundError extends WalgError {
  readonly backupName: string;
  constructor(backupName: string) {
    super(`Backup '${backupName}' does not exist.`);
    this.name = 'BackupNotFoundError';
    this.backupName = backupName;
  }
}

/** One line of backup-list: a sentinel object and what its name and time say (WAL-G's BackupTime). */
export interface BackupTime {
  readonly backupName: string;
  /** The sentinel's LastModified, in the zone WAL-G shows it (local for the file backend). */
  readonly modified: GoTime;
  readonly walFileName: string;
  readonly storageName: string;
}

/** Epoch nanoseconds of a listed object, as exact as the driver reports them. */
export function objectModifiedNanoseconds(object: { modified: Date; modifiedNanoseconds?: bigint }): bigint {
  return object.modifiedNanoseconds ?? BigInt(object.modified.getTime()) * 1_000_000n;
}

/** Go's fs backend reports file times in the local zone; cloud backends report UTC. */
function showsLocalTimes(storage: NamedStorage): boolean {
  return storage.root.driver.kind === 'file';
}

function backupTimeOf(object: StoredObject, storage: NamedStorage): BackupTime {
  return {
    backupName: backupNameFromSentinelKey(object.key),
    modified: goTimeFromNanoseconds(objectModifiedNanoseconds(object), showsLocalTimes(storage) ? 'local' : 'UTC'),
    walFileName: walFileNameOf(object.key),
    storageName: object.storageName,
  };
}

/** The sentinel objects directly in basebackups_005/ (or `backupsFolder`, e.g. catchup_005/) of every storage, in listing order. */
export async function listSentinelObjects(storages: StorageSet, backupsFolder = BASE_BACKUP_FOLDER): Promise<StoredObject[]> {
  const objects = await storages.listObjects(backupsFolder);
  return objects.filter((object) => isSentinelKey(object.key));
}

/** Sorts oldest first by modification time; equal times keep listing order (Go's sort of a short slice does). */
export function sortByModification<T extends { readonly modified: GoTime }>(items: T[]): T[] {
  return items
    .map((item, index) => ({ item, index }))
    .sort((left, right) => compareGoTimes(left.item.modified, right.item.modified) || left.index - right.index)
    .map(({ item }) => item);
}

/** Every backup with a sentinel, oldest sentinel first (WAL-G's GetBackups + SortBackupTimeSlices). */
export async function listBackups(storages: StorageSet, backupsFolder = BASE_BACKUP_FOLDER): Promise<BackupTime[]> {
  const objects = await listSentinelObjects(storages, backupsFolder);
  const times = objects.map((object) => backupTimeOf(object, storages.storage(object.storageName)));
  return sortByModification(times);
}

/** A backup in one storage, with its documents read on first use. */
export class BackupRef {
  readonly name: string;
  readonly storage: NamedStorage;
  /** The folder holding the backup's documents: basebackups_005/, or catchup_005/ for catchup backups. */
  readonly backupsFolder: string;
  private sentinelCache: BackupSentinel | undefined;
  private metadataCache: BackupMetadata | undefined;
  private filesMetadataCache: FilesMetadata | undefined;

  constructor(name: string, storage: NamedStorage, backupsFolder = BASE_BACKUP_FOLDER) {
    this.name = name;
    this.storage = storage;
    this.backupsFolder = backupsFolder;
  }

  /** basebackups_005/ (or the catchup folder) of the backup's storage. */
  get baseBackupFolder(): Folder {
    return this.storage.root.subFolder(this.backupsFolder);
  }

  get tarPartitionFolder(): Folder {
    return this.baseBackupFolder.subFolder(tarPartitionFolder(this.name));
  }

  async sentinel(): Promise<BackupSentinel> {
    if (this.sentinelCache === undefined) {
      const key = sentinelKey(this.name);
      this.sentinelCache = parseDocument(key, await readObjectText(this.baseBackupFolder, key), parseSentinel);
    }
    return this.sentinelCache;
  }

  async isIncremental(): Promise<boolean> {
    return isIncrementalSentinel(await this.sentinel());
  }

  async metadata(): Promise<BackupMetadata> {
    if (this.metadataCache === undefined) {
      const key = metadataKey(this.name);
      this.metadataCache = parseDocument(key, await readObjectText(this.baseBackupFolder, key), parseMetadata);
    }
    return this.metadataCache;
  }

  /**
   * files_metadata.json, or the copy an old sentinel holds. A V2 sentinel without FilesMetadataDisabled must have the
   * file; older backups (and WAL-E's) may lack it, which means "extract everything".
   */
  async filesMetadata(): Promise<FilesMetadata> {
    if (this.filesMetadataCache !== undefined) return this.filesMetadataCache;
    const sentinel = await this.sentinel();
    if (sentinel.legacyFilesMetadata !== undefined) {
      this.filesMetadataCache = sentinel.legacyFilesMetadata;
      return this.filesMetadataCache;
    }
    if (sentinel.filesMetadataDisabled) {
      log.info(`Files metadata tracking was disabled, skipping the download of ${FILES_METADATA_FILE_NAME}`);
      this.filesMetadataCache = EMPTY_FILES_METADATA;
      return this.filesMetadataCache;
    }
    const key = filesMetadataKey(this.name);
    let text: string;
    try {
      text = await readObjectText(this.baseBackupFolder, key);
    } catch (error) {
      if ((sentinel.version ?? 0) >= 2) throw new WalgError(`failed to fetch files metadata: ${errorMessage(error)}`, 1, { cause: error });
      log.warn(`Could not fetch any files metadata. Do you restore old or WAL-E backup? err: ${errorMessage(error)}`);
      this.filesMetadataCache = EMPTY_FILES_METADATA;
      return this.filesMetadataCache;
    }
    this.filesMetadataCache = parseDocument(key, text, parseFilesMetadata);
    return this.filesMetadataCache;
  }

  /** Names of the objects in tar_partitions/, in listing order. */
  async tarNames(): Promise<string[]> {
    const names: string[] = [];
    try {
      for await (const entry of this.tarPartitionFolder.list('')) if (entry.kind === 'object') names.push(entry.key);
    } catch (error) {
      throw new WalgError(`unable to list backup '${this.name}' for deletion: ${errorMessage(error)}`, 1, { cause: error });
    }
    return names;
  }
}

function parseDocument<T>(key: string, text: string, parse: (text: string) => T): T {
  try {
    return parse(text);
  } catch (error) {
    throw new WalgError(`failed to fetch dto from ${key}: ${errorMessage(error)}`, 1, { cause: error });
  }
}

/** A whole (small) object as UTF-8 text. */
export async function readObjectText(folder: Folder, key: string): Promise<string> {
  const stream: Readable = await folder.get(key);
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks).toString('utf8');
}

// ---------------------------------------------------------------------------------------------------------
// Selection

/** The backup with the newest sentinel (WAL-G's GetLatestBackup), with its log line. */
export async function latestBackup(storages: StorageSet, backupsFolder = BASE_BACKUP_FOLDER): Promise<BackupRef> {
  const backups = await listBackups(storages, backupsFolder);
  if (backups.length === 0) throw new NoBackupsFoundError();
  const latest = backups[backups.length - 1];
  log.info(`LATEST backup is: '${latest.backupName}'`);
  return new BackupRef(latest.backupName, storages.storage(latest.storageName), backupsFolder);
}

/** A backup by exact name, in the first storage holding its sentinel. */
export async function backupByName(storages: StorageSet, name: string, backupsFolder = BASE_BACKUP_FOLDER): Promise<BackupRef> {
  if (name === LATEST) return latestBackup(storages, backupsFolder);
  const key = backupsFolder + sentinelKey(name);
  let found: NamedStorage | undefined;
  try {
    found = await storages.findObject(key);
  } catch (error) {
    throw new WalgError(`checking sentinel file "${sentinelKey(name)}" for existence: ${errorMessage(error)}`, 1, { cause: error });
  }
  if (found === undefined) throw new BackupNotFoundError(name);
  return new BackupRef(name, found, backupsFolder);
}

/** What a command asked for: a name (or LATEST), or user data. */
export type BackupSelector = { readonly kind: 'latest' } | { readonly kind: 'name'; readonly name: string } | { readonly kind: 'userData'; readonly userData: unknown };

/**
 * WAL-G's NewTargetBackupSelector, with its log lines. Returns an error message (the caller prints the usage first,
 * as WAL-G does) when both or neither selector is given, or the user data is not JSON.
 */
export function targetBackupSelector(targetName: string, rawUserData: string): BackupSelector | { readonly problem: string } {
  if (targetName !== '' && rawUserData !== '') {
    return { problem: 'incorrect arguments. Specify target backup name OR target userdata, not both' };
  }
  if (targetName === LATEST) {
    log.info('Selecting the latest backup...');
    return { kind: 'latest' };
  }
  if (targetName !== '') {
    log.info(`Selecting the backup with name ${targetName}...`);
    return { kind: 'name', name: targetName };
  }
  if (rawUserData !== '') {
    log.info('Selecting the backup with the specified user data...');
    try {
      return { kind: 'userData', userData: parseUserDataJson(rawUserData) };
    } catch (error) {
      return { problem: errorMessage(error) };
    }
  }
  return { problem: 'insufficient arguments' };
}

export async function selectBackup(storages: StorageSet, selector: BackupSelector): Promise<BackupRef> {
  switch (selector.kind) {
    case 'latest':
      return latestBackup(storages);
    case 'name':
      return backupByName(storages, selector.name);
    case 'userData':
      return backupByUserData(storages, selector.userData);
  }
}

/** Metadata of every listed backup that matches, oldest sentinel first; unreadable metadata is warned about and skipped. */
export async function searchMetadata(
  storages: StorageSet,
  matches: (backup: BackupTime, metadata: BackupMetadata) => boolean,
): Promise<Array<{ backup: BackupTime; metadata: BackupMetadata }>> {
  const found: Array<{ backup: BackupTime; metadata: BackupMetadata }> = [];
  const objects = await listSentinelObjects(storages);
  for (const object of objects) {
    const backup = backupTimeOf(object, storages.storage(object.storageName));
    let metadata: BackupMetadata;
    try {
      metadata = await new BackupRef(backup.backupName, storages.storage(backup.storageName)).metadata();
    } catch (error) {
      log.warn(`Failed to get metadata of backup ${backup.backupName}, error: ${errorMessage(error)}`);
      continue;
    }
    if (matches(backup, metadata)) found.push({ backup, metadata });
  }
  return found;
}

/** The one backup whose metadata user_data deep-equals `userData` (numbers compared as float64, like Go). */
export async function backupByUserData(storages: StorageSet, userData: unknown): Promise<BackupRef> {
  let found;
  try {
    found = await searchMetadata(storages, (_backup, metadata) =>
      deepEqualPlain(userData, metadata.userData === undefined ? undefined : toPlainValue(metadata.userData)),
    );
  } catch (error) {
    throw new WalgError(`UserData search failed: ${errorMessage(error)}`, 1, { cause: error });
  }
  if (found.length === 0) throw new NoBackupsFoundError();
  const uniqueNames = new Set(found.map((entry) => entry.backup.backupName));
  if (uniqueNames.size > 1) {
    throw new WalgError(`too many backups (${uniqueNames.size}) found with specified user data: ${found.map((entry) => entry.backup.backupName).join(' ')}`);
  }
  const last = found[found.length - 1];
  return new BackupRef(last.backup.backupName, storages.storage(last.backup.storageName));
}

/** Whether an error means "the object is not there" (missing metadata is tolerated in some places). */
export function isNotFound(error: unknown): boolean {
  if (error instanceof NotFoundError) return true;
  return error instanceof WalgError && error.cause instanceof NotFoundError;
}
