// `backup-push` without PGDATA: the backup streamed from the server with BASE_BACKUP and stored the way WAL-G v3.0.8
// stores its remote backups — PostgreSQL's tar members re-written into part_NNN.tar.<ext> objects (names relative,
// tablespaces under pg_tblspc/<oid>/), a new part before a file that would pass WALG_TAR_SIZE_THRESHOLD, the last
// part and pg_control.tar (a copy of global/pg_control) without end-of-archive blocks, files_metadata.json with
// member mtimes only, and a sentinel whose Spec comes from the server's tablespace list.

import type { GoTime } from '../backup/go-time.ts';
import type { JsonValue } from '../backup/json.ts';
import { BASE_BACKUP_FOLDER, tarPartitionFolder } from '../backup/names.ts';
import { tablespaceSpecOf } from '../backup/tablespace-spec.ts';
import type { Codec } from '../compression/codec.ts';
import type { Crypter } from '../crypto/crypter.ts';
import { WalgError } from '../errors.ts';
import { log } from '../log/logger.ts';
import { ReplicationConnection } from '../replication/protocol.ts';
import type { Folder } from '../storage/driver.ts';
import { ChunkPool } from '../stream/chunk-pool.ts';
import { DEFAULT_CHUNK_SIZE } from '../stream/memory-budget.ts';
import { formatWalSegmentName, segmentNumberOfLsn } from '../wal/names.ts';
import { backupDocuments, uploadBackupDocuments } from './backup-documents.ts';
import { runBaseBackup, type BackupPosition, type StreamedTablespace } from './base-backup-protocol.ts';
import type { ServerInfo } from './local-backup.ts';
import { FilesMetadataSpool } from './metadata-spool.ts';
import { modificationTimeText } from './tar-composer.ts';
import { encodeTarHeader, tarPaddingLength, type TarHeaderFields } from './tar-header.ts';
import { TarPartition, type TarUploadTarget } from './tar-partition.ts';
import { TarStreamParser } from './tar-stream-parser.ts';

export interface StreamedBackupOptions {
  readonly server: ServerInfo;
  readonly storage: { readonly name: string; readonly root: Folder };
  readonly env: NodeJS.ProcessEnv;
  readonly codec: Codec;
  readonly crypter?: Crypter;
  readonly segmentSize: number;
  readonly sizeThreshold: number;
  readonly isPermanent: boolean;
  readonly withoutFilesMetadata: boolean;
  readonly userData?: JsonValue;
  readonly startTime: GoTime;
  readonly verifyChecksums: boolean;
  /** WALG_DISK_RATE_LIMIT in bytes per second, passed to the server as MAX_RATE (kB/s). */
  readonly diskRateLimit: number | undefined;
}

const PG_CONTROL_MEMBER = 'global/pg_control';

/** The name WAL-G gives a streamed backup: base_ + the WAL file of startLSN / segment size (not startLSN - 1). */
export function streamedBackupName(timeline: number, startLsn: bigint, segmentSize: number): string {
  return `base_${formatWalSegmentName(timeline, segmentNumberOfLsn(startLsn, segmentSize), segmentSize)}`;
}

/**
 * WAL-G's TarballStreamer: members go into the current part until the next file would pass the threshold; padding is
 * written lazily (before the next header or the end blocks) as Go's tar writer does, so an object closed without end
 * blocks also ends without the last member's padding.
 */
export class StreamedPartWriter {
  readonly #target: TarUploadTarget;
  readonly #threshold: number;
  readonly #spool: FilesMetadataSpool | undefined;
  readonly #parts: TarPartition[] = [];
  #current: TarPartition | undefined;
  #currentSize = 0;
  #pendingPadding = 0;
  #tee: TarPartition | undefined;
  #teeing = false;
  #teePadding = 0;
  #inDataDirectory = false;
  #prefix = '';
  /** Bytes of PostgreSQL's tar streams read (WAL-G's UncompressedSize of a streamed backup). */
  receivedBytes = 0;

  constructor(target: TarUploadTarget, threshold: number, spool: FilesMetadataSpool | undefined) {
    this.#target = target;
    this.#threshold = threshold;
    this.#spool = spool;
  }

