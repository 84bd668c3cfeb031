// `st transfer`: moves objects from one configured storage to another (WAL-G's storagetools/transfer): which
// files are missing in the target, how backups are grouped so a sentinel never exists without its data, and the
// worker pool that copies, waits for each file to appear, and deletes it from the source.

import { setTimeout as sleep } from 'node:timers/promises';
import type { Settings } from '../config/settings.ts';
import { WalgError, errorMessage } from '../errors.ts';
import { log } from '../log/logger.ts';
import type { Folder, ObjectInfo } from '../storage/driver.ts';
import { goQuote } from '../storage/go-text.ts';
import { listByPrefix } from './listing.ts';
import { openNamedStorage } from './storages.ts';

export const BACKUPS_FOLDER = 'basebackups_005/';
export const WAL_FOLDER = 'wal_005/';
const BACKUP_NAME_PREFIX = 'base_';
const SENTINEL_SUFFIX = '_backup_stop_sentinel.json';

/** One file to move, with the files that must reach a state first. */
export interface FileToMove {
  readonly path: string;
  /** Copy this file only after these have appeared in the target (a backup's sentinel waits for its data). */
  readonly copyAfter: readonly string[];
  /** Delete this file from the source only after these are deleted there (data waits for the sentinel). */
  readonly deleteAfter: readonly string[];
}

/** Files that move together (one backup), or a single file. */
export type FilesGroup = readonly FileToMove[];

export interface TransferPlan {
  readonly groups: readonly FilesGroup[];
  readonly fileCount: number;
}

export interface TransferSettings {
  /** --preserve: copy only, never delete from the source. */
  readonly preserveInSource: boolean;
  /** --fail-fast: the first failed file stops the run. */
  readonly failFast: boolean;
  /** --concurrency (>= 1). */
  readonly concurrency: number;
  /** --appearance-checks: how often to look for a written file in the target; 0 = do not look. */
  readonly appearanceChecks: number;
  /** --appearance-checks-interval, in milliseconds. */
  readonly appearanceChecksIntervalMs: number;
}

// ---------------------------------------------------------------------------------------------------------
// What to move

function logSizeDifference(source: ObjectInfo, target: ObjectInfo): void {
  if (source.size === target.size) return;
  log.warn(
    `File present in both storages and its size is different: ${goQuote(target.key)} ` +
      `(source ${source.size} bytes VS target ${target.size} bytes)`,
  );
}

/**
 * Objects under `prefix` in the source that the target lacks (with overwrite, every source object, warning about
 * size differences), in key order. WAL-G's order is Go's random map order; ours is stable.
 */
export async function listMissingFiles(source: Folder, target: Folder, prefix: string, overwrite: boolean): Promise<Map<string, ObjectInfo>> {
  let targetFiles: ObjectInfo[];
  try {
    targetFiles = await listByPrefix(target, prefix);
  } catch (error) {
    throw new WalgError(`list files in the target storage: ${errorMessage(error)}`, 1, { cause: error });
  }
  let sourceFiles: ObjectInfo[];
  try {
    sourceFiles = await listByPrefix(source, prefix);
  } catch (error) {
    throw new WalgError(`list files in the source storage: ${errorMessage(error)}`, 1, { cause: error });
  }
  log.info(`Total files in the source storage: ${sourceFiles.length}`);
  const missing = new Map<string, ObjectInfo>();
  for (const file of [...sourceFiles].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) missing.set(file.key, file);
  for (const file of targetFiles) {
    const inSource = missing.get(file.key);
    if (inSource === undefined) continue;
    if (overwrite) logSizeDifference(inSource, file);
    else missing.delete(file.key);
  }
  log.info(`Files missing in the target storage: ${missing.size}`);
  return missing;
}

/** `st transfer files|pg-wals`: every missing file on its own, at most maxFiles. */
export function planSeparateFiles(missing: ReadonlyMap<string, ObjectInfo>, maxFiles: number): TransferPlan {
  const groups: FilesGroup[] = [];
  for (const path of missing.keys()) {
    if (groups.length >= maxFiles) break;
    groups.push([{ path, copyAfter: [], deleteAfter: [] }]);
  }
  log.info(`Files will be transferred: ${groups.length}`);
  return { groups, fileCount: groups.length };
}

interface BackupFiles {
  sentinel: string | undefined;
  data: string[];
}

