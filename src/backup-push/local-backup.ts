// `backup-push <PGDATA>`: WAL-G's local backup, step by step — non-exclusive start, the walk into tar parts,
// pg_control.tar, stop and backup_label.tar, then metadata.json, files_metadata.json and finally the sentinel.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { GoTime } from '../backup/go-time.ts';
import type { JsonValue } from '../backup/json.ts';
import { BASE_BACKUP_FOLDER, tarPartitionFolder, WAL_FOLDER, walFileNameOf } from '../backup/names.ts';
import { markBackup } from '../backup/mark.ts';
import { StorageSet } from '../backup/storage-set.ts';
import { isEmptyTablespaceSpec } from '../backup/tablespace-spec.ts';
import type { Codec } from '../compression/codec.ts';
import type { Crypter } from '../crypto/crypter.ts';
import { errorMessage, WalgError } from '../errors.ts';
import { log } from '../log/logger.ts';
import type { Folder } from '../storage/driver.ts';
import type { TokenBucket } from '../storage/rate-limit.ts';
import { formatLsn, formatWalSegmentName, segmentNumberOfLsn } from '../wal/names.ts';
import { SystemAccountNames } from './account-names.ts';
import { backupDocuments, currentEpochNanoseconds, uploadBackupDocuments, type PushedBackup } from './backup-documents.ts';
import { BackupTerminator, type TerminatorHooks } from './backup-terminator.ts';
import { makeTarComposer, type ComposerKind } from './composers/composer-factory.ts';
import type { DeltaParent } from './delta-base.ts';
import { FilesMetadataSpool } from './metadata-spool.ts';
import { collectDatabaseNames } from './partial-restore.ts';
import { DataDirectoryWalker } from './pgdata-walk.ts';
import { backupLabel, hasTablespaceMap } from './postgres-queries.ts';
import { PostgresSession } from './postgres-session.ts';
import { checkDataChecksums, PageVerifier } from './page-checksum.ts';
import { localBackupMemoryBound, type ChangedBlockMap, type TarComposer } from './tar-composer.ts';
import { loadWalDeltaMap } from './wal-delta-map.ts';
import { loadWalSummaryDeltaMap } from './wal-summaries.ts';

/** What the server told backup-push before it started (WAL-G's BackupPgInfo). */
export interface ServerInfo {
  readonly pgVersion: number;
  /** data_directory with symlinks resolved. */
  readonly dataDirectory: string;
  readonly systemIdentifier: bigint | undefined;
  readonly timeline: number;
}

export interface LocalBackupOptions {
  readonly server: ServerInfo;
  /** The storage root the backup goes to, and its name for the final log line. */
  readonly storage: { readonly name: string; readonly root: Folder };
  readonly env: NodeJS.ProcessEnv;
  readonly codec: Codec;
  readonly crypter?: Crypter;
  readonly segmentSize: number;
  readonly pageSize: number;
  readonly sizeThreshold: number;
  readonly diskConcurrency: number;
  readonly uploadQueue: number;
  readonly diskLimit?: TokenBucket;
  readonly isPermanent: boolean;
  readonly withoutFilesMetadata: boolean;
  readonly userData?: JsonValue;
  /** The delta parent already chosen (undefined: full backup). */
  readonly parent?: DeltaParent;
  readonly startTime: GoTime;
  readonly stopBackupTimeoutMs: number;
  readonly aliveCheckIntervalMs: number | undefined;
  readonly collectDatabaseNames: boolean;
  /** WALG_USE_WAL_DELTA / WALG_FORCE_WAL_DELTA: changed blocks from WAL sidecars instead of the page scan. */
  readonly useWalDelta: boolean;
  readonly forceWalDelta: boolean;
  /** WALG_PG_WAL_PAGE_SIZE. */
  readonly walPageSize: number;
  /** The tar ball composer (--rating-composer, --database-composer, --copy-composer); regular when absent. */
  readonly composer?: ComposerKind;
  /** --verify / WALG_VERIFY_PAGE_CHECKSUMS, and --store-all-corrupt / WALG_STORE_ALL_CORRUPT_BLOCKS. */
  readonly verifyPageChecksums?: boolean;
  readonly storeAllCorruptBlocks?: boolean;
  /** Walnut-only --delta-from-wal-summaries: changed blocks from PostgreSQL 17+ WAL summaries. */
  readonly deltaFromWalSummaries?: boolean;
  /** Where the backup goes below the storage root: basebackups_005/ unless given (catchup-push: catchup_005/). */
  readonly backupsFolder?: string;
  /** Names the walk leaves out beside WAL-G's ExcludedFilenames. */
  readonly extraExcludedNames?: ReadonlySet<string>;
}

