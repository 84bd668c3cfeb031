// wal-push (WAL-G's HandleWALPush): marker check, overwrite protection, the background uploader, the upload of
// `wal_005/<name>.<ext>` and the WAL metadata. Used by the command and by the daemon.

import { open } from '../storage/local-fs.ts';
import { basename } from 'node:path';
import type { Readable } from 'node:stream';
import type { Codec } from '../compression/codec.ts';
import type { Settings } from '../config/settings.ts';
import type { Crypter } from '../crypto/crypter.ts';
import { WalgError, errorMessage } from '../errors.ts';
import { log } from '../log/logger.ts';
import { configuredCodec, configuredCrypter } from '../objects/configured.ts';
import { findByBaseName, openDecoded, storedName, uploadStream } from '../objects/transfer.ts';
import type { Folder } from '../storage/driver.ts';
import { pathErrorText } from '../storage/go-text.ts';
import { PooledFileReader } from '../stream/file-source.ts';
import {
  openArchiveStatusMarkers,
  PostgresArchiveStatus,
  walFolderFromSetting,
  type ArchiveStatusMarkers,
} from './archive-status.ts';
import { BackgroundUploader } from './background-uploader.ts';
import { isWalSegmentName, walSegmentSizeFromSetting } from './names.ts';
import { createWalDeltaRecorder, type WalDeltaRecorder } from './wal-delta.ts';
import { uploadLocalWalMetadata } from './wal-metadata.ts';

/** The folder WAL objects live in, below the storage root. */
export const WAL_FOLDER = 'wal_005';

export interface WalPusherOptions {
  /** Storage root; objects go to `wal_005/`. */
  readonly root: Folder;
  readonly codec: Codec;
  readonly crypter: Crypter | undefined;
  readonly markers: ArchiveStatusMarkers;
  readonly postgresArchiveStatus: PostgresArchiveStatus;
  /** WALG_PREVENT_WAL_OVERWRITE (`.history` files are always protected on top of this). */
  readonly preventOverwrite: boolean;
  /** PG_READY_RENAME. */
  readonly readyRename: boolean;
  /** WALG_UPLOAD_WAL_METADATA as given (checked when used, as WAL-G does). */
  readonly metadataLevel: string;
  /** WALG_UPLOAD_CONCURRENCY, read when a push starts (an invalid value fails that push). */
  readonly uploadConcurrency: () => number;
  /** TOTAL_BG_UPLOADED_LIMIT. */
  readonly totalBackgroundLimit: number;
  readonly segmentSize: number;
  readonly walDelta: WalDeltaRecorder | undefined;
}

export interface PushOptions {
  /** Aborting (the daemon's upload timeout) fails the upload before the object is stored. */
  readonly signal?: AbortSignal;
  /** Run WAL-G's background uploader during the push (default true; the daemon uploads ahead on its own). */
  readonly background?: boolean;
}

/** How a local file compares with what the storage already holds under its name. */
export type ArchivedComparison = 'absent' | 'equal' | 'different';

/** Overwrite protection for one file: the setting, or always for timeline history files (WAL-G issue 420). */
export function preventsOverwrite(settingOn: boolean, walFilePath: string): boolean {
  return settingOn || walFilePath.endsWith('.history');
}

/** Everything wal-push needs, read from the settings once; the storage stays open for as many pushes as wanted. */
export async function createWalPusher(settings: Settings, root: Folder): Promise<WalPusher> {
  let codec: Codec;
  try {
    codec = configuredCodec(settings);
  } catch (error) {
    throw new WalgError(`configure base uploader: failed to configure compression: ${errorMessage(error)}`);
  }
  const walFolder = walFolderFromSetting(settings.lookupValue('PGDATA'), settings.env);
  const segmentSize = walSegmentSizeFromSetting(settings.get('WALG_PG_WAL_SIZE'));
  return new WalPusher({
    root,
    codec,
    crypter: configuredCrypter(settings),
    markers: await openArchiveStatusMarkers(walFolder),
    postgresArchiveStatus: new PostgresArchiveStatus(walFolder),
    preventOverwrite: settings.bool('WALG_PREVENT_WAL_OVERWRITE'),
    readyRename: settings.bool('PG_READY_RENAME'),
    metadataLevel: settings.getOr('WALG_UPLOAD_WAL_METADATA', 'NOMETADATA'),
    uploadConcurrency: () => settings.concurrency('WALG_UPLOAD_CONCURRENCY'),
    totalBackgroundLimit: settings.int('TOTAL_BG_UPLOADED_LIMIT'),
    segmentSize,
    walDelta: createWalDeltaRecorder(settings, walFolder, segmentSize),
  });
}

export class WalPusher {
  readonly options: WalPusherOptions;
  readonly walFolder: Folder;

  constructor(options: WalPusherOptions) {
    this.options = options;
    this.walFolder = options.root.subFolder(WAL_FOLDER);
  }

  get markers(): ArchiveStatusMarkers {
    return this.options.markers;
  }

