// The changed-block map a delta backup can take instead of scanning every page (WALG_USE_WAL_DELTA): block
// references from the `_delta` sidecars of the WAL groups since the parent backup, plus the raw WAL of the current
// group parsed from the last sidecar's parser state, keyed by relation (tablespace, database, relfilenode) with the
// fork ignored — WAL-G's PagedFileDeltaMap.

import { decodeDeltaFile } from '../wal-delta/delta-file.ts';
import { pagesOf } from '../wal-delta/delta-recorder.ts';
import { BlockLocationList } from '../wal-delta/block-locations.ts';
import { WalRecordParser } from '../wal-delta/wal-record-parser.ts';
import type { Crypter } from '../crypto/crypter.ts';
import { errorMessage, WalgError } from '../errors.ts';
import { log } from '../log/logger.ts';
import { findByBaseName, openDecoded } from '../objects/transfer.ts';
import type { Folder } from '../storage/driver.ts';
import { formatLsn, formatWalSegmentName, segmentNumberOfLsn } from '../wal/names.ts';

/** Oid of pg_default, the tablespace of base/<db>/<rel>. */
export const DEFAULT_TABLESPACE_OID = 1663;
const WAL_FILES_IN_DELTA = 16n;
const RELATION_SEGMENT_BYTES = 1024 * 1024 * 1024;
const PAGED_FILE_NAME = /^(\d+)([.]\d+)?$/;
/** A segment's first page header (XLogLongPageHeaderData, MAXALIGNed): no WAL record starts inside it. */
const LONG_PAGE_HEADER_SPAN = 40n;

/** A relation file's identity in WAL, and which 1 GiB segment of the relation the file is. */
export interface RelationFile {
  readonly key: string;
  readonly segment: number;
}

export function relationKey(spcNode: number, dbNode: number, relNode: number): string {
  return `${spcNode}/${dbNode}/${relNode}`;
}

/**
 * WAL-G's GetRelFileNodeFrom and GetRelFileIDFrom for a (rewritten) data file path: `.../base/<db>/<rel>[.<n>]` is in
 * pg_default, `.../pg_tblspc/<oid>/<version dir>/<db>/<rel>[.<n>]` in tablespace <oid>; anything else is unknown.
 */
export function relationFileOf(path: string): RelationFile | undefined {
  const slash = path.lastIndexOf('/');
  const match = PAGED_FILE_NAME.exec(path.slice(slash + 1));
  if (match === null) return undefined;
  const parts = path.slice(0, slash).split('/');
  const dbNode = Number(parts[parts.length - 1]);
  if (!/^\d+$/.test(parts[parts.length - 1] ?? '')) return undefined;
  let spcNode: number;
  if (parts[parts.length - 2] === 'base') spcNode = DEFAULT_TABLESPACE_OID;
  else if (path.includes('pg_tblspc') && /^\d+$/.test(parts[parts.length - 3] ?? '')) spcNode = Number(parts[parts.length - 3]);
  else return undefined;
  return { key: relationKey(spcNode, dbNode, Number(match[1])), segment: match[2] === undefined ? 0 : Number(match[2].slice(1)) };
}

/** Changed blocks per relation; each list sorted and free of duplicates once sealed. */
export class WalDeltaMap {
  readonly #blocks = new Map<string, { values: Uint32Array; length: number }>();
  #sealed = false;

  /** Adds every reference of `locations` (relation block numbers across all of a relation's segments). */
  add(locations: BlockLocationList): void {
    for (let index = 0; index < locations.length; index++) {
      const location = locations.at(index);
      const key = relationKey(location.spcNode, location.dbNode, location.relNode);
      let entry = this.#blocks.get(key);
      if (entry === undefined) {
        entry = { values: new Uint32Array(16), length: 0 };
        this.#blocks.set(key, entry);
      }
      if (entry.length === entry.values.length) {
        const grown = new Uint32Array(entry.values.length * 2);
        grown.set(entry.values);
        entry.values = grown;
      }
      entry.values[entry.length++] = location.blockNo;
    }
    this.#sealed = false;
  }