/** Which backup a path under basebackups_005/ belongs to, and whether it is the sentinel. */
export function categoriseBackupFile(path: string): { kind: 'sentinel' | 'data'; backup: string } | undefined {
  const relative = path.startsWith(BACKUPS_FOLDER) ? path.slice(BACKUPS_FOLDER.length) : path;
  const slash = relative.lastIndexOf('/');
  const directory = relative.slice(0, slash + 1);
  const name = relative.slice(slash + 1);
  if (directory === '' && name.startsWith(BACKUP_NAME_PREFIX) && name.endsWith(SENTINEL_SUFFIX)) {
    return { kind: 'sentinel', backup: name.slice(0, -SENTINEL_SUFFIX.length) };
  }
  if (directory.startsWith(BACKUP_NAME_PREFIX)) return { kind: 'data', backup: directory.slice(0, directory.indexOf('/')) };
  return undefined;
}

/**
 * The backup's files as one group: its data files first, each deleted from the source only after the sentinel is
 * deleted there, and the sentinel last, copied only after every data file has appeared in the target.
 */
function linkBackupGroup(backup: BackupFiles): FilesGroup {
  const sentinel = backup.sentinel!;
  const data = backup.data.map((path): FileToMove => ({ path, copyAfter: [], deleteAfter: [sentinel] }));
  return [...data, { path: sentinel, copyAfter: [...backup.data], deleteAfter: [] }];
}

/**
 * `st transfer backups [name]`: complete backups (with a sentinel) missing in the target, by name, limited by
 * maxBackups and by maxFiles (a backup that would exceed it ends the selection).
 */
export function planBackups(missing: ReadonlyMap<string, ObjectInfo>, backupName: string, maxFiles: number, maxBackups: number): TransferPlan {
  const backups = new Map<string, BackupFiles>();
  for (const path of missing.keys()) {
    const category = categoriseBackupFile(path);
    if (category === undefined) continue;
    if (backupName !== '' && backupName !== category.backup) continue;
    let backup = backups.get(category.backup);
    if (backup === undefined) {
      backup = { sentinel: undefined, data: [] };
      backups.set(category.backup, backup);
    }
    if (category.kind === 'sentinel') backup.sentinel = path;
    else backup.data.push(path);
  }
  log.info(`Backups missing in the target storage: ${backups.size}`);
  const groups: FilesGroup[] = [];
  let fileCount = 0;
  for (const name of [...backups.keys()].sort()) {
    const backup = backups.get(name)!;
    if (backup.sentinel === undefined) {
      log.info(`Skip incomplete backup without sentinel file: ${name}`);
      continue;
    }
    if (backup.data.length === 0) {
      log.warn(`Backup doesn't have any data: ${name}`);
      continue;
    }
    const group = linkBackupGroup(backup);
    if (fileCount + group.length > maxFiles) break;
    fileCount += group.length;
    groups.push(group);
    if (groups.length >= maxBackups) break;
  }
  log.info(`Backups will be transferred: ${groups.length}`);
  log.info(`Files will be transferred: ${fileCount}`);
  return { groups, fileCount };
}

// ---------------------------------------------------------------------------------------------------------
// Moving

type JobType = 'copy' | 'wait' | 'delete';

/** The states a file goes through; a dependent job waits for a minimum state. */
const STATUS_ORDER = { failed: -1, new: 0, copied: 1, appeared: 2, deleted: 3 } as const;
type TransferStatus = keyof typeof STATUS_ORDER;

interface Job {
  readonly path: string;
  readonly type: JobType;
  /** performance.now() of the previous appearance check, or undefined before the first. */
  readonly previousCheckAt: number | undefined;
  readonly checksDone: number;
}

interface Requirement {
  readonly path: string;
  readonly minimum: TransferStatus;
}

class JobError extends Error {}

/**
 * Runs the plan with `concurrency` workers (never more than there are groups, as in WAL-G). Each file is copied,
 * then checked for in the target, then deleted from the source (unless preserved); a job whose requirements are
 * not met yet goes back to the end of the queue. Failures are logged one by one and end in `finished with N
 * errors`; with failFast the first one stops the run and is the error.
 */
