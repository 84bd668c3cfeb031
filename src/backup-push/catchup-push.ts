// `catchup-push PGDATA --from-lsn LSN`: a local backup of the data directory into catchup_005/, whose sentinel names
// the LSN a lagging replica stopped at, without the server's configuration files (WAL-G's HandleCatchupPush).

import { realpath } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Settings } from '../config/settings.ts';
import { WalgError } from '../errors.ts';
import { log } from '../log/logger.ts';
import { openStoragesForWrite } from '../multistorage/multi-storage.ts';
import { configuredCodec, configuredCrypter } from '../objects/configured.ts';
import { installRateLimits } from '../storage/rate-limit.ts';
import { walSegmentSizeFromSetting } from '../wal/names.ts';
import { backupTimeNow } from './backup-documents.ts';
import { parseUserData, readServerInfo } from './backup-push.ts';
import type { DeltaParent } from './delta-base.ts';
import { checkDataDirectoryLooksLikePgdata, pushLocalBackup } from './local-backup.ts';

/** WAL-G's utility.CatchupPath. */
export const CATCHUP_FOLDER = 'catchup_005/';

/** extendExcludedFiles: a replica keeps its own server configuration. */
export const CATCHUP_EXCLUDED_NAMES: ReadonlySet<string> = new Set(['pg_hba.conf', 'postgresql.conf', 'postgresql.auto.conf']);

export interface CatchupPushRequest {
  readonly dataDirectory: string;
  /** --from-lsn: the replica's position (its checkpoint's redo LSN). */
  readonly fromLsn: bigint;
  readonly settings: Settings;
  readonly env: NodeJS.ProcessEnv;
}

/**
 * The stand-in parent WAL-G's CatchupDeltaBackupConfigurator gives the backup: only a start LSN, no name, no files.
 * The sentinel therefore records DeltaLSN = from-lsn, DeltaFrom = DeltaFullName = "" and DeltaCount = 1; with no
 * recorded files nothing is skipped or incremented, so every file is stored whole, as WAL-G v3.0.8 does.
 */
export function catchupParent(fromLsn: bigint): DeltaParent {
  return {
    name: '',
    sentinel: { startLsn: fromLsn, pgVersion: 0, uncompressedSize: 0, compressedSize: 0, dataCatalogSize: 0, filesMetadataDisabled: false },
    incrementCount: 1,
    modificationTimes: new Map(),
  };
}

/** Runs catchup-push; returns the name of the stored catchup backup. */
export async function runCatchupPush(request: CatchupPushRequest): Promise<string> {
  const { settings } = request;
  const limits = installRateLimits(settings, false);
  const selection = await openStoragesForWrite(settings, '', { configureErrorPrefix: 'Failed to configure multi-storage: ' });
  try {
    const userData = parseUserData(settings.get('WALG_SENTINEL_USER_DATA') ?? '');
    const segmentSize = walSegmentSizeFromSetting(settings.get('WALG_PG_WAL_SIZE'));
    const server = await readServerInfo(request.env, segmentSize);
    const startTime = backupTimeNow();
    let fromCommandLine = resolve(request.dataDirectory);
    try {
      fromCommandLine = await realpath(fromCommandLine);
    } catch {
      // compared as given, like WAL-G's ResolveSymlink on a missing path
    }
    if (fromCommandLine !== server.dataDirectory) {
      throw new WalgError(`Data directory from command line '${request.dataDirectory}' is not the same as Postgres' one '${server.dataDirectory}'`);
    }
    await checkDataDirectoryLooksLikePgdata(server.dataDirectory);
    const name = await pushLocalBackup({
      server,
      storage: { name: selection.name, root: selection.folder },
      env: request.env,
      codec: configuredCodec(settings),
      crypter: configuredCrypter(settings),
      segmentSize,
      pageSize: settings.int('WALG_PG_BLOCK_SIZE') || 8192,
      sizeThreshold: settings.int('WALG_TAR_SIZE_THRESHOLD'),
      diskConcurrency: settings.concurrency('WALG_UPLOAD_DISK_CONCURRENCY'),
      uploadQueue: settings.concurrency('WALG_UPLOAD_QUEUE'),
      diskLimit: limits.disk,
      isPermanent: false,
      withoutFilesMetadata: false,
      userData,
      parent: catchupParent(request.fromLsn),
      startTime,
      stopBackupTimeoutMs: settings.durationMs('WALG_STOP_BACKUP_TIMEOUT') ?? 0,
      aliveCheckIntervalMs: settings.durationMs('WALG_ALIVE_CHECK_INTERVAL'),
      collectDatabaseNames: !settings.bool('WALG_DISABLE_PARTIAL_RESTORE'),
      useWalDelta: false,
      forceWalDelta: false,
      walPageSize: settings.int('WALG_PG_WAL_PAGE_SIZE') || 8192,
      backupsFolder: CATCHUP_FOLDER,
      extraExcludedNames: CATCHUP_EXCLUDED_NAMES,
    });
    log.info(`Wrote backup with name ${name} to storage ${selection.name}`);
    return name;
  } finally {
    await selection.close();
  }
}
