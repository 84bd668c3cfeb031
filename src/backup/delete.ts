// `delete retain|before|everything|target|garbage`: choosing the target backup and the objects to remove exactly as
// WAL-G v3.0.8 does (ordering by timeline and segment parsed from object names, permanent backups and their WAL
// protected, dry run unless --confirm), with its log lines.

import { errorMessage, WalgError } from '../errors.ts';
import type { StorageDriver } from '../storage/driver.ts';
import { FileStorageDriver } from '../storage/file.ts';
import { log } from '../log/logger.ts';
import { BackupRef, isNotFound, listSentinelObjects, objectModifiedNanoseconds, selectBackup, NoBackupsFoundError, type BackupSelector } from './catalog.ts';
import { compareGoStrings } from './json.ts';
import { compareGoTimes, goTimeFromNanoseconds, parseGoTime, type GoTime } from './go-time.ts';
import {
  BASE_BACKUP_FOLDER,
  backupNameFromObjectKey,
  backupNameFromSentinelKey,
  deduceBackupName,
  timelineAndSegmentOf,
  timelineOfBackupName,
  WAL_FOLDER,
} from './names.ts';
import type { StorageSet, StoredObject } from './storage-set.ts';
import { formatWalSegmentName } from '../wal/names.ts';

export type DeleteModifier = 'none' | 'FULL' | 'FIND_FULL';

/** A backup as delete sees it: its sentinel object plus what the sentinel says about increments. */
export interface DeletableBackup {
  /** The sentinel key relative to basebackups_005/ (WAL-G's BackupObject.GetName). */
  readonly sentinelKey: string;
  readonly backupName: string;
  readonly storageName: string;
  readonly isFull: boolean;
  /** DeltaFullName for deltas, '' for full backups. */
  readonly baseBackupName: string;
  /** DeltaFrom for deltas, '' for full backups. */
  readonly incrementFromName: string;
  /** Sentinel modification time, or metadata start time with --use-sentinel-time. */
  readonly time: GoTime;
}

/** A storage object as delete lists it: key relative to the listed folder, plus its storage. */
export interface ListedObject {
  readonly key: string;
  readonly storageName: string;
}

/** WAL-G's `less` over object names: true when `left` sorts strictly before `right`. */
export type ObjectOrder = (left: string, right: string) => boolean;

/** Default order: (timeline, segment) of the first 24-hex run; names without one are never "less". */
export function timelineAndSegmentOrder(segmentSize: number): ObjectOrder {
  return (left, right) => {
    const a = timelineAndSegmentOf(left, segmentSize);
    if (a === undefined) return false;
    const b = timelineAndSegmentOf(right, segmentSize);
    if (b === undefined) return false;
    return a.timeline < b.timeline || (a.timeline === b.timeline && a.segment < b.segment);
  };
}

/** --use-sentinel-time order: backups by start time, anything else (WAL) by segment number alone. */
export function startTimeOrder(startTimes: ReadonlyMap<string, GoTime>, segmentSize: number): ObjectOrder {
  const segmentOnly: ObjectOrder = (left, right) => {
    const a = timelineAndSegmentOf(left, segmentSize);
    if (a === undefined) return false;
    const b = timelineAndSegmentOf(right, segmentSize);
    if (b === undefined) return false;
    return a.segment < b.segment;
  };
  return (left, right) => {
    const leftName = deduceBackupName(left);
    if (leftName === '') return segmentOnly(left, right);
    const rightName = deduceBackupName(right);
    if (rightName === '') return segmentOnly(left, right);
    const leftTime = startTimes.get(leftName);
    const rightTime = startTimes.get(rightName);
    if (leftTime === undefined || rightTime === undefined) return false;
    return compareGoTimes(leftTime, rightTime) < 0;
  };
}

/**
 * WAL-G's findTarget: sorts `backups` in place by `before` (stable, as Go's sort of a short slice is) and returns the
 * first one the choice accepts.
 */
