// Produces `_delta` sidecars while WAL segments are pushed, as WAL-G's DeltaFileManager does with
// WALG_USE_WAL_DELTA=true: each segment is parsed with a fresh parser, its block references go to its group's
// delta file, the record fragments crossing segment boundaries go to the group's part file, and at the end of the
// push every group whose 16 segments (and the previous group's last record head) are all there is completed and
// uploaded; the others are kept in the state folder ($PGDATA/pg_wal/walg_data) for the next push.
//
// Call contract for wal-push (see buildDeltaForSegment below for the one-segment shortcut):
//   const session = new WalDeltaSession({ stateDirectory, pageSize, blockSize, segmentSize });
//   await session.recordSegment('000000010000000000000012', '/pgdata/pg_wal/000000010000000000000012');  // per segment,
//        // foreground and background uploads alike; may run concurrently; never throws for bad WAL (the group is
//        // cancelled with WAL-G's warning instead); names that are not 24-hex segment names are ignored
//   await session.flush(sidecarUploader(walFolder, codec, crypter));  // once, after every upload of the push finished

import { nodeFsPromises } from '../native/lazy-builtins.ts';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { Folder } from '../storage/driver.ts';
import type { Codec } from '../compression/codec.ts';
import type { Crypter } from '../crypto/crypter.ts';
import { storedName, uploadStream } from '../objects/transfer.ts';
import { formatWalSegmentName, parseWalSegmentName, DEFAULT_WAL_SEGMENT_SIZE } from '../wal/names.ts';
import { log } from '../log/logger.ts';
import { errorMessage } from '../errors.ts';
import { BlockLocationList } from './block-locations.ts';
import { DELTA_SUFFIX, PART_SUFFIX, WAL_FILES_IN_DELTA, decodeDeltaFile, deltaGroupOf, encodeDeltaFile, positionInDelta } from './delta-file.ts';
import { WalPartFile } from './part-file.ts';
import { WalRecordParser, type WalParserOptions } from './wal-record-parser.ts';

export interface WalDeltaSessionOptions {
  /** WAL-G's delta data folder: `<PGDATA>/pg_wal/walg_data` (created when missing). */
  readonly stateDirectory: string;
  /** WALG_PG_WAL_PAGE_SIZE (default 8192). */
  readonly pageSize?: number;
  /** WALG_PG_BLOCK_SIZE (default 8192). */
  readonly blockSize?: number;
  /** WALG_PG_WAL_SIZE in bytes (default 16 MiB). */
  readonly segmentSize?: number;
}

/** Uploads one finished sidecar: `name` is e.g. `000000010000000000000010_delta`, `body` its plain bytes. */
export type SidecarUpload = (name: string, body: Buffer) => Promise<void>;

export interface FlushReport {
  /** Sidecar names uploaded by this flush. */
  readonly uploaded: string[];
  /** Groups whose state was written back to the state folder. */
  readonly kept: string[];
  /** Groups dropped because of a parse or upload error. */
  readonly canceled: string[];
}

/** An uploader for flush(): compresses and encrypts like any WAL object, to wal_005/<name>.<ext>. */
export function sidecarUploader(walFolder: Folder, codec: Codec | undefined, crypter: Crypter | undefined): SidecarUpload {
  return (name, body) => uploadStream(walFolder, storedName(name, codec), Readable.from([body]), { codec, crypter });
}

interface DeltaWriter {
  locations: BlockLocationList;
  parserSeed: Buffer;
}

export class WalDeltaSession {
  private readonly options: Required<WalDeltaSessionOptions>;
  private readonly partFiles = new Map<string, Promise<WalPartFile>>();
  private readonly deltaWriters = new Map<string, Promise<DeltaWriter>>();
  private readonly canceled = new Set<string>();
  /** Image flag layout seen in page headers (PG 15+ unless an older page magic was met). */
  private postgres15Images: boolean | undefined;

  constructor(options: WalDeltaSessionOptions) {
    this.options = {
      stateDirectory: options.stateDirectory,
      pageSize: options.pageSize ?? 8192,
      blockSize: options.blockSize ?? 8192,
      segmentSize: options.segmentSize ?? DEFAULT_WAL_SEGMENT_SIZE,
    };
  }

  private deltaNameOf(timeline: number, segmentNumber: bigint): string {
    return formatWalSegmentName(timeline, deltaGroupOf(segmentNumber), this.options.segmentSize) + DELTA_SUFFIX;
  }

  private partFile(deltaName: string): Promise<WalPartFile> {
    let loaded = this.partFiles.get(deltaName);
    if (!loaded) {
      loaded = readOptional(join(this.options.stateDirectory, deltaName + PART_SUFFIX)).then((data) => (data ? WalPartFile.decode(data) : new WalPartFile()));
      this.partFiles.set(deltaName, loaded);
    }
    return loaded;
  }