  #seal(): void {
    if (this.#sealed) return;
    for (const entry of this.#blocks.values()) {
      const sorted = entry.values.subarray(0, entry.length).sort();
      let kept = 0;
      for (let index = 0; index < sorted.length; index++) if (index === 0 || sorted[index] !== sorted[kept - 1]) sorted[kept++] = sorted[index];
      entry.values = sorted.slice(0, kept);
      entry.length = kept;
    }
    this.#sealed = true;
  }

  get relationCount(): number {
    return this.#blocks.size;
  }

  /**
   * The blocks of one data file to send, relative to the file, ascending, stopping at the first block that does not
   * fit wholly in `fileSize` (WAL-G's DeltaBitmapInitialize). 'absent': WAL never touched the relation, so the file
   * is taken from the parent. 'unknown': the path is not a relation file WAL-G can place (scan it instead).
   */
  blocksFor(path: string, fileSize: number, pageSize: number): Uint32Array | 'absent' | 'unknown' {
    const relation = relationFileOf(path);
    if (relation === undefined) return 'unknown';
    this.#seal();
    const entry = this.#blocks.get(relation.key);
    if (entry === undefined) return 'absent';
    const blocksPerSegment = RELATION_SEGMENT_BYTES / pageSize;
    const first = relation.segment * blocksPerSegment;
    const selected: number[] = [];
    for (let index = 0; index < entry.length; index++) {
      const block = entry.values[index];
      if (block < first || block >= first + blocksPerSegment) continue;
      const relative = block - first;
      if ((relative + 1) * pageSize > fileSize) break;
      selected.push(relative);
    }
    return Uint32Array.from(selected);
  }
}

/**
 * How long the last WAL segment (and the sidecar it completes) may still be on its way to the archive: the backup's
 * start switched it out just now.
 */
export const LAST_SEGMENT_WAIT_MS = 60_000;

export interface DeltaMapSource {
  /** wal_005/ of the storage the backup goes to. */
  readonly walFolder: Folder;
  readonly crypter?: Crypter;
  readonly timeline: number;
  readonly segmentSize: number;
  /** WALG_PG_WAL_PAGE_SIZE. */
  readonly walPageSize: number;
  /** WALG_PG_BLOCK_SIZE. */
  readonly blockSize: number;
  /** Waits for the last segment (default LAST_SEGMENT_WAIT_MS; tests shorten it). */
  readonly lastSegmentWaitMs?: number;
}

/**
 * The backup's start switched WAL to a new segment, so the last one the map needs (and the last group's sidecar,
 * when that segment completes the group) is usually still being archived. WAL-G tries once and falls back to the
 * page scan; waiting a little lets the map be used as meant.
 */