export function findTarget(backups: DeletableBackup[], before: (left: DeletableBackup, right: DeletableBackup) => boolean, choose: (backup: DeletableBackup) => boolean): DeletableBackup | undefined {
  const sorted = backups
    .map((backup, index) => ({ backup, index }))
    .sort((left, right) => (before(left.backup, right.backup) ? -1 : before(right.backup, left.backup) ? 1 : left.index - right.index))
    .map(({ backup }) => backup);
  backups.splice(0, backups.length, ...sorted);
  for (const backup of backups) {
    log.debug(`processing ${backup.sentinelKey}`);
    if (choose(backup)) return backup;
  }
  return undefined;
}

/** How `retain` picks its target scanning newest first. */
export function retainChoice(count: number, modifier: DeleteModifier): (backup: DeletableBackup) => boolean {
  const seen = new Set<string>();
  switch (modifier) {
    case 'none':
      return (backup) => {
        seen.add(backup.backupName);
        return seen.size === count;
      };
    case 'FULL':
      return (backup) => {
        if (backup.isFull) seen.add(backup.backupName);
        return seen.size === count;
      };
    case 'FIND_FULL':
      return (backup) => {
        seen.add(backup.backupName);
        return seen.size >= count && backup.isFull;
      };
  }
}

/** How `before <name>` picks its target scanning newest first (FULL is not allowed there). */
export function beforeNameChoice(name: string, modifier: DeleteModifier): (backup: DeletableBackup) => boolean {
  if (modifier === 'FULL') throw new WalgError("Not allowed modifier for 'delete before'");
  if (modifier === 'none') return (backup) => backup.sentinelKey.startsWith(name);
  let met = false;
  return (backup) => {
    met = met || backup.sentinelKey.startsWith(name);
    return met && backup.isFull;
  };
}

/** Every delta that (transitively) increments from `target`, target first (WAL-G's findDependantBackups). */
export function dependantBackups(backups: readonly DeletableBackup[], target: DeletableBackup): DeletableBackup[] {
  const incrementsOf = new Map<string, DeletableBackup[]>();
  for (const backup of backups) {
    if (backup.isFull) continue;
    const list = incrementsOf.get(backup.incrementFromName) ?? [];
    list.push(backup);
    incrementsOf.set(backup.incrementFromName, list);
  }
  const result: DeletableBackup[] = [];
  const queue = [target];
  while (queue.length > 0) {
    const current = queue.shift()!;
    result.push(current);
    queue.push(...(incrementsOf.get(current.backupName) ?? []));
  }
  return result;
}

/** The target's whole family under one full backup (WAL-G's findRelatedBackups, for FIND_FULL). */
export function relatedBackups(backups: readonly DeletableBackup[], target: DeletableBackup): DeletableBackup[] {
  if (target.isFull) return backups.filter((other) => other.backupName === target.backupName || other.baseBackupName === target.backupName);
  return backups.filter((other) => other.backupName === target.baseBackupName || other.baseBackupName === target.baseBackupName);
}

/** Permanent backups and the WAL segments they need, per storage (WAL-G's PermanentObject maps). */
export interface PermanentObjects {
  /** `<storage>\0<backup name>` */
  readonly backups: ReadonlySet<string>;
  /** `<storage>\0<24-hex WAL name>` */
  readonly wals: ReadonlySet<string>;
}

function permanentKey(storageName: string, name: string): string {
  return `${storageName}\0${name}`;
}

/** WAL-G's IsPermanent for an object key relative to the storage root. */
export function isPermanentObject(key: string, storageName: string, permanent: PermanentObjects): boolean {
  if (key.startsWith(WAL_FOLDER) && key.length >= WAL_FOLDER.length + 24) {
    return permanent.wals.has(permanentKey(storageName, key.slice(WAL_FOLDER.length, WAL_FOLDER.length + 24)));
  }
  if (key.startsWith(BASE_BACKUP_FOLDER)) {
    return permanent.backups.has(permanentKey(storageName, backupNameFromObjectKey(key.slice(BASE_BACKUP_FOLDER.length))));
  }
  return false;
}