export async function runTransfer(source: Folder, target: Folder, plan: TransferPlan, settings: TransferSettings): Promise<void> {
  const statuses = new Map<string, TransferStatus>();
  const requirements = new Map<string, Requirement[]>();
  const queue: Job[] = [];
  let filesLeft = plan.fileCount;
  for (const group of plan.groups) {
    for (const file of group) {
      if (file.copyAfter.length > 0) {
        requirements.set(`copy ${file.path}`, file.copyAfter.map((path) => ({ path, minimum: 'appeared' })));
      }
      if (file.deleteAfter.length > 0) {
        requirements.set(`delete ${file.path}`, file.deleteAfter.map((path) => ({ path, minimum: 'deleted' })));
      }
      statuses.set(file.path, 'new');
      queue.push({ path: file.path, type: 'copy', previousCheckAt: undefined, checksDone: 0 });
    }
  }

  let cancelled = false;
  let errorCount = 0;
  let firstError: Error | undefined;

  const requirementsMet = (job: Job): boolean => {
    for (const required of requirements.get(`${job.type} ${job.path}`) ?? []) {
      const status = statuses.get(required.path);
      if (status === undefined) throw new JobError('job has a nonexistent requirement');
      if (status === 'failed') {
        throw new JobError(`${job.type} operation requires other file ${goQuote(required.path)} to be ${required.minimum}, but it's failed`);
      }
      if (STATUS_ORDER[status] < STATUS_ORDER[required.minimum]) return false;
    }
    return true;
  };

  const copyFile = async (job: Job): Promise<Job> => {
    let content;
    try {
      content = await source.get(job.path);
    } catch (error) {
      throw new JobError(`read file from the source storage: ${errorMessage(error)}`);
    }
    try {
      await target.put(job.path, content);
    } catch (error) {
      content.destroy();
      throw new JobError(`write file to the target storage: ${errorMessage(error)}`);
    }
    statuses.set(job.path, 'copied');
    return { ...job, type: 'wait' };
  };

  const waitForFile = async (job: Job): Promise<Job | undefined> => {
    let appeared = settings.appearanceChecks === 0;
    if (!appeared) {
      if (job.previousCheckAt !== undefined) {
        const waitMs = job.previousCheckAt + settings.appearanceChecksIntervalMs - performance.now();
        if (waitMs > 0) await sleep(waitMs);
      }
      try {
        appeared = await target.exists(job.path);
      } catch (error) {
        throw new JobError(`check if file exists in the target storage: ${errorMessage(error)}`);
      }
    }
    if (appeared) {
      statuses.set(job.path, 'appeared');
      return settings.preserveInSource ? undefined : { ...job, type: 'delete' };
    }
    const checksDone = job.checksDone + 1;
    if (checksDone >= settings.appearanceChecks) {
      throw new JobError(`couldn't wait for the file to appear in the target storage (${settings.appearanceChecks} checks performed)`);
    }
    log.warn(`Written file hasn't appeared in the target storage (check ${checksDone} of ${settings.appearanceChecks})`);
    return { ...job, previousCheckAt: performance.now(), checksDone };
  };

  const deleteFile = async (job: Job): Promise<void> => {
    try {
      await source.deleteMany([job.path]);
    } catch (error) {
      throw new JobError(`delete file from the source storage: ${errorMessage(error)}`);
    }
    statuses.set(job.path, 'deleted');
  };

  const reportError = (error: Error): void => {
    if (settings.failFast) {
      if (firstError === undefined) {
        firstError = error;
        cancelled = true;
      }
      return;
    }
    log.error(error.message);
    errorCount++;
  };

  const worker = async (): Promise<void> => {
    for (;;) {
      const job = queue.shift();
      if (job === undefined || cancelled) return;
      let nextJob: Job | undefined;
      try {
        if (requirementsMet(job)) {
          if (job.type === 'copy') nextJob = await copyFile(job);
          else if (job.type === 'wait') nextJob = await waitForFile(job);
          else await deleteFile(job);
        } else {
          nextJob = job;
          // Give the jobs it waits for a chance to progress instead of spinning.
          await sleep(1);
        }
      } catch (error) {
        filesLeft--;
        // WAL-G never marks a file failed, so a backup whose data file failed waited for it forever; we mark it,
        // and the sentinel then fails with WAL-G's "... but it's failed" message instead.
        statuses.set(job.path, 'failed');
        reportError(new WalgError(`error with file ${goQuote(job.path)}: ${job.type} failed: ${errorMessage(error)}`, 1, { cause: error }));
        continue;
      }
      if (nextJob !== undefined) {
        queue.push(nextJob);
        continue;
      }
      filesLeft--;
      log.info(`File is transferred (${filesLeft} left): ${goQuote(job.path)}`);
    }
  };

  const workers = Math.min(settings.concurrency, plan.groups.length);
  await Promise.all(Array.from({ length: workers }, worker));
  if (firstError !== undefined) throw firstError;
  if (errorCount > 0) throw new WalgError(`finished with ${errorCount} errors`);
}

/** Opens the --source and --target storages, with WAL-G's `configure source/target storage folder:` prefixes. */
export async function openTransferStorages(settings: Settings, sourceName: string, targetName: string): Promise<{ source: Folder; target: Folder }> {
  let source: Folder;
  try {
    source = await openNamedStorage(settings, sourceName);
  } catch (error) {
    throw new WalgError(`configure source storage folder: ${errorMessage(error)}`, 1, { cause: error });
  }
  try {
    return { source, target: await openNamedStorage(settings, targetName) };
  } catch (error) {
    await source.close().catch(() => undefined);
    throw new WalgError(`configure target storage folder: ${errorMessage(error)}`, 1, { cause: error });
  }
}