async function waitForObject(source: DeltaMapSource, baseName: string): Promise<void> {
  const deadline = Date.now() + (source.lastSegmentWaitMs ?? LAST_SEGMENT_WAIT_MS);
  let announced = false;
  while ((await findByBaseName(source.walFolder, baseName, false)) === undefined) {
    if (Date.now() >= deadline) return;
    if (!announced) log.info(`Waiting for ${baseName} to be archived before building the delta map`);
    announced = true;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

async function download(source: DeltaMapSource, baseName: string): Promise<AsyncIterable<Buffer>> {
  const found = await findByBaseName(source.walFolder, baseName, false);
  if (found === undefined) throw new WalgError(`object '${baseName}' not found in storage`);
  return (await openDecoded(source.walFolder, found.key, { format: found.format, crypter: source.crypter })) as AsyncIterable<Buffer>;
}

async function readAll(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/**
 * WAL-G's getDeltaMap for the WAL between the parent's start (`firstUsedLsn`) and this backup's start
 * (`firstNotUsedLsn`): the sidecars of every group from the parent's up to the one before this backup's group, then
 * this group's WAL segments up to the one holding firstNotUsedLsn - 1. Any missing object makes it fail.
 */
export async function loadWalDeltaMap(source: DeltaMapSource, firstUsedLsn: bigint, firstNotUsedLsn: bigint): Promise<WalDeltaMap> {
  const { timeline, segmentSize } = source;
  const segmentName = (segment: bigint): string => formatWalSegmentName(timeline, segment, segmentSize);
  log.info(`Timeline: ${timeline}, FirstUsedLsn: ${formatLsn(firstUsedLsn)}, FirstNotUsedLsn: ${formatLsn(firstNotUsedLsn)}`);
  log.info(`First WAL should participate in building delta map: ${segmentName(segmentNumberOfLsn(firstUsedLsn, segmentSize))}`);
  log.info(`First WAL shouldn't participate in building delta map: ${segmentName(segmentNumberOfLsn(firstNotUsedLsn, segmentSize))}`);
  const firstUsedGroup = segmentNumberOfLsn(firstUsedLsn, segmentSize) / WAL_FILES_IN_DELTA * WAL_FILES_IN_DELTA;
  const firstNotUsedGroup = segmentNumberOfLsn(firstNotUsedLsn, segmentSize) / WAL_FILES_IN_DELTA * WAL_FILES_IN_DELTA;
  if (firstNotUsedGroup < WAL_FILES_IN_DELTA) throw new WalgError(`Error during downloading last delta file: no WAL group precedes ${segmentName(firstNotUsedGroup)}`);
  const lastGroup = firstNotUsedGroup - WAL_FILES_IN_DELTA;
  const map = new WalDeltaMap();
  const readSidecar = async (group: bigint) => {
    const name = `${segmentName(group)}_delta`;
    try {
      return decodeDeltaFile(await readAll(await download(source, name)));
    } catch (error) {
      throw new WalgError(`Error during delta file '${name}' downloading: ${errorMessage(error)}`, 1, { cause: error });
    }
  };
  for (let group = firstUsedGroup; group < lastGroup; group += WAL_FILES_IN_DELTA) {
    map.add((await readSidecar(group)).locations);
    log.info(`Successfully downloaded delta file ${segmentName(group)}_delta`);
  }
  // Completing the last group's sidecar may need the segment the backup's start just switched out.
  await waitForObject(source, `${segmentName(lastGroup)}_delta`);
  const last = await readSidecar(lastGroup);
  map.add(last.locations);
  const parser = new WalRecordParser({ pageSize: source.walPageSize, blockSize: source.blockSize }, last.parserSeed);
  // WAL-G reads through the segment holding firstNotUsedLsn - 1. The start of a backup follows a WAL switch, so that
  // LSN usually sits in the long page header of a segment still being written, which holds no record and cannot be
  // archived yet: then the segment before it is the last one with WAL to read.
  let lastSegment = segmentNumberOfLsn(firstNotUsedLsn - 1n, segmentSize);
  if (firstNotUsedLsn % BigInt(segmentSize) <= LONG_PAGE_HEADER_SPAN) lastSegment = segmentNumberOfLsn(firstNotUsedLsn, segmentSize) - 1n;
  for (let segment = firstNotUsedGroup; segment <= lastSegment; segment++) {
    const name = segmentName(segment);
    if (segment === lastSegment) await waitForObject(source, name);
    const locations = new BlockLocationList();
    try {
      for await (const page of pagesOf(await download(source, name), source.walPageSize)) {
        const result = parser.parsePage(page, locations);
        if (result.kind === 'partial') break;
      }
    } catch (error) {
      throw new WalgError(`Error during extracting locations from wal segment: '${name}': ${errorMessage(error)}`, 1, { cause: error });
    }
    map.add(locations);
    log.info(`Successfully downloaded wal file ${name}`);
  }
  return map;
}