/** Go's %v of map[PermanentObject]bool: `map[{name storage}:true ...]`, keys sorted. */
function describePermanentMap(keys: ReadonlySet<string>): string {
  const entries = [...keys]
    .map((key) => {
      const [storageName, name] = key.split('\0');
      return { name, storageName };
    })
    .sort((left, right) => compareGoStrings(left.name, right.name) || compareGoStrings(left.storageName, right.storageName));
  return `map[${entries.map((entry) => `{${entry.name} ${entry.storageName}}:true`).join(' ')}]`;
}

/**
 * Reads every backup's metadata.json and collects the permanent ones with their WAL range
 * (segment(start_lsn-1) .. segment(finish_lsn-1) on the name's timeline), with WAL-G's log lines.
 */
export async function findPermanentObjects(storages: StorageSet, segmentSize: number): Promise<PermanentObjects> {
  log.info('retrieving permanent objects');
  const backups = new Set<string>();
  const wals = new Set<string>();
  const sentinels = await listSentinelObjects(storages);
  for (const object of sentinels) {
    const name = backupNameFromSentinelKey(object.key);
    let metadata;
    try {
      metadata = await new BackupRef(name, storages.storage(object.storageName)).metadata();
    } catch (error) {
      if (!isNotFound(error)) throw new WalgError(`failed to fetch backup meta for backup ${name} with error ${errorMessage(error)}`);
      log.info(`Backup ${name} lacks metadata to check if it's permanent, ignoring...`);
      continue;
    }
    if (!metadata.isPermanent) continue;
    const timeline = timelineOfBackupName(name);
    if (timeline === undefined) {
      log.error(`failed to parse backup timeline for backup ${name} with error Incorrect backup name: ${name}, ignoring...`);
      continue;
    }
    const size = BigInt(segmentSize);
    const first = (metadata.startLsn - 1n) / size;
    const last = (metadata.finishLsn - 1n) / size;
    for (let segment = first; segment <= last; segment++) wals.add(permanentKey(object.storageName, formatWalSegmentName(timeline, segment, segmentSize)));
    backups.add(permanentKey(object.storageName, name));
  }
  if (backups.size > 0) log.info(`Found permanent objects: backups=${describePermanentMap(backups)}, wals=${describePermanentMap(wals)}`);
  return { backups, wals };
}

/** Names of the permanent backups, sorted (for `delete everything`). */
export function permanentBackupNames(permanent: PermanentObjects): string[] {
  return [...permanent.backups].map((key) => key.split('\0')[1]).sort(compareGoStrings);
}

/**
 * Every object under `folderPath` of every storage, breadth first as WAL-G's recursive listing walks: a folder's
 * objects, then its sub-folders in turn. Keys are relative to `folderPath`.
 */
export async function listRecursively(storages: StorageSet, folderPath: string): Promise<ListedObject[]> {
  const result: ListedObject[] = [];
  for (const storage of storages.storages) {
    const base = storage.root.subFolder(folderPath);
    const queue = [''];
    while (queue.length > 0) {
      const prefix = queue.shift()!;
      const subFolders: string[] = [];
      for await (const entry of base.list(prefix)) {
        if (entry.kind === 'object') result.push({ key: entry.key, storageName: storage.name });
        else subFolders.push(entry.key);
      }
      queue.push(...subFolders);
    }
  }
  return result;
}

export interface DeleteOptions {
  /** Without it nothing is deleted: the objects are only logged. */
  readonly confirm: boolean;
  readonly useSentinelTime: boolean;
  /** WAL segment size in bytes (WALG_PG_WAL_SIZE). */
  readonly segmentSize: number;
}

/** A delete invocation's view of the storages: the backups, the permanent objects and the order. */
export class DeleteSession {
  readonly storages: StorageSet;
  readonly options: DeleteOptions;
  readonly permanent: PermanentObjects;
  readonly backups: DeletableBackup[];
  readonly less: ObjectOrder;

  private constructor(storages: StorageSet, options: DeleteOptions, permanent: PermanentObjects, backups: DeletableBackup[], less: ObjectOrder) {
    this.storages = storages;
    this.options = options;
    this.permanent = permanent;
    this.backups = backups;
    this.less = less;
  }

