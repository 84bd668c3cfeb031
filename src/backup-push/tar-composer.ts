// WAL-G's regular tar ball composer and tar ball queue: walked files go into WALG_UPLOAD_DISK_CONCURRENCY open tar
// parts, a part is closed once its members exceed WALG_TAR_SIZE_THRESHOLD, at most WALG_UPLOAD_QUEUE closed parts
// wait for their uploads, and every file is recorded for files_metadata.json. Also packs pg_control.tar and
// backup_label.tar, which take their numbers from the same counter.

import { open, type FileHandle } from 'node:fs/promises';
import type { CorruptBlocks } from '../backup/files-metadata.ts';
import { encodeIncrementHeader, incrementSize } from '../backup/increment.ts';
import { formatRfc3339Nano, goTimeFromNanoseconds } from '../backup/go-time.ts';
import type { Codec } from '../compression/codec.ts';
import type { Crypter } from '../crypto/crypter.ts';
import { errorMessage, WalgError } from '../errors.ts';
import { log } from '../log/logger.ts';
import type { Folder } from '../storage/driver.ts';
import type { TokenBucket } from '../storage/rate-limit.ts';
import { ChunkPool, releaseChunk } from '../stream/chunk-pool.ts';
import { DEFAULT_CHUNK_SIZE, pipelineMemoryBound, type StageMemory } from '../stream/memory-budget.ts';
import type { FilesMetadataSpool } from './metadata-spool.ts';
import type { FileVerification, PageVerifier } from './page-checksum.ts';
import { scanChangedBlocks } from './page-scan.ts';
import type { WalkedEntry, WalkSink } from './pgdata-walk.ts';
import { headerFromStats, labelFileHeader, type AccountNames, type TarHeaderFields } from './tar-header.ts';
import { TarPartition, type TarUploadTarget } from './tar-partition.ts';

export const BACKUP_LABEL_MEMBER = 'backup_label';
export const TABLESPACE_MAP_MEMBER = 'tablespace_map';
/** Pooled chunks per open tar part: one being read, the rest queued in the pipeline. */
const POOL_CHUNKS_PER_PART = 4;

export interface ComposerOptions {
  /** `basebackups_005/<backup>/tar_partitions/`. */
  readonly folder: Folder;
  readonly codec: Codec;
  readonly crypter?: Crypter;
  /** WALG_TAR_SIZE_THRESHOLD: a part is closed once its members' sizes sum to more. */
  readonly sizeThreshold: number;
  /** WALG_UPLOAD_DISK_CONCURRENCY: parts filled at once. */
  readonly diskConcurrency: number;
  /** WALG_UPLOAD_QUEUE: closed parts whose uploads may still run. */
  readonly uploadQueue: number;
  /** Where files_metadata.json is collected; undefined with WALG_WITHOUT_FILES_METADATA. */
  readonly spool?: FilesMetadataSpool;
  readonly accounts: AccountNames;
  /** WALG_PG_BLOCK_SIZE. */
  readonly pageSize: number;
  /** The parent's start LSN, for increments. */
  readonly deltaLsn?: bigint;
  /** Changed blocks from WAL (WALG_USE_WAL_DELTA, or WAL summaries): used instead of scanning pages when set. */
  readonly deltaMap?: ChangedBlockMap;
  /** WALG_DISK_RATE_LIMIT on file reads. */
  readonly diskLimit?: TokenBucket;
  /** --verify: page checksums checked as the pages are packed, corrupt blocks recorded per file. */
  readonly pageVerifier?: PageVerifier;
  readonly chunkSize?: number;
  /** UpdatesCount recorded for a member (the rating composer's StatBundleFiles); 0 when absent. */
  readonly updatesCountOf?: (memberName: string) => number;
}

/**
 * Where an increment's blocks come from instead of a page scan: segment-relative block numbers, 'absent' (the file
 * is taken from the parent) or 'unknown' (scan the pages).
 */
export interface ChangedBlockMap {
  blocksFor(path: string, fileSize: number, pageSize: number): Uint32Array | 'absent' | 'unknown';
}

