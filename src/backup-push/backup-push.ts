// `wal-g backup-push [PGDATA]` from options to a stored backup: WAL-G's flag and setting rules, the storage to push
// to, the server facts, then a local backup (with PGDATA) or a streamed one (without).

import { realpath } from 'node:fs/promises';
import { resolve } from 'node:path';
import { StorageSet } from '../backup/storage-set.ts';
import { parseJson, type JsonValue } from '../backup/json.ts';
import { parseUserDataJson, type Settings } from '../config/settings.ts';
import { errorMessage, WalgError } from '../errors.ts';
import { log } from '../log/logger.ts';
import { configuredCodec, configuredCrypter } from '../objects/configured.ts';
import { openStoragesForWrite } from '../multistorage/multi-storage.ts';
import { installRateLimits } from '../storage/rate-limit.ts';
import { walSegmentSizeFromSetting } from '../wal/names.ts';
import { backupTimeNow } from './backup-documents.ts';
import type { ComposerKind } from './composers/composer-factory.ts';
import { chooseDeltaParent, deltaOriginFromFull, deltaSelector, type DeltaParent } from './delta-base.ts';
import { checkDataDirectoryLooksLikePgdata, pushLocalBackup, type ServerInfo } from './local-backup.ts';
import { PostgresSession } from './postgres-session.ts';
import { pushStreamedBackup } from './streamed-backup.ts';

export interface BackupPushRequest {
  /** The PGDATA argument, or undefined for a streamed backup. */
  readonly dataDirectory: string | undefined;
  readonly settings: Settings;
  readonly env: NodeJS.ProcessEnv;
  readonly permanent: boolean;
  readonly full: boolean;
  readonly verify: boolean;
  readonly storeAllCorrupt: boolean;
  readonly ratingComposer: boolean;
  readonly copyComposer: boolean;
  readonly databaseComposer: boolean;
  readonly deltaFromName: string;
  readonly deltaFromUserData: string;
  readonly addUserData: string;
  readonly withoutFilesMetadata: boolean;
  readonly targetStorage: string;
  readonly turbo: boolean;
  /** Walnut-only: --delta-from-wal-summaries (or WALNUT_DELTA_FROM_WAL_SUMMARIES). */
  readonly deltaFromWalSummaries?: boolean;
}

/** WAL-G's chooseTarBallComposer: regular < rating < database < copy, the last one set winning. */
function chooseComposer(request: BackupPushRequest): ComposerKind {
  let composer: ComposerKind = 'regular';
  if (request.ratingComposer || request.settings.bool('WALG_USE_RATING_COMPOSER')) composer = 'rating';
  if (request.databaseComposer || request.settings.bool('WALG_USE_DATABASE_COMPOSER')) composer = 'database';
  if (request.copyComposer || request.settings.bool('WALG_USE_COPY_COMPOSER')) composer = 'copy';
  return composer;
}

/**
 * --add-user-data / WALG_SENTINEL_USER_DATA as WAL-G reads it (any JSON value), kept exactly as written so the
 * sentinel re-encodes it as Go does; invalid JSON fails with WAL-G's message.
 */
export function parseUserData(text: string): JsonValue | undefined {
  if (text === '') return undefined;
  try {
    parseUserDataJson(text);
  } catch (error) {
    throw new WalgError(`Failed to unmarshal the provided UserData: ${errorMessage(error)}`, 1, { cause: error });
  }
  return parseJson(text);
}

/** GetPgServerInfo: a short connection for the data directory, version, system identifier and timeline. */
export async function readServerInfo(env: NodeJS.ProcessEnv, segmentSize: number): Promise<ServerInfo> {
  const session = await PostgresSession.open(env);
  try {
    const dataDirectory = await session.dataDirectory();
    let resolved = dataDirectory;
    try {
      resolved = await realpath(dataDirectory);
    } catch {
      // WAL-G keeps the server's text when it cannot resolve it (another host, say).
    }
    log.debug(`Datadir: ${resolved}`);
    return { dataDirectory: resolved, pgVersion: session.version, systemIdentifier: session.systemIdentifier, timeline: await session.timeline(segmentSize) };
  } finally {
    await session.close();
  }
}