  /** Loads what every delete command needs (WAL-G's GetPermanentBackupsAndWals + NewDeleteHandler). */
  static async open(storages: StorageSet, options: DeleteOptions): Promise<DeleteSession> {
    const permanent = await findPermanentObjects(storages, options.segmentSize);
    const sentinels = await listSentinelObjects(storages);
    let less = timelineAndSegmentOrder(options.segmentSize);
    let startTimes: Map<string, GoTime> | undefined;
    if (options.useSentinelTime) {
      try {
        startTimes = new Map();
        for (const object of sentinels) {
          const name = backupNameFromSentinelKey(object.key);
          try {
            startTimes.set(name, (await new BackupRef(name, storages.storage(object.storageName)).metadata()).startTime);
          } catch (error) {
            throw new WalgError(`Failed to get metadata of backup ${name}: ${errorMessage(error)}`);
          }
        }
        less = startTimeOrder(startTimes, options.segmentSize);
      } catch (error) {
        startTimes = undefined;
        log.warn(`Failed to get sentinel backup start times: ${errorMessage(error)}, will fall back to timeline and segment number for ordering...`);
      }
    }
    const backups: DeletableBackup[] = [];
    for (const object of sentinels) backups.push(await deletableBackup(storages, object, startTimes));
    return new DeleteSession(storages, options, permanent, backups, less);
  }

  /** Orders backups by their sentinel names (WAL-G compares BackupObject names with `less`). */
  isOlder = (left: DeletableBackup, right: DeletableBackup): boolean => this.less(left.sentinelKey, right.sentinelKey);
  isNewer = (left: DeletableBackup, right: DeletableBackup): boolean => this.less(right.sentinelKey, left.sentinelKey);

  isPermanent(key: string, storageName: string): boolean {
    return isPermanentObject(key, storageName, this.permanent);
  }

  findRetainTarget(count: number, modifier: DeleteModifier): DeletableBackup | undefined {
    return findTarget(this.backups, this.isNewer, retainChoice(count, modifier));
  }

  /** `retain N --after X`: the older of the retain target and the oldest backup made after X (by name or time). */
  findRetainAfterTarget(count: number, after: string, modifier: DeleteModifier): DeletableBackup | undefined {
    const target1 = findTarget(this.backups, this.isNewer, retainChoice(count, modifier));
    const time = parseGoTime(after);
    let choose: (backup: DeletableBackup) => boolean;
    if (time !== undefined) {
      choose = (backup) => compareGoTimes(time, backup.time) <= 0 && (modifier === 'none' || backup.isFull);
    } else {
      let met = false;
      choose = (backup) => {
        met = met || backup.sentinelKey.startsWith(after);
        return modifier === 'none' ? met : met && backup.isFull;
      };
    }
    const target2 = findTarget(this.backups, this.isOlder, choose);
    if (target1 === undefined) return target2;
    if (target2 === undefined) return target1;
    return this.isNewer(target2, target1) ? target1 : target2;
  }

  /** `before X`: by RFC 3339 time (oldest backup at or after it, then resolved like a name) or by name prefix. */
  findBeforeTarget(argument: string, modifier: DeleteModifier): DeletableBackup | undefined {
    const time = parseGoTime(argument);
    if (time !== undefined) {
      const potential = findTarget(this.backups, this.isOlder, (backup) => compareGoTimes(time, backup.time) <= 0);
      if (potential === undefined) return undefined;
      return this.findBeforeName(potential.sentinelKey, modifier);
    }
    return this.findBeforeName(argument, modifier);
  }

  private findBeforeName(name: string, modifier: DeleteModifier): DeletableBackup {
    const found = findTarget(this.backups, this.isNewer, beforeNameChoice(name, modifier));
    if (found === undefined) throw new WalgError('not found');
    return found;
  }

  /** The newest backup whose sentinel name starts with `name` (WAL-G's FindTargetByName). */
  findByName(name: string): DeletableBackup | undefined {
    return findTarget(this.backups, this.isNewer, (backup) => backup.sentinelKey.startsWith(name));
  }