  get storedBytes(): number {
    return this.#parts.reduce((sum, part) => sum + part.storedBytes, 0) + (this.#tee?.storedBytes ?? 0);
  }

  startArchive(tablespace: StreamedTablespace | undefined): void {
    this.#inDataDirectory = tablespace === undefined;
    this.#prefix = tablespace === undefined ? '' : `pg_tblspc/${tablespace.oid}/`;
    if (tablespace === undefined) log.info('Adding data directory');
    else log.info(`Adding tablespace ${tablespace.oid} (${tablespace.location})`);
  }

  async #openPart(): Promise<TarPartition> {
    const part = new TarPartition(this.#parts.length + 1, this.#target, { quiet: true });
    part.setUp(`part_${String(part.partNumber).padStart(3, '0')}.tar.${this.#target.codec.extension}`);
    this.#parts.push(part);
    this.#current = part;
    this.#currentSize = 0;
    this.#pendingPadding = 0;
    return part;
  }

  async header(input: TarHeaderFields): Promise<void> {
    const fields = this.#prefix === '' ? input : { ...input, name: `${this.#prefix}${input.name}` };
    let part = this.#current ?? (await this.#openPart());
    if (this.#currentSize + fields.size > this.#threshold) {
      if (this.#currentSize > 0) {
        log.info('maxTarSize exceeded. Closing this tar.');
        await this.#flushPadding();
        await part.close({ endOfArchive: true });
        part = await this.#openPart();
      } else {
        log.warn(`This file ${fields.name} is larger than max tar size. It will have its own tar file, which will be larger than the selected max tar size.`);
      }
    }
    await this.#flushPadding();
    const encoded = encodeTarHeader(fields);
    await part.write(encoded);
    this.#teeing = this.#inDataDirectory && fields.name === PG_CONTROL_MEMBER;
    if (this.#teeing) {
      this.#tee ??= this.#newTee();
      if (this.#teePadding > 0) await this.#tee.write(Buffer.alloc(this.#teePadding));
      this.#teePadding = 0;
      await this.#tee.write(encoded);
    }
    if (fields.typeflag !== '5') {
      await this.#spool?.addFile(fields.name.replace(/^\.\//, ''), {
        isIncremented: false,
        isSkipped: false,
        modificationTime: modificationTimeText(BigInt(fields.modTimeSeconds) * 1_000_000_000n),
        updatesCount: 0,
      });
      this.#currentSize += fields.size;
    }
  }

  #newTee(): TarPartition {
    const tee = new TarPartition(0, this.#target, { quiet: true });
    tee.setUp(`pg_control.tar.${this.#target.codec.extension}`);
    return tee;
  }

  async data(chunk: Buffer): Promise<void> {
    // The piece is a view of a frame copied off the socket for us alone: both objects may keep it.
    await this.#current!.write(chunk);
    if (this.#teeing) await this.#tee!.write(chunk);
  }

  endMember(fields: TarHeaderFields): void {
    const padding = fields.typeflag === '0' ? tarPaddingLength(fields.size) : 0;
    this.#pendingPadding = padding;
    if (this.#teeing) this.#teePadding = padding;
    this.#teeing = false;
  }

  async #flushPadding(): Promise<void> {
    if (this.#pendingPadding > 0) await this.#current!.write(Buffer.alloc(this.#pendingPadding));
    this.#pendingPadding = 0;
  }

  /** Ends the last part and pg_control.tar as WAL-G does (no end blocks), then waits for every upload. */
  async finish(): Promise<void> {
    if (this.#current === undefined) throw new WalgError('BASE_BACKUP: the server sent no files');
    await this.#current.close({ endOfArchive: false });
    if (this.#tee === undefined) throw new WalgError(`BASE_BACKUP: the data directory stream had no ${PG_CONTROL_MEMBER}`);
    for (const part of this.#parts) await part.awaitUpload();
    await this.#tee.close({ endOfArchive: false });
    await this.#tee.awaitUpload();
  }

  abort(reason: Error): void {
    for (const part of this.#parts) part.abort(reason);
    this.#tee?.abort(reason);
  }
}

/** Runs one streamed backup and stores it; logs WAL-G's lines for it. */
export async function pushStreamedBackup(options: StreamedBackupOptions): Promise<void> {
  const { server } = options;
  log.info('Running remote backup through Postgres connection.');
  log.info('Features like delta backup and partial restore are disabled, there might be a performance impact.');
  log.info('To run with local backup functionalities, supply [db_directory].');
  let verify = options.verifyChecksums;
  if (server.pgVersion < 110000 && !verify) {
    log.info('VerifyPageChecksums=false is only supported for streaming backup since PG11');
    verify = true;
  }
  let maxRateKb: number | undefined;
  if (options.diskRateLimit !== undefined) {
    maxRateKb = Math.trunc(options.diskRateLimit / 1024);
    if (maxRateKb > 32) log.info(`DiskIO limited to ${maxRateKb} kb/s`);
  }
  const baseBackups = options.storage.root.subFolder(BASE_BACKUP_FOLDER);
  const connection = await ReplicationConnection.open(options.env);
  let writer: StreamedPartWriter | undefined;
  let spool: FilesMetadataSpool | undefined;
  try {
    spool = options.withoutFilesMetadata ? undefined : await FilesMetadataSpool.create();
    const filesMetadata = spool;
    let start: BackupPosition | undefined;
    let tablespaces: readonly StreamedTablespace[] = [];
    let name = '';
    let parser: TarStreamParser | undefined;
    log.info('Starting remote backup');
    const pool = new ChunkPool(4, DEFAULT_CHUNK_SIZE);
    const end = await runBaseBackup(connection.client, Math.floor(server.pgVersion / 10000), {
      label: 'wal-g',
      fastCheckpoint: true,
      tablespaceMap: true,
      noVerifyChecksums: !verify,
      maxRateKb,
    }, {
      started: async (position, list) => {
        start = position;
        tablespaces = list;
        name = streamedBackupName(position.timeline, position.lsn, options.segmentSize);
        writer = new StreamedPartWriter(
          { folder: baseBackups.subFolder(tarPartitionFolder(name)), codec: options.codec, crypter: options.crypter, pool },
          options.sizeThreshold,
          filesMetadata,
        );
        log.info('Streaming remote backup');
      },
      archiveStarted: async (archive) => {
        writer!.startArchive(archive.tablespace);
        parser = new TarStreamParser({
          header: (fields) => writer!.header(fields),
          data: (chunk) => writer!.data(chunk),
          endMember: async (fields) => writer!.endMember(fields),
        });
      },
      archiveData: async (chunk) => {
        writer!.receivedBytes += chunk.length;
        await parser!.write(chunk);
      },
      archiveEnded: async () => {
        parser!.finish();
      },
    });
    log.info('Finishing backup');
    log.info('If wal-g hangs during this step, please Postgres log file for details.');
    await writer!.finish();
    log.info('Updating metadata');
    const documents = backupDocuments({
      name,
      startLsn: start!.lsn,
      finishLsn: end.lsn,
      pgVersion: server.pgVersion,
      systemIdentifier: server.systemIdentifier,
      uncompressedSize: writer!.receivedBytes,
      compressedSize: writer!.storedBytes,
      dataCatalogSize: 0,
      spec: tablespaceSpecOf(server.dataDirectory, tablespaces.map((tablespace) => ({ name: String(tablespace.oid), location: tablespace.location }))),
      userData: options.userData,
      filesMetadataDisabled: options.withoutFilesMetadata,
      isPermanent: options.isPermanent,
      dataDir: server.dataDirectory,
      startTime: options.startTime,
    });
    log.info('Uploading metadata');
    await uploadBackupDocuments(baseBackups, name, documents, filesMetadata === undefined ? undefined : () => filesMetadata.documentStream());
    log.info(`Wrote backup with name ${name}`);
  } catch (error) {
    writer?.abort(error instanceof Error ? error : new Error(String(error)));
    throw error;
  } finally {
    await connection.close().catch(() => undefined);
    await spool?.dispose();
  }
}