/** Runs backup-push; returns nothing, the result is the stored backup and WAL-G's log lines. */
export async function runBackupPush(request: BackupPushRequest): Promise<void> {
  const { settings } = request;
  const limits = installRateLimits(settings, request.turbo);
  const selection = await openStoragesForWrite(settings, request.targetStorage, { configureErrorPrefix: 'Failed to configure multi-storage: ' });
  try {
    log.info(`Backup will be pushed to storage: ${selection.name}`);
    const composer = chooseComposer(request);
    let full = request.full || composer === 'copy';
    const deltaFromName = request.deltaFromName || (settings.get('WALG_DELTA_FROM_NAME') ?? '');
    const deltaFromUserData = request.deltaFromUserData || (settings.get('WALG_DELTA_FROM_USER_DATA') ?? '');
    const userDataText = request.addUserData || (settings.get('WALG_SENTINEL_USER_DATA') ?? '');
    const withoutFilesMetadata = request.withoutFilesMetadata || settings.bool('WALG_WITHOUT_FILES_METADATA');
    if (withoutFilesMetadata) {
      if (composer !== 'regular') throw new WalgError('without-files-metadata option cannot be used with non-regular tar ball composer');
      if (deltaFromName !== '' || deltaFromUserData !== '') {
        throw new WalgError('without-files-metadata option cannot be used with delta-from-name, delta-from-user-data options');
      }
      log.info('Files metadata tracking is disabled');
      full = true;
    }
    if (deltaFromName !== '' && deltaFromUserData !== '') throw new WalgError('only one delta target should be specified');
    const selector = deltaSelector(deltaFromName, deltaFromUserData === '' ? undefined : parseUserDataJson(deltaFromUserData), deltaFromUserData !== '');
    const userData = parseUserData(userDataText);
    const verifyPageChecksums = request.verify || settings.bool('WALG_VERIFY_PAGE_CHECKSUMS');

    const segmentSize = walSegmentSizeFromSetting(settings.get('WALG_PG_WAL_SIZE'));
    const server = await readServerInfo(request.env, segmentSize);
    const startTime = backupTimeNow();
    const codec = configuredCodec(settings);
    const crypter = configuredCrypter(settings);
    const sizeThreshold = settings.int('WALG_TAR_SIZE_THRESHOLD');

    if (request.dataDirectory === undefined) {
      await pushStreamedBackup({
        server,
        storage: { name: selection.name, root: selection.folder },
        env: request.env,
        codec,
        crypter,
        segmentSize,
        sizeThreshold,
        isPermanent: request.permanent,
        withoutFilesMetadata,
        userData,
        startTime,
        verifyChecksums: verifyPageChecksums,
        diskRateLimit: request.turbo || !settings.isSet('WALG_DISK_RATE_LIMIT') ? undefined : settings.int('WALG_DISK_RATE_LIMIT'),
      });
      return;
    }

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

    let parent: DeltaParent | undefined;
    if (full) {
      log.info('Doing full backup.');
    } else {
      const fromFull = deltaOriginFromFull(settings.get('WALG_DELTA_ORIGIN'));
      const storages = new StorageSet([{ name: selection.name, root: selection.folder }]);
      parent = await chooseDeltaParent(storages, selector, { maxSteps: settings.int('WALG_DELTA_MAX_STEPS'), fromFull }, request.permanent);
    }
    const diskConcurrency = request.turbo ? 4 : settings.concurrency('WALG_UPLOAD_DISK_CONCURRENCY');
    const name = await pushLocalBackup({
      server,
      storage: { name: selection.name, root: selection.folder },
      env: request.env,
      codec,
      crypter,
      segmentSize,
      pageSize: settings.int('WALG_PG_BLOCK_SIZE') || 8192,
      sizeThreshold,
      diskConcurrency,
      uploadQueue: settings.concurrency('WALG_UPLOAD_QUEUE'),
      diskLimit: limits.disk,
      isPermanent: request.permanent,
      withoutFilesMetadata,
      userData,
      parent,
      startTime,
      stopBackupTimeoutMs: settings.durationMs('WALG_STOP_BACKUP_TIMEOUT') ?? 0,
      aliveCheckIntervalMs: settings.durationMs('WALG_ALIVE_CHECK_INTERVAL'),
      collectDatabaseNames: !settings.bool('WALG_DISABLE_PARTIAL_RESTORE'),
      useWalDelta: settings.bool('WALG_USE_WAL_DELTA'),
      forceWalDelta: settings.bool('WALG_FORCE_WAL_DELTA'),
      walPageSize: settings.int('WALG_PG_WAL_PAGE_SIZE') || 8192,
      composer,
      verifyPageChecksums,
      storeAllCorruptBlocks: request.storeAllCorrupt || settings.bool('WALG_STORE_ALL_CORRUPT_BLOCKS'),
      deltaFromWalSummaries: request.deltaFromWalSummaries === true || settings.bool('WALNUT_DELTA_FROM_WAL_SUMMARIES'),
    });
    log.info(`Wrote backup with name ${name} to storage ${selection.name}`);
  } finally {
    await selection.close();
  }
}