/** checkPgVersionAndPgControl: the directory must hold global/pg_control and PG_VERSION. */
export async function checkDataDirectoryLooksLikePgdata(dataDirectory: string): Promise<void> {
  for (const [path, what] of [
    [join(dataDirectory, 'global', 'pg_control'), 'PgControl'],
    [join(dataDirectory, 'PG_VERSION'), 'PG_VERSION'],
  ] as const) {
    try {
      await readFile(path);
    } catch (error) {
      throw new WalgError(`It looks like you are trying to backup not pg_data. ${what} file not found: ${errorMessage(error)}`);
    }
  }
}

/** Warnings about WAL archiving on a primary (WAL-G's CheckArchiveCommand). */
async function checkArchiving(session: PostgresSession): Promise<void> {
  if (await session.isInRecovery()) return;
  const mode = await session.archiveMode();
  if (mode !== 'on' && mode !== 'always') {
    log.warn('archive_mode is not enabled. This may cause inconsistent backups. Please consider configuring WAL archiving.');
    return;
  }
  const command = await session.archiveCommand();
  if (command === '' || command === '(disabled)') {
    log.warn('archive_command is not configured. This may cause inconsistent backups. Please consider configuring WAL archiving.');
  }
}

/** Runs one local backup; returns its name once the sentinel is stored. */
export async function pushLocalBackup(options: LocalBackupOptions): Promise<string> {
  const { server, parent } = options;
  const baseBackups = options.storage.root.subFolder(options.backupsFolder ?? BASE_BACKUP_FOLDER);
  const session = await PostgresSession.open(options.env);
  let spool: FilesMetadataSpool | undefined;
  let composer: TarComposer | undefined;
  const hooks: TerminatorHooks = {
    abortUploads: (reason) => composer?.abort(reason),
    stopBackup: undefined,
    ping: () => session.ping(),
  };
  const terminator = new BackupTerminator(hooks, options.aliveCheckIntervalMs);
  try {
    spool = options.withoutFilesMetadata ? undefined : await FilesMetadataSpool.create();
    const work = async (): Promise<string> => {
      // startBackup
      const label = backupLabel(currentEpochNanoseconds(), process.uptime());
      const start = await session.startBackup(label);
      hooks.stopBackup = async () => {
        await session.stopBackup(options.stopBackupTimeoutMs);
      };
      let timeline = server.timeline;
      let name: string;
      if (start.inRecovery) {
        timeline = await session.timeline(options.segmentSize);
        name = `base_${formatWalSegmentName(timeline, segmentNumberOfLsn(start.lsn - 1n, options.segmentSize), options.segmentSize)}`;
      } else {
        try {
          timeline = await session.timeline(options.segmentSize);
        } catch (error) {
          log.warn(`Couldn't get current timeline because of error: '${errorMessage(error)}'`);
        }
        name = `base_${start.walFileName}`;
      }
      log.debug(`Backup name: ${name}\nBackup start LSN: ${formatLsn(start.lsn)}`);
      terminator.arm();

      const verifyPages = await checkDataChecksums(session, options.verifyPageChecksums === true);
      await checkArchiving(session);

      // handleDeltaBackup; a nameless parent (catchup-push's LSN-only sentinel) is no delta here, as in WAL-G.
      let deltaMap: ChangedBlockMap | undefined;
      if (parent !== undefined && parent.name !== '') {
        log.info('Delta backup enabled');
        if ((parent.sentinel.finishLsn ?? 0n) > start.lsn) throw new WalgError(`Finish LSN of backup ${parent.name} greater than current LSN`);
        if (
          parent.sentinel.systemIdentifier !== undefined &&
          server.systemIdentifier !== undefined &&
          parent.sentinel.systemIdentifier !== server.systemIdentifier
        ) {
          throw new WalgError('Current database and database of base backup are not equal.');
        }
        if (options.deltaFromWalSummaries === true) {
          deltaMap = await loadWalSummaryDeltaMap(session, {
            parentStartLsn: parent.sentinel.startLsn!,
            parentTimeline: parseInt(walFileNameOf(parent.name).slice(0, 8), 16),
            startLsn: start.lsn,
            timeline,
          });
        }
        if (deltaMap === undefined && options.useWalDelta) {
          try {
            deltaMap = await loadWalDeltaMap(
              {
                walFolder: options.storage.root.subFolder(WAL_FOLDER),
                crypter: options.crypter,
                timeline,
                segmentSize: options.segmentSize,
                walPageSize: options.walPageSize,
                blockSize: options.pageSize,
              },
              parent.sentinel.startLsn!,
              start.lsn,
            );
            log.info('Successfully loaded delta map, delta backup will be made with provided delta map');
          } catch (error) {
            if (options.forceWalDelta) throw new WalgError(`Failed to load delta map from previous backup: ${errorMessage(error)}`, 1, { cause: error });
            log.warn(`Error during loading delta map: '${errorMessage(error)}'. Fallback to full scan delta backup`);
          }
        }
        name = `${name}_D_${walFileNameOf(parent.name)}`;
      }

      // uploadBackup
      log.info('Starting a new tar bundle');
      const composerOptions = {
        folder: baseBackups.subFolder(tarPartitionFolder(name)),
        codec: options.codec,
        crypter: options.crypter,
        sizeThreshold: options.sizeThreshold,
        diskConcurrency: options.diskConcurrency,
        uploadQueue: options.uploadQueue,
        spool,
        accounts: new SystemAccountNames(),
        pageSize: options.pageSize,
        deltaLsn: parent?.sentinel.startLsn,
        deltaMap,
        diskLimit: options.diskLimit,
        pageVerifier: verifyPages ? new PageVerifier({ startLsn: start.lsn, storeAllCorruptBlocks: options.storeAllCorruptBlocks === true, pageSize: options.pageSize }) : undefined,
      };
      composer = await makeTarComposer(options.composer ?? 'regular', composerOptions, {
        session,
        env: options.env,
        storages: new StorageSet([{ name: options.storage.name, root: options.storage.root }]),
        baseBackups,
        newBackupName: name,
      });
      log.debug(
        `Memory for the data path is bounded by ${(localBackupMemoryBound(options.codec, options.crypter !== undefined, options.diskConcurrency, options.uploadQueue) / 1048576).toFixed(0)} MiB`,
      );
      log.info('Walking ...');
      const walked = await new DataDirectoryWalker({
        dataDirectory: server.dataDirectory,
        sink: composer,
        pageSize: options.pageSize,
        extraExcludedNames: options.extraExcludedNames,
        deltaBase: parent === undefined ? undefined : { startLsn: parent.sentinel.startLsn!, modificationTimes: parent.modificationTimes },
      }).walk();
      log.info('Packing ...');
      await composer.finishComposing();
      await composer.finishQueue();
      if (walked.pgControl === undefined) throw new WalgError(`UploadPgControl: ${server.dataDirectory} has no global/pg_control`);
      await composer.uploadPgControl(walked.pgControl);

      // Stop the backup; the label files go into their own tar.
      const stop = await session.stopBackup(options.stopBackupTimeoutMs);
      hooks.stopBackup = undefined;
      if (hasTablespaceMap(server.pgVersion)) {
        const labelTar = await composer.uploadLabelFiles(stop.labelFile, stop.tablespaceMap);
        log.debug(`Labelfiles tarball name: ${labelTar.name}`);
      }
      if (start.inRecovery) {
        let changed = false;
        try {
          changed = (await session.timeline(options.segmentSize)) !== timeline;
          if (changed) log.error('Timeline has changed since backup start. Sentinel for the backup will not be uploaded.');
        } catch {
          log.error('Unable to check timeline change. Sentinel for the backup will not be uploaded.');
          changed = true;
        }
        if (changed) throw new WalgError('Cannot finish backup because of changed timeline.');
      }

      // setupDTO
      if (spool !== undefined && options.collectDatabaseNames) await collectDatabaseNames(session, options.env, spool);
      const pushed: PushedBackup = {
        name,
        startLsn: start.lsn,
        finishLsn: stop.lsn,
        pgVersion: server.pgVersion,
        systemIdentifier: server.systemIdentifier,
        uncompressedSize: composer.uncompressedSize,
        compressedSize: composer.storedBytes,
        dataCatalogSize: walked.dataCatalogSize,
        spec: isEmptyTablespaceSpec(walked.tablespaceSpec) ? undefined : walked.tablespaceSpec,
        userData: options.userData,
        filesMetadataDisabled: options.withoutFilesMetadata,
        isPermanent: options.isPermanent,
        dataDir: server.dataDirectory,
        startTime: options.startTime,
        parent: parent === undefined ? undefined : { name: parent.name, sentinel: parent.sentinel, incrementCount: parent.incrementCount },
      };
      // markBackups: a permanent delta makes its whole chain permanent before its own metadata exists.
      if (options.isPermanent && parent !== undefined) await markBackup(options.storage.root, parent.name, true);
      const filesMetadata = spool;
      await uploadBackupDocuments(baseBackups, name, backupDocuments(pushed), filesMetadata === undefined ? undefined : () => filesMetadata.documentStream());
      return name;
    };
    const running = work();
    running.catch(() => undefined);
    // A termination (signal, dead server) wins the race; its uploads were cut and no sentinel follows.
    return await Promise.race([running, terminator.terminated]);
  } catch (error) {
    // Uploads still running are cut so they leave no object; closing the session ends the server's backup mode.
    composer?.abort(error instanceof Error ? error : new Error(String(error)));
    throw error;
  } finally {
    terminator.dispose();
    await session.close();
    await spool?.dispose();
  }
}