  /** The listed backup a selector picks, or undefined when nothing matches (WAL-G's FindTargetBySelector). */
  async findBySelector(selector: BackupSelector): Promise<DeletableBackup | undefined> {
    let selected: BackupRef;
    try {
      selected = await selectBackup(this.storages, selector);
    } catch (error) {
      if (error instanceof NoBackupsFoundError) return undefined;
      throw error;
    }
    return this.backups.find((backup) => backup.backupName === selected.name);
  }

  /** Deletes every object older than a full target, except permanent ones (and those `keep` rejects). */
  async deleteBeforeTarget(target: DeletableBackup, keep: (key: string) => boolean = () => true): Promise<void> {
    if (!target.isFull) {
      throw new WalgError(`${target.sentinelKey} is incremental and it's predecessors cannot be deleted. Consider FIND_FULL option.`);
    }
    log.info('Start delete');
    await this.deleteObjectsWhere('', (object) => keep(object.key) && this.less(object.key, target.sentinelKey) && !this.isPermanent(object.key, object.storageName));
  }

  /** Deletes every object of every storage. */
  async deleteEverything(): Promise<void> {
    await this.deleteObjectsWhere('', () => true);
  }

  /**
   * Deletes the target and the deltas depending on it (or, with FIND_FULL, its whole family under one full backup):
   * their objects under basebackups_005/ only. A permanent backup among them is refused.
   */
  async deleteTarget(target: DeletableBackup, findFull: boolean): Promise<void> {
    const chosen = findFull ? relatedBackups(this.backups, target) : dependantBackups(this.backups, target);
    log.debug(`backupsToDelete: [${chosen.map((backup) => backup.sentinelKey).join(' ')}]`);
    const names = new Set<string>();
    for (const backup of chosen) {
      if (this.isPermanent(BASE_BACKUP_FOLDER + backup.sentinelKey, backup.storageName)) {
        throw new WalgError(`Unable to delete permanent backup ${backup.sentinelKey}`);
      }
      names.add(backup.backupName);
    }
    await this.deleteObjectsWhere(BASE_BACKUP_FOLDER, (object) => names.has(backupNameFromObjectKey(object.key)) && !this.isPermanent(BASE_BACKUP_FOLDER + object.key, object.storageName));
  }

  /** WAL-G's DeleteObjectsWhere: logs every object that goes, then deletes them (or says it was a dry run). */
  async deleteObjectsWhere(folderPath: string, select: (object: ListedObject) => boolean): Promise<void> {
    const objects = await listRecursively(this.storages, folderPath);
    const chosen: ListedObject[] = [];
    log.info('Objects in folder:');
    for (const object of objects) {
      if (select(object)) {
        log.info(`\twill be deleted: ${object.key}, from storage: ${object.storageName}`);
        chosen.push(object);
      } else {
        log.debug(`\tskipped: ${object.key}, in storage: ${object.storageName}`);
      }
    }
    if (chosen.length === 0) return;
    if (!this.options.confirm) {
      log.info('Dry run, nothing were deleted');
      return;
    }
    for (const storage of this.storages.storages) {
      const keys = chosen.filter((object) => object.storageName === storage.name).map((object) => object.key);
      if (keys.length > 0) await storage.root.subFolder(folderPath).deleteMany(keys);
    }
  }
}

async function deletableBackup(storages: StorageSet, object: StoredObject, startTimes: ReadonlyMap<string, GoTime> | undefined): Promise<DeletableBackup> {
  const backupName = deduceBackupName(object.key);
  const storage = storages.storage(object.storageName);
  const sentinel = await new BackupRef(backupName, storage).sentinel();
  const isDelta = sentinel.deltaFrom !== undefined;
  if (isDelta && (sentinel.deltaLsn === undefined || sentinel.deltaFullName === undefined || sentinel.deltaCount === undefined)) {
    throw new WalgError(`Inconsistent BackupSentinelDto in ${object.key}`);
  }
  const modified = goTimeFromNanoseconds(objectModifiedNanoseconds(object));
  return {
    sentinelKey: object.key,
    backupName,
    storageName: object.storageName,
    isFull: !isDelta,
    baseBackupName: isDelta ? sentinel.deltaFullName! : '',
    incrementFromName: isDelta ? sentinel.deltaFrom! : '',
    time: startTimes?.get(backupName) ?? modified,
  };
}