  /**
   * Archives one WAL file. Resolves only once the object is stored in full (the storage driver publishes a key
   * only when every byte is durable), so a success is safe to acknowledge to PostgreSQL.
   */
  async push(walFilePath: string, pushOptions: PushOptions = {}): Promise<void> {
    const options = this.options;
    if (options.markers.isUploaded(walFilePath)) {
      // A background upload of an earlier wal-push already stored it.
      try {
        await options.markers.unmark(walFilePath);
      } catch (error) {
        log.error(`unmark wal-g status for ${walFilePath} file failed due following error ${errorMessage(error)}`);
      }
      await this.uploadMetadata(walFilePath);
      return;
    }

    const concurrency = options.uploadConcurrency();
    const preventOverwrite = preventsOverwrite(options.preventOverwrite, walFilePath);
    const background =
      pushOptions.background === false
        ? undefined
        : new BackgroundUploader({
            walFilePath,
            maxParallelUploads: concurrency - 1,
            maxUploads: options.totalBackgroundLimit - 1,
            segmentSize: options.segmentSize,
            markers: options.markers,
            postgresArchiveStatus: options.postgresArchiveStatus,
            readyRename: options.readyRename,
            upload: (path) => this.uploadWalFile(path, preventsOverwrite(preventOverwrite, path)),
          });
    background?.start();
    try {
      await this.uploadWalFile(walFilePath, preventOverwrite, pushOptions.signal);
      await this.uploadMetadata(walFilePath);
    } finally {
      // Also on failure: the process must not exit with uploads half-way (they would leave nothing behind, but
      // their markers would be missing and the work lost).
      await background?.stop();
    }
    if (options.walDelta) await options.walDelta.flush(this.walFolder, options.codec, options.crypter);
  }

  /** WALG_UPLOAD_WAL_METADATA for a pushed file. */
  uploadMetadata(walFilePath: string): Promise<void> {
    return uploadLocalWalMetadata(this.walFolder, walFilePath, this.options.metadataLevel);
  }

  /** WAL-G's uploadWALFile: the overwrite check when asked, then `wal_005/<basename>.<ext>`, compressed and encrypted. */
  async uploadWalFile(walFilePath: string, preventOverwrite: boolean, signal?: AbortSignal): Promise<void> {
    if (preventOverwrite) {
      let comparison: ArchivedComparison;
      try {
        comparison = await this.compareWithArchived(walFilePath);
      } catch (error) {
        throw new WalgError(`Couldn't check whether there is an overwrite attempt due to inner error: ${errorMessage(error)}`, 1, { cause: error });
      }
      if (comparison === 'equal') {
        log.info(`WAL file '${walFilePath}' already archived with equal content, skipping`);
        return;
      }
      if (comparison === 'different') {
        throw new WalgError(`WAL file '${walFilePath}' already archived, contents differ, unable to overwrite`);
      }
    }
    signal?.throwIfAborted();
    try {
      await (await open(walFilePath, 'r')).close();
    } catch (error) {
      throw new WalgError(`upload: could not open '${walFilePath}'\n: ${pathErrorText('open', walFilePath, error)}`);
    }
    const name = basename(walFilePath);
    const key = storedName(name, this.options.codec);
    const source: Readable = new PooledFileReader(walFilePath);
    try {
      await uploadStream(this.walFolder, key, source, { codec: this.options.codec, crypter: this.options.crypter, signal });
    } catch (error) {
      const reason = signal?.aborted ? `upload timed out: ${errorMessage(signal.reason)}` : errorMessage(error);
      log.error(reason);
      log.info(`FILE PATH: ${key}`);
      throw new WalgError(`upload: could not Upload '${walFilePath}'\n: ${reason}`, 1, { cause: error });
    }
    log.info(`FILE PATH: ${key}`);
    if (this.options.walDelta && isWalSegmentName(name)) await this.options.walDelta.record(walFilePath, name);
  }

  /**
   * Compares the local file with the archived object of the same base name (any extension, WAL-G's probe order),
   * decoded, byte for byte, streaming: neither side is held in memory whole.
   */
  async compareWithArchived(walFilePath: string): Promise<ArchivedComparison> {
    const found = await findByBaseName(this.walFolder, basename(walFilePath));
    if (found === undefined) return 'absent';
    const archived = await openDecoded(this.walFolder, found.key, { format: found.format, crypter: this.options.crypter });
    return (await streamEqualsFile(archived, walFilePath)) ? 'equal' : 'different';
  }
}

/** Whether a stream yields exactly the bytes of a local file; stops reading at the first difference. */
export async function streamEqualsFile(stream: Readable, path: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    stream.destroy();
    throw new Error(pathErrorText('open', path, error));
  }
  try {
    let scratch = Buffer.allocUnsafe(64 * 1024);
    let position = 0;
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (scratch.length < chunk.length) scratch = Buffer.allocUnsafe(chunk.length);
      let filled = 0;
      while (filled < chunk.length) {
        const { bytesRead } = await handle.read(scratch, filled, chunk.length - filled, position + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      if (filled !== chunk.length || !scratch.subarray(0, filled).equals(chunk)) {
        stream.destroy();
        return false;
      }
      position += chunk.length;
    }
    const { bytesRead } = await handle.read(scratch, 0, 1, position);
    return bytesRead === 0;
  } finally {
    await handle.close();
  }
}