  private deltaWriter(deltaName: string): Promise<DeltaWriter> {
    let loaded = this.deltaWriters.get(deltaName);
    if (!loaded) {
      loaded = readOptional(join(this.options.stateDirectory, deltaName)).then((data) => {
        if (!data) return { locations: new BlockLocationList(), parserSeed: Buffer.alloc(0) };
        const file = decodeDeltaFile(data);
        return { locations: file.locations, parserSeed: file.parserSeed };
      });
      this.deltaWriters.set(deltaName, loaded);
    }
    return loaded;
  }

  /** WAL-G's CancelRecording: the segment's group and the next one produce no sidecar. */
  private cancel(walName: string, timeline: number, segmentNumber: bigint, error: unknown): void {
    log.warn(`Stopped wal file: '${walName}' recording because of error: '${errorMessage(error)}'`);
    this.canceled.add(this.deltaNameOf(timeline, segmentNumber));
    this.canceled.add(this.deltaNameOf(timeline, segmentNumber + 1n));
  }

  /**
   * Parses one WAL segment (a file path, its bytes, or a stream of its bytes) into the session. Names that are not
   * WAL segment names (`.history`, `.partial`, `.backup`) are ignored, as WAL-G does.
   */
  async recordSegment(walName: string, source: string | Buffer | AsyncIterable<Buffer>): Promise<void> {
    const segment = parseWalSegmentName(walName, this.options.segmentSize);
    if (!segment) return;
    const deltaName = this.deltaNameOf(segment.timeline, segment.segmentNumber);
    const position = positionInDelta(segment.segmentNumber);
    let writer: DeltaWriter;
    let parts: WalPartFile;
    try {
      writer = await this.deltaWriter(deltaName);
      parts = await this.partFile(deltaName);
    } catch (error) {
      // WAL-G then uploads the segment without recording (and so never completes this group).
      log.warn(`can't record WAL delta of '${walName}': ${errorMessage(error)}`);
      this.canceled.add(deltaName);
      return;
    }
    const parser = new WalRecordParser({ pageSize: this.options.pageSize, blockSize: this.options.blockSize });
    const locations = new BlockLocationList(1024);
    let tailSaved = false;
    let failed = false;
    let sawPageHeader = false;
    try {
      for await (const page of pagesOf(source, this.options.pageSize)) {
        const result = parser.parsePage(page, locations);
        if (result.kind !== 'zero') sawPageHeader = true;
        const tail = result.discardedTail;
        if ((tail !== undefined && tail.length > 0) || result.recordCount > 0) {
          if (!tailSaved) {
            tailSaved = true;
            parts.walTails[position] = tail ?? Buffer.alloc(0);
          } else if (tail !== undefined && tail.length > 0) {
            throw new Error('wanted to discard data from WAL while was restricted to do it');
          }
        }
      }
      if (sawPageHeader) this.postgres15Images = parser.usesPostgres15ImageFlags;
    } catch (error) {
      failed = true;
      this.cancel(walName, segment.timeline, segment.segmentNumber, error);
    }
    if (!failed) writer.locations.append(locations);
    // Like WAL-G's Close: the head of the unfinished record is kept even after an error (the group is canceled then).
    const head = failed ? Buffer.alloc(0) : parser.currentRecordHead();
    parts.walHeads[position] = head;
    if (position === Number(WAL_FILES_IN_DELTA) - 1) {
      try {
        const nextParts = await this.partFile(this.deltaNameOf(segment.timeline, segment.segmentNumber + 1n));
        nextParts.previousWalHead = head;
      } catch (error) {
        log.warn(`Failed to save next wal file prefix after end of recording because of: ${errorMessage(error)}`);
      }
    }
  }

  /**
   * Ends the session as WAL-G's FlushFiles: clears the state folder, completes and uploads every group that is
   * complete, and writes the others back. Upload failures are warnings, as in WAL-G.
   */
  async flush(upload: SidecarUpload): Promise<FlushReport> {
    const uploaded: string[] = [];
    const kept: string[] = [];
    await nodeFsPromises().mkdir(this.options.stateDirectory, { recursive: true });
    await this.cleanStateDirectory();
    const completed = new Set<string>();
    const parserOptions: WalParserOptions = { pageSize: this.options.pageSize, blockSize: this.options.blockSize, postgres15ImageFlags: this.postgres15Images };
    for (const [deltaName, loading] of this.partFiles) {
      if (this.canceled.has(deltaName)) continue;
      let parts: WalPartFile;
      try {
        parts = await loading;
      } catch (error) {
        this.canceled.add(deltaName);
        log.warn(`Failed to save part file: '${deltaName + PART_SUFFIX}' because of error: '${errorMessage(error)}'`);
        continue;
      }
      if (parts.isComplete()) {
        completed.add(deltaName);
        try {
          const writerLoading = this.deltaWriters.get(deltaName);
          if (!writerLoading) throw new Error(`can't file delta file writer for file: '${deltaName}'`);
          const writer = await writerLoading;
          writer.parserSeed = parts.walHeads[Number(WAL_FILES_IN_DELTA) - 1] ?? Buffer.alloc(0);
          writer.locations.append(parts.combineRecords(parserOptions));
        } catch (error) {
          this.canceled.add(deltaName);
          log.warn(`Canceled delta file writing because of error: ${errorMessage(error)}`);
        }
      } else {
        try {
          await nodeFsPromises().writeFile(join(this.options.stateDirectory, deltaName + PART_SUFFIX), parts.encode());
          kept.push(deltaName + PART_SUFFIX);
        } catch (error) {
          this.canceled.add(deltaName);
          log.warn(`Failed to save part file: '${deltaName + PART_SUFFIX}' because of error: '${errorMessage(error)}'`);
        }
      }
    }
    for (const [deltaName, loading] of this.deltaWriters) {
      if (this.canceled.has(deltaName)) continue;
      let writer: DeltaWriter;
      try {
        writer = await loading;
      } catch {
        continue;
      }
      const body = encodeDeltaFile({ locations: writer.locations, parserSeed: writer.parserSeed });
      if (completed.has(deltaName)) {
        try {
          await upload(deltaName, body);
          uploaded.push(deltaName);
        } catch (error) {
          log.warn(`Failed to upload delta file: '${deltaName}' because of uploading error: '${errorMessage(error)}'`);
        }
      } else {
        try {
          await nodeFsPromises().writeFile(join(this.options.stateDirectory, deltaName), body);
          kept.push(deltaName);
        } catch (error) {
          log.warn(`Failed to save delta file: '${deltaName}' because of error: '${errorMessage(error)}'`);
        }
      }
    }
    return { uploaded, kept, canceled: [...this.canceled] };
  }