/** What an encrypter keeps between chunks, at most (libsodium: one 8 KiB frame; OpenPGP: its packet buffer). */
const ENCRYPTER_WORKING_SET = 256 * 1024;

/** Bytes one tar part's upload pipeline may hold (compress → encrypt → count), by memory-budget.ts's rule. */
export function partPipelineBound(codec: Codec, encrypted: boolean, chunkSize = DEFAULT_CHUNK_SIZE): number {
  const stages: StageMemory[] = [{ name: `${codec.name} compress`, workingSetBytes: codec.compressorWorkingSetBytes }];
  if (encrypted) stages.push({ name: 'encrypt', workingSetBytes: ENCRYPTER_WORKING_SET });
  stages.push({ name: 'count', workingSetBytes: 0 });
  return pipelineMemoryBound({ chunkSize, poolChunks: 0, stages });
}

/**
 * The most a local backup's data path holds, whatever the cluster's size: the read pool (4 chunks per open part),
 * plus a pipeline for each part being filled and each closed part still uploading, plus one page list per open part
 * (4 bytes per page of a 1 GiB segment). The storage driver's own buffer (an S3 part) comes on top, per upload.
 */
export function localBackupMemoryBound(codec: Codec, encrypted: boolean, diskConcurrency: number, uploadQueue: number, chunkSize = DEFAULT_CHUNK_SIZE): number {
  const pool = POOL_CHUNKS_PER_PART * diskConcurrency * chunkSize;
  const pageLists = diskConcurrency * ((1024 * 1024 * 1024) / 8192) * 4;
  return pool + (diskConcurrency + uploadQueue) * partPipelineBound(codec, encrypted, chunkSize) + pageLists;
}

/** The mtime text files_metadata.json holds: local zone, full nanoseconds (Go's ModTime()). */
export function modificationTimeText(mtimeNs: bigint): string {
  return formatRfc3339Nano(goTimeFromNanoseconds(mtimeNs, 'local'));
}

/** Composes and uploads the data parts of one backup. */
export class TarComposer implements WalkSink {
  readonly #options: ComposerOptions;
  readonly #target: TarUploadTarget;
  #partCount = 0;
  readonly #fillQueue: TarPartition[] = [];
  readonly #fillWaiters: Array<{ resolve: (partition: TarPartition) => void; reject: (error: Error) => void }> = [];
  readonly #uploadQueue: TarPartition[] = [];
  readonly #allPartitions: TarPartition[] = [];
  readonly #tasks = new Set<Promise<void>>();
  #failure: Error | undefined;
  #finishing: Promise<void> = Promise.resolve();
  /** WAL-G's AllTarballsSize: header sizes of every closed part (UncompressedSize). */
  uncompressedSize = 0;

