// `wal-g copy`: copies every object, or one backup with the WAL it needs, from the storage one config file describes
// to the storage another describes, byte for byte (WAL-G's HandleCopy). Unlike WAL-G, the sentinels are copied last,
// after everything else arrived, so the destination never lists a backup whose files are still on their way; and a
// config file that cannot be used is an error (WAL-G logs it and exits 0).

import type { Settings } from '../config/settings.ts';
import { log } from '../log/logger.ts';
import { COPY_CONCURRENCY, copyOne, forEachLimited, storageFromConfig, type ConfiguredStorage } from '../st/copy.ts';
import { listRecursively } from '../st/listing.ts';
import type { Folder, ObjectInfo } from '../storage/driver.ts';
import { walSegmentNameForLsn, walSegmentSizeFromSetting } from '../wal/names.ts';
import { backupByName } from './catalog.ts';
import { BASE_BACKUP_FOLDER, isSentinelKey, timelineOfBackupName, WAL_FOLDER } from './names.ts';
import { StorageSet, DEFAULT_STORAGE_NAME } from './storage-set.ts';

export interface BackupCopyOptions {
  readonly fromConfig: string;
  readonly toConfig: string;
  /** '' copies everything; a name or LATEST copies that backup and its WAL. */
  readonly backupName: string;
  /** -w: every WAL file from the backup's start on, not only up to its end. */
  readonly withAllHistory: boolean;
}

interface CopyJob {
  readonly from: Folder;
  readonly to: Folder;
  readonly object: ObjectInfo;
}

/** WAL-G's GetWalFileName: an object name up to its first dot. */
function walFileNameOfObject(name: string): string {
  const dot = name.indexOf('.');
  return dot < 0 ? name : name.slice(0, dot);
}

async function backupJobs(from: Folder, to: Folder, options: BackupCopyOptions, segmentSize: number): Promise<CopyJob[]> {
  log.info(`Handle backupname '${options.backupName}'.`);
  const backup = await backupByName(new StorageSet([{ name: DEFAULT_STORAGE_NAME, root: from }]), options.backupName);
  log.info('Collecting backup files...');
  const backupPrefix = BASE_BACKUP_FOLDER + backup.name; // a plain string prefix, as WAL-G matches it
  const jobs: CopyJob[] = (await listRecursively(from))
    .filter((object) => object.key.startsWith(backupPrefix))
    .map((object) => ({ from, to, object }));

  let metadata;
  try {
    metadata = await backup.metadata();
  } catch (error) {
    log.info('No meta found.');
    throw error;
  }
  const timeline = timelineOfBackupName(backup.name) ?? 1;
  const firstWal = walSegmentNameForLsn(timeline, metadata.startLsn > 0n ? metadata.startLsn - 1n : 0n, segmentSize);
  const lastWal = walSegmentNameForLsn(timeline, metadata.finishLsn, segmentSize);
  const walFrom = from.subFolder(WAL_FOLDER);
  const walTo = to.subFolder(WAL_FOLDER);
  for (const object of await listRecursively(walFrom)) {
    const walName = walFileNameOfObject(object.key);
    if (walName >= firstWal && (options.withAllHistory || walName <= lastWal)) jobs.push({ from: walFrom, to: walTo, object });
  }
  return jobs;
}

export async function copyBackups(main: Settings, options: BackupCopyOptions): Promise<void> {
  const from = await storageFromConfig(options.fromConfig, main);
  let to: ConfiguredStorage | undefined;
  try {
    to = await storageFromConfig(options.toConfig, main);
    let jobs: CopyJob[];
    if (options.backupName === '') {
      log.info('Copy all backups and history.');
      const target = to.folder;
      jobs = (await listRecursively(from.folder)).map((object) => ({ from: from.folder, to: target, object }));
    } else {
      jobs = await backupJobs(from.folder, to.folder, options, walSegmentSizeFromSetting(main.get('WALG_PG_WAL_SIZE')));
    }
    const sentinels = jobs.filter((job) => isSentinelKey(job.object.key));
    const others = jobs.filter((job) => !isSentinelKey(job.object.key));
    const copy = (job: CopyJob): Promise<void> => copyOne(job.from, job.to, job.object, []);
    await forEachLimited(others, COPY_CONCURRENCY, copy);
    await forEachLimited(sentinels, COPY_CONCURRENCY, copy);
    log.info('Success copy.');
  } finally {
    await from.folder.close().catch(() => undefined);
    await to?.folder.close().catch(() => undefined);
  }
}