  /**
   * WAL-G removes every regular file of the folder here; only the delta state files are removed, so other local
   * state kept in walg_data (archive status markers live in a sub-folder anyway) is never touched.
   */
  private async cleanStateDirectory(): Promise<void> {
    let entries;
    try {
      entries = await nodeFsPromises().readdir(this.options.stateDirectory, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      if (!entry.isFile()) continue;
      if (!entry.name.endsWith(DELTA_SUFFIX) && !entry.name.endsWith(DELTA_SUFFIX + PART_SUFFIX)) continue;
      await nodeFsPromises().rm(join(this.options.stateDirectory, entry.name), { force: true }).catch((error: unknown) =>
        log.warn(`Tried to remove file: '${join(this.options.stateDirectory, entry.name)}', but got error: '${errorMessage(error)}'`),
      );
    }
  }
}

async function readOptional(path: string): Promise<Buffer | undefined> {
  try {
    return await nodeFsPromises().readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Whole WAL pages of a file, buffer or stream, read in 64-page batches into one reused buffer. */
export async function* pagesOf(source: string | Buffer | AsyncIterable<Buffer>, pageSize: number): AsyncGenerator<Buffer> {
  if (Buffer.isBuffer(source)) {
    for (let at = 0; at < source.length; at += pageSize) yield checkedPage(source.subarray(at, at + pageSize), pageSize);
    return;
  }
  if (typeof source === 'string') {
    const handle = await nodeFsPromises().open(source, 'r');
    try {
      const batch = Buffer.allocUnsafe(pageSize * 64);
      for (;;) {
        let filled = 0;
        while (filled < batch.length) {
          const { bytesRead } = await handle.read(batch, filled, batch.length - filled, null);
          if (bytesRead === 0) break;
          filled += bytesRead;
        }
        for (let at = 0; at < filled; at += pageSize) yield checkedPage(batch.subarray(at, Math.min(filled, at + pageSize)), pageSize);
        if (filled < batch.length) return;
      }
    } finally {
      await handle.close();
    }
    return;
  }
  let carry = Buffer.alloc(0);
  for await (const chunk of source as AsyncIterable<Buffer>) {
    const data = carry.length ? Buffer.concat([carry, chunk]) : chunk;
    let at = 0;
    for (; at + pageSize <= data.length; at += pageSize) yield data.subarray(at, at + pageSize);
    carry = Buffer.from(data.subarray(at));
  }
  if (carry.length) yield checkedPage(carry, pageSize);
}

function checkedPage(page: Buffer, pageSize: number): Buffer {
  // WAL-G reads whole pages with io.ReadFull: a short last page is a read error that cancels the recording.
  if (page.length !== pageSize) throw new Error(`unexpected EOF: WAL file ends inside a ${pageSize}-byte page`);
  return page;
}

export interface BuildDeltaForSegmentOptions extends WalDeltaSessionOptions {
  /** The segment file, e.g. `$PGDATA/pg_wal/000000010000000000000012`. */
  readonly walFilePath: string;
  /** Its 24-hex name; defaults to the file's base name. */
  readonly walName?: string;
  readonly upload: SidecarUpload;
}

/**
 * The one-segment form of a session: records `walFilePath`, then flushes (uploading the group's sidecar when this
 * segment completed it). Calls for different segments must not overlap: use one WalDeltaSession for concurrent
 * (background) uploads in the same process, as WAL-G does.
 */
export async function buildDeltaForSegment(options: BuildDeltaForSegmentOptions): Promise<FlushReport> {
  const session = new WalDeltaSession(options);
  const walName = options.walName ?? options.walFilePath.slice(options.walFilePath.lastIndexOf('/') + 1);
  await session.recordSegment(walName, options.walFilePath);
  return session.flush(options.upload);
}