/** `delete garbage`'s object filter for its mode, with WAL-G's log line. */
export function garbagePredicate(args: readonly string[]): (key: string) => boolean {
  if (args.length === 1 && args[0] === 'ARCHIVES') {
    log.info('Archive-only mode selected. Will remove only outdated WAL files.');
    return (key) => key.startsWith(WAL_FOLDER);
  }
  if (args.length === 1 && args[0] === 'BACKUPS') {
    log.info('Backups-only mode selected. Will remove only leftover backup files.');
    return (key) => key.startsWith(BASE_BACKUP_FOLDER);
  }
  log.info('Running in default mode. Will remove outdated WAL files and leftover backup files.');
  return () => true;
}

/** The oldest backup whose metadata is not permanent (by start time), or undefined (WAL-G's OldestNonPermanentSelector). */
export async function oldestNonPermanentBackup(storages: StorageSet): Promise<string | undefined> {
  let oldest: { name: string; start: GoTime } | undefined;
  for (const object of await listSentinelObjects(storages)) {
    const name = backupNameFromSentinelKey(object.key);
    let metadata;
    try {
      metadata = await new BackupRef(name, storages.storage(object.storageName)).metadata();
    } catch (error) {
      log.warn(`Failed to get metadata of backup ${name}, error: ${errorMessage(error)}`);
      continue;
    }
    if (metadata.isPermanent) {
      log.info(`Backup ${name} is permanent, it is not eligible to be selected as the oldest backup`);
      continue;
    }
    if (oldest === undefined || compareGoTimes(metadata.startTime, oldest.start) < 0) oldest = { name, start: metadata.startTime };
  }
  return oldest?.name;
}

/** Parses the leading modifier of `retain`/`before` arguments (WAL-G's ExtractDeleteModifierFromArgs). */
export function modifierAndValue(args: readonly string[]): { modifier: DeleteModifier; value: string } {
  if (args.length === 1) return { modifier: 'none', value: args[0] };
  return { modifier: args[0] === 'FULL' ? 'FULL' : 'FIND_FULL', value: args[1] };
}

/** A temporary file untouched this long belongs to an upload whose process is gone: `delete garbage` removes it. */
export const STALE_UPLOAD_AGE_MS = 24 * 60 * 60 * 1000;

function fileDriverOf(driver: StorageDriver): FileStorageDriver | undefined {
  let current: StorageDriver | undefined = driver;
  while (current !== undefined) {
    if (current instanceof FileStorageDriver) return current;
    current = (current as { inner?: StorageDriver }).inner;
  }
  return undefined;
}

/**
 * `delete garbage`'s addition for file storages (walnut writes a hidden temporary file and renames it, where WAL-G
 * writes the final file in place): the temporaries of uploads cut by kill -9 or a crash, untouched for
 * STALE_UPLOAD_AGE_MS, within the mode's folders. Logged like the objects; removed only with --confirm.
 */
export async function sweepUnfinishedUploads(storages: StorageSet, keep: (key: string) => boolean, confirm: boolean, now = Date.now()): Promise<void> {
  for (const storage of storages.storages) {
    const driver = fileDriverOf(storage.root.driver);
    if (driver === undefined) continue;
    const prefix = storage.root.path;
    const stale = (await driver.staleTemporaries(prefix, new Date(now - STALE_UPLOAD_AGE_MS))).filter((key) => keep(key.slice(prefix.length)));
    if (stale.length === 0) continue;
    for (const key of stale) log.info(`\twill be deleted: ${key.slice(prefix.length)} (an unfinished upload), from storage: ${storage.name}`);
    if (!confirm) {
      log.info('Dry run, nothing were deleted');
      continue;
    }
    await driver.sweepTemporaries(stale);
  }
}