  constructor(options: ComposerOptions) {
    this.#options = options;
    const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    this.#target = {
      folder: options.folder,
      codec: options.codec,
      crypter: options.crypter,
      pool: new ChunkPool(POOL_CHUNKS_PER_PART * options.diskConcurrency, chunkSize),
    };
    // StartQueue: the first parts exist (and take their numbers) before anything is walked.
    for (let index = 0; index < options.diskConcurrency; index++) this.#fillQueue.push(this.#newPartition());
  }

  protected get composerOptions(): ComposerOptions {
    return this.#options;
  }

  /** Bytes sent to storage by every part so far (CompressedSize). */
  get storedBytes(): number {
    return this.#allPartitions.reduce((sum, partition) => sum + partition.storedBytes, 0);
  }

  #newPartition(): TarPartition {
    const partition = new TarPartition(++this.#partCount, this.#target);
    this.#allPartitions.push(partition);
    return partition;
  }

  protected deque(): Promise<TarPartition> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    const partition = this.#fillQueue.shift();
    if (partition !== undefined) return Promise.resolve(partition);
    return new Promise((resolve, reject) => this.#fillWaiters.push({ resolve, reject }));
  }

  protected enqueueBack(partition: TarPartition): void {
    const waiter = this.#fillWaiters.shift();
    if (waiter !== undefined) waiter.resolve(partition);
    else this.#fillQueue.push(partition);
  }

  #fail(error: unknown): void {
    const failure = error instanceof Error ? error : new Error(String(error));
    if (this.#failure !== undefined) return;
    this.#failure = failure;
    for (const waiter of this.#fillWaiters.splice(0)) waiter.reject(failure);
  }

  protected run(task: () => Promise<void>): void {
    const running = task().catch((error: unknown) => this.#fail(error));
    this.#tasks.add(running);
    void running.finally(() => this.#tasks.delete(running));
  }

  /** A part whose members passed the threshold is closed and replaced; the others go back to be filled. */
  protected async checkSizeAndEnqueueBack(partition: TarPartition): Promise<void> {
    if (partition.size > this.#options.sizeThreshold) {
      await this.finishPartition(partition);
      return;
    }
    this.enqueueBack(partition);
  }

  /** FinishTarBall, one at a time: close, queue for upload, wait for the oldest uploads beyond the limit, replace. */
  protected finishPartition(partition: TarPartition): Promise<void> {
    const finishing = this.#finishing.then(async () => {
      await this.#closePartition(partition);
      this.#uploadQueue.push(partition);
      while (this.#uploadQueue.length > this.#options.uploadQueue) await this.#uploadQueue.shift()!.awaitUpload();
      this.enqueueBack(this.#newPartition());
    });
    this.#finishing = finishing.catch(() => undefined);
    return finishing;
  }

  async #closePartition(partition: TarPartition, endOfArchive = true): Promise<void> {
    this.uncompressedSize += partition.size;
    await partition.close({ endOfArchive });
    await this.#options.spool?.closeTar(partition.name);
  }

  // --- WalkSink -------------------------------------------------------------------------------------------------

  async addHeader(entry: WalkedEntry): Promise<void> {
    await this.recordFile(entry, { isIncremented: false, isSkipped: false });
    await this.writeHeaderMember(entry);
  }

  async addFile(entry: WalkedEntry, incremented: boolean): Promise<void> {
    const partition = await this.deque();
    partition.setUp();
    await this.#options.spool?.addTarMember(partition.name, entry.memberName);
    this.run(async () => {
      await this.packFile(partition, entry, incremented);
      await this.checkSizeAndEnqueueBack(partition);
    });
  }

  async skipFile(entry: WalkedEntry): Promise<void> {
    await this.recordFile(entry, { isIncremented: false, isSkipped: true });
  }

  /** A header-only member in the next part to fill (files_metadata.json's entry is recorded separately). */
  protected async writeHeaderMember(entry: WalkedEntry): Promise<void> {
    const partition = await this.deque();
    try {
      partition.setUp();
      await this.#options.spool?.addTarMember(partition.name, entry.memberName);
      await partition.writeHeader(this.headerOf(entry));
    } finally {
      this.enqueueBack(partition);
    }
  }

  /** The `Files` entry of files_metadata.json for one member (WAL-G's BundleFiles.AddFile / AddSkippedFile). */
  protected async recordFile(
    entry: WalkedEntry,
    flags: { readonly isIncremented: boolean; readonly isSkipped: boolean },
    corruptBlocks?: CorruptBlocks,
  ): Promise<void> {
    await this.#options.spool?.addFile(entry.memberName, {
      ...flags,
      modificationTime: modificationTimeText(entry.stats.mtimeNs),
      corruptBlocks,
      updatesCount: this.#options.updatesCountOf?.(entry.memberName) ?? 0,
    });
  }

  /** The tar header WAL-G writes for a walked object. */
  protected headerOf(entry: WalkedEntry): TarHeaderFields {
    return headerFromStats(entry.stats, entry.memberName, entry.baseName, this.#options.accounts);
  }

  /** A member's name in the `TarFileSets` of files_metadata.json. */
  protected async recordTarMember(tarName: string, memberName: string): Promise<void> {
    await this.#options.spool?.addTarMember(tarName, memberName);
  }

  // --- packing ----------------------------------------------------------------------------------------------------

  /** PackFileIntoTar: a whole file or its increment, with WAL-G's tolerance of files that vanish or change size. */
  protected async packFile(partition: TarPartition, entry: WalkedEntry, incremented: boolean): Promise<void> {
    let file: FileHandle;
    try {
      file = await open(entry.realPath, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        log.warn(`${entry.path} does not exist, probably deleted during the backup creation`);
        return;
      }
      throw new WalgError(`startReadingFile: failed to open file '${entry.path}': ${errorMessage(error)}`, 1, { cause: error });
    }
    try {
      const header = headerFromStats(entry.stats, entry.memberName, entry.baseName, this.#options.accounts);
      const fileSize = header.size;
      let blocks: Uint32Array | undefined;
      const mapped = incremented ? this.#options.deltaMap?.blocksFor(entry.path, fileSize, this.#options.pageSize) : undefined;
      if (mapped === 'absent') {
        // WAL never touched the relation since the parent: the file is taken from the parent (WAL-G's skip).
        await this.recordFile(entry, { isIncremented: false, isSkipped: true });
        return;
      }
      if (mapped instanceof Uint32Array) {
        blocks = mapped;
      } else if (incremented && this.#options.deltaLsn !== undefined) {
        // The scan reads through a pooled chunk too, so scanning many files allocates nothing new.
        const buffer = await this.#target.pool.acquire();
        try {
          blocks = await scanChangedBlocks(file, fileSize, this.#options.deltaLsn, this.#options.pageSize, { diskLimit: this.#options.diskLimit, buffer });
        } finally {
          releaseChunk(buffer);
        }
        if (blocks === undefined) log.warn(`failed to read file '${entry.memberName}' as incremented`);
      }
      const verification = this.#options.pageVerifier?.startFile(entry.path, fileSize);
      if (blocks === undefined) {
        await partition.writeHeader(header);
        await this.#copyRange(partition, file, 0, fileSize, verification);
        await partition.writePadding(fileSize);
        partition.size += fileSize;
      } else {
        const size = incrementSize(blocks.length, this.#options.pageSize);
        const incrementHeader: TarHeaderFields = { ...header, size };
        await partition.writeHeader(incrementHeader);
        await partition.write(encodeIncrementHeader(fileSize, blocks));
        await this.#copyPages(partition, file, blocks, verification);
        await partition.writePadding(size);
        partition.size += size;
      }
      // Recorded once packed, as WAL-G does, so the corrupt blocks found on the way are known.
      await this.recordFile(entry, { isIncremented: blocks !== undefined, isSkipped: false }, verification?.finish());
    } catch (error) {
      throw new WalgError(`PackFileIntoTar: operation failed: ${entry.path}: ${errorMessage(error)}`, 1, { cause: error });
    } finally {
      await file.close().catch(() => undefined);
    }
  }

  /** Reads into a pooled chunk; bytes the file no longer has are zeros (a shrunk file is padded, as WAL-G does). */
  async #readChunk(file: FileHandle, position: number, length: number): Promise<Buffer> {
    const chunk = await this.#target.pool.acquire();
    try {
      await this.#options.diskLimit?.take(length);
      let filled = 0;
      while (filled < length) {
        const { bytesRead } = await file.read(chunk, filled, length - filled, position + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      if (filled < length) chunk.fill(0, filled, length);
      return chunk.subarray(0, length);
    } catch (error) {
      releaseChunk(chunk);
      throw error;
    }
  }

  /** `length` bytes from `start` (a grown file is cut at the size recorded in the header). */
  async #copyRange(partition: TarPartition, file: FileHandle, start: number, length: number, verification?: FileVerification): Promise<void> {
    const chunkSize = this.#target.pool.chunkSize;
    for (let offset = 0; offset < length; offset += chunkSize) {
      const chunk = await this.#readChunk(file, start + offset, Math.min(chunkSize, length - offset));
      // Checked before the write hands the chunk on (chunks are whole pages: the chunk size is a multiple of them).
      verification?.checkRun(chunk, chunk.length, (start + offset) / this.#options.pageSize);
      await partition.write(chunk);
    }
  }

  /** The listed pages, consecutive runs read together. */
  async #copyPages(partition: TarPartition, file: FileHandle, blocks: Uint32Array, verification?: FileVerification): Promise<void> {
    const pageSize = this.#options.pageSize;
    const pagesPerChunk = Math.max(1, Math.floor(this.#target.pool.chunkSize / pageSize));
    let index = 0;
    while (index < blocks.length) {
      let run = 1;
      while (index + run < blocks.length && run < pagesPerChunk && blocks[index + run] === blocks[index] + run) run++;
      const chunk = await this.#readChunk(file, blocks[index] * pageSize, run * pageSize);
      verification?.checkRun(chunk, chunk.length, blocks[index]);
      await partition.write(chunk);
      index += run;
    }
  }

  // --- finishing ----------------------------------------------------------------------------------------------------

  /** FinishComposing: waits for every file being packed; the first failure is thrown. */
  async finishComposing(): Promise<void> {
    while (this.#tasks.size > 0) await Promise.all([...this.#tasks]);
    await this.#finishing;
    if (this.#failure !== undefined) throw this.#failure;
  }

  /** FinishQueue: closes the parts still being filled (unused ones leave a gap in the numbers) and waits for all uploads. */
  async finishQueue(): Promise<void> {
    const open = this.#fillQueue.splice(0);
    for (const partition of open) {
      if (!partition.started) continue;
      await this.#closePartition(partition);
      await partition.awaitUpload();
    }
    while (this.#uploadQueue.length > 0) await this.#uploadQueue.shift()!.awaitUpload();
  }

  /** pg_control.tar.<ext>: only global/pg_control, uploaded after every data part. */
  async uploadPgControl(entry: WalkedEntry): Promise<void> {
    const partition = this.#newPartition();
    partition.setUp(`pg_control.tar.${this.#options.codec.extension}`);
    const header = headerFromStats(entry.stats, entry.memberName, entry.baseName, this.#options.accounts);
    log.info(header.name);
    await partition.writeHeader(header);
    if (entry.stats.isFile()) {
      const file = await open(entry.realPath, 'r').catch((error: unknown) => {
        throw new WalgError(`UploadPgControl: failed to open file ${entry.path}: ${errorMessage(error)}`, 1, { cause: error });
      });
      try {
        await this.#copyRange(partition, file, 0, header.size);
      } finally {
        await file.close().catch(() => undefined);
      }
      await partition.writePadding(header.size);
      partition.size += header.size;
    }
    await this.#closePartition(partition);
    await partition.awaitUpload();
  }

  /**
   * backup_label.tar.<ext> with the two files pg_stop_backup returned (PostgreSQL 9.6+). Returns its object name and
   * the member list WAL-G records for it.
   */
  async uploadLabelFiles(labelFile: string, tablespaceMap: string): Promise<{ name: string; members: string[] }> {
    const partition = this.#newPartition();
    partition.setUp(`backup_label.tar.${this.#options.codec.extension}`);
    const label = Buffer.from(labelFile, 'utf8');
    await partition.writeMember(labelFileHeader(BACKUP_LABEL_MEMBER, label.length), label);
    log.info(BACKUP_LABEL_MEMBER);
    const map = Buffer.from(tablespaceMap, 'utf8');
    await partition.writeMember(labelFileHeader(TABLESPACE_MAP_MEMBER, map.length), map);
    log.info(TABLESPACE_MAP_MEMBER);
    await this.#closePartition(partition);
    await partition.awaitUpload();
    const members = [TABLESPACE_MAP_MEMBER, BACKUP_LABEL_MEMBER];
    for (const member of members) await this.#options.spool?.addTarMember(partition.name, member);
    return { name: partition.name, members };
  }

  /** After a failure: every part's upload is stopped, so no object is left under a final name. */
  abort(reason: Error): void {
    this.#fail(reason);
    for (const partition of this.#allPartitions) partition.abort(reason);
    this.#target.pool.close(reason);
  }
}
