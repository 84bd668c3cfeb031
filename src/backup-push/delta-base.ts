// Which backup a new backup increments from (WAL-G's RegularDeltaBackupConfigurator): WALG_DELTA_MAX_STEPS,
// WALG_DELTA_ORIGIN, --delta-from-name / --delta-from-user-data, and the cases that fall back to a full backup.

import { backupByName, backupByUserData, BackupRef, latestBackup, NoBackupsFoundError } from '../backup/catalog.ts';
import { parseGoTime, type GoTime } from '../backup/go-time.ts';
import { isIncrementalSentinel, type BackupSentinel } from '../backup/sentinel.ts';
import type { StorageSet } from '../backup/storage-set.ts';
import { errorMessage, WalgError } from '../errors.ts';
import { log } from '../log/logger.ts';
import { formatLsn } from '../wal/names.ts';

/** How the parent is found: LATEST (default), by name, or by user data (already parsed JSON). */
export type DeltaSelector =
  | { readonly kind: 'latest' }
  | { readonly kind: 'name'; readonly name: string }
  | { readonly kind: 'userData'; readonly userData: unknown };

export interface DeltaSettings {
  /** WALG_DELTA_MAX_STEPS; 0 means never a delta. */
  readonly maxSteps: number;
  /** WALG_DELTA_ORIGIN=LATEST_FULL. */
  readonly fromFull: boolean;
}

/** The chosen parent with what the new backup needs from it. */
export interface DeltaParent {
  readonly name: string;
  readonly sentinel: BackupSentinel;
  /** The new backup's DeltaCount. */
  readonly incrementCount: number;
  /** Member name → mtime, from the parent's files_metadata.json. */
  readonly modificationTimes: Map<string, GoTime>;
}

/** WALG_DELTA_ORIGIN: unset or LATEST, or LATEST_FULL; anything else is WAL-G's fatal error. */
export function deltaOriginFromFull(origin: string | undefined): boolean {
  if (origin === undefined || origin === 'LATEST') return false;
  if (origin === 'LATEST_FULL') return true;
  throw new WalgError(`Unknown WALG_DELTA_ORIGIN: ${origin}`);
}

/** WAL-G's NewDeltaBaseSelector: both selectors at once is an error; each one logs what it will do. */
export function deltaSelector(fromName: string, fromUserData: unknown | undefined, userDataGiven: boolean): DeltaSelector {
  if (fromName !== '' && userDataGiven) throw new WalgError('only one delta target should be specified');
  if (fromName !== '') {
    log.info(`Selecting the backup with name ${fromName} as the base for the current delta backup...`);
    return { kind: 'name', name: fromName };
  }
  if (userDataGiven) {
    log.info('Selecting the backup with specified user data as the base for the current delta backup...');
    return { kind: 'userData', userData: fromUserData };
  }
  return { kind: 'latest' };
}

async function select(storages: StorageSet, selector: DeltaSelector): Promise<BackupRef> {
  switch (selector.kind) {
    case 'latest':
      return latestBackup(storages);
    case 'name':
      return backupByName(storages, selector.name);
    case 'userData':
      return backupByUserData(storages, selector.userData);
  }
}

/**
 * Chooses the parent, or undefined for a full backup (with WAL-G's log line saying why). Errors reading the parent's
 * sentinel or files_metadata.json fail the backup, as they do in WAL-G.
 */
export async function chooseDeltaParent(
  storages: StorageSet,
  selector: DeltaSelector,
  settings: DeltaSettings,
  isPermanent: boolean,
): Promise<DeltaParent | undefined> {
  if (settings.maxSteps === 0) return undefined;
  let previous: BackupRef;
  try {
    previous = await select(storages, selector);
  } catch (error) {
    if (error instanceof NoBackupsFoundError) {
      log.info("Couldn't find previous backup. Doing full backup.");
      return undefined;
    }
    throw error;
  }
  let sentinel = await previous.sentinel();
  const incrementCount = isIncrementalSentinel(sentinel) ? sentinel.deltaCount! + 1 : 1;
  if (incrementCount > settings.maxSteps) {
    log.info('Reached max delta steps. Doing full backup.');
    return undefined;
  }
  if (sentinel.startLsn === undefined) {
    log.info('LATEST backup was made without support for delta feature. Fallback to full backup with LSN marker for future deltas.');
    return undefined;
  }
  let metadata;
  try {
    metadata = await previous.metadata();
  } catch (error) {
    log.info(`Failed to get previous backup metadata: ${errorMessage(error)}. Doing full backup.`);
    return undefined;
  }
  if (!isPermanent && !settings.fromFull && metadata.isPermanent) {
    log.info("Can't do a delta backup from permanent backup. Doing full backup.");
    return undefined;
  }
  if (settings.fromFull) {
    log.info('Delta will be made from full backup.');
    const fullName = isIncrementalSentinel(sentinel) ? sentinel.deltaFullName! : previous.name;
    previous = new BackupRef(fullName, previous.storage);
    sentinel = await previous.sentinel();
  }
  if (sentinel.startLsn === undefined) throw new WalgError(`backup ${previous.name} has no start LSN to increment from`);
  log.info(`Delta backup from ${previous.name} with LSN ${formatLsn(sentinel.startLsn)}.`);
  const files = await previous.filesMetadata();
  const modificationTimes = new Map<string, GoTime>();
  for (const [name, description] of files.files) {
    const time = parseGoTime(description.modificationTime);
    if (time !== undefined) modificationTimes.set(name, time);
  }
  return { name: previous.name, sentinel, incrementCount, modificationTimes };
}
