// WAL-G's rating tar ball composer (--rating-composer): files are held back until the walk ends, sorted by update
// rating, and packed in that order so files written to rarely and often land in different parts; every header goes
// into the first part filled.

import { open } from 'node:fs/promises';
import { incrementSize } from '../../backup/increment.ts';
import { scanChangedBlocks, SCAN_READ_SIZE } from '../page-scan.ts';
import type { WalkedEntry } from '../pgdata-walk.ts';
import { TarComposer, type ComposerOptions } from '../tar-composer.ts';
import type { TarPartition } from '../tar-partition.ts';
import type { RelationStatistics } from './relation-statistics.ts';

/** A walked file waiting to be packed, with what decides its place. */
export interface RatedFile {
  readonly entry: WalkedEntry;
  readonly incremented: boolean;
  /** The rating files are sorted by. */
  readonly rating: number;
  /** Bytes it is expected to add to a part: the file size, or the size of its increment. */
  readonly expectedSize: number;
  /** An increment without changed pages: recorded as skipped, not packed (WAL-G's NoBitmapFound). */
  readonly unchanged: boolean;
}

/**
 * composeFiles: the files sorted by rating (equal ratings keep walk order) and cut into parts: a new part starts when
 * the current one's expected size exceeds the threshold, or where the ratings go from zero to non-zero — so a
 * first file rated above zero leaves an empty first part, as in WAL-G.
 */
export function composeByRating(files: readonly RatedFile[], sizeThreshold: number): RatedFile[][] {
  const sorted = files
    .map((file, index) => ({ file, index }))
    .sort((left, right) => left.file.rating - right.file.rating || left.index - right.index)
    .map(({ file }) => file);
  const collections: RatedFile[][] = [];
  let current: RatedFile[] = [];
  let currentSize = 0;
  let previousRating = 0;
  for (const file of sorted) {
    if (currentSize > sizeThreshold || (previousRating === 0 && file.rating > 0)) {
      collections.push(current);
      current = [];
      currentSize = 0;
    }
    current.push(file);
    currentSize += file.expectedSize;
    previousRating = file.rating;
  }
  collections.push(current);
  return collections;
}

/** Composes one backup's parts by update rating. */
export class RatingTarComposer extends TarComposer {
  readonly #statistics: RelationStatistics;
  readonly #headers: WalkedEntry[] = [];
  readonly #files: RatedFile[] = [];
  /** One read buffer for the page scans that size increments, reused file after file. */
  #scanBuffer: Buffer | undefined;

  constructor(options: ComposerOptions, statistics: RelationStatistics) {
    super({ ...options, updatesCountOf: (memberName) => statistics.updatesOf(memberName) });
    this.#statistics = statistics;
  }

  override async addHeader(entry: WalkedEntry): Promise<void> {
    this.#headers.push(entry);
    await this.recordFile(entry, { isIncremented: false, isSkipped: false });
  }

  override async addFile(entry: WalkedEntry, incremented: boolean): Promise<void> {
    const updates = this.#statistics.updatesOf(entry.path);
    // DefaultComposeRatingEvaluator divides by the parent's UpdatesCount looked up under the walked path, but the
    // parent's files are keyed by member name, so the lookup never finds one: the rating is the updates count.
    const { expectedSize, unchanged } = await this.#expectedSize(entry, incremented);
    this.#files.push({ entry, incremented, rating: updates, expectedSize, unchanged });
  }

  /** getExpectedFileSize: a whole file's size, or its increment's from the WAL delta map or a page scan. */
  async #expectedSize(entry: WalkedEntry, incremented: boolean): Promise<{ expectedSize: number; unchanged: boolean }> {
    const fileSize = Number(entry.stats.size);
    if (!incremented) return { expectedSize: fileSize, unchanged: false };
    const { deltaMap, deltaLsn, pageSize, diskLimit } = this.composerOptions;
    const mapped = deltaMap?.blocksFor(entry.path, fileSize, pageSize);
    if (mapped === 'absent') return { expectedSize: 0, unchanged: true };
    if (mapped instanceof Uint32Array) return { expectedSize: incrementSize(mapped.length, pageSize), unchanged: false };
    if (deltaLsn === undefined) return { expectedSize: fileSize, unchanged: false };
    let blocks: Uint32Array | undefined;
    try {
      const file = await open(entry.realPath, 'r');
      try {
        this.#scanBuffer ??= Buffer.allocUnsafe(Math.max(SCAN_READ_SIZE - (SCAN_READ_SIZE % pageSize), pageSize));
        blocks = await scanChangedBlocks(file, fileSize, deltaLsn, pageSize, { diskLimit, buffer: this.#scanBuffer });
      } finally {
        await file.close().catch(() => undefined);
      }
    } catch (error) {
      // A file gone since the walk is dropped when packed, as every composer does.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { expectedSize: 0, unchanged: false };
      throw error;
    }
    // An invalid page: the whole file is sent (see docs/COMPATIBILITY.md: WAL-G's rating composer fails here).
    if (blocks === undefined) return { expectedSize: fileSize, unchanged: false };
    if (blocks.length === 0) return { expectedSize: 0, unchanged: true };
    return { expectedSize: incrementSize(blocks.length, pageSize), unchanged: false };
  }

  /** FinishComposing: the headers' part, then one part per collection in rating order, each closed when packed. */
  override async finishComposing(): Promise<void> {
    const collections = composeByRating(this.#files, this.composerOptions.sizeThreshold);
    this.#files.length = 0;
    const headerPartition = await this.deque();
    try {
      headerPartition.setUp();
      for (const entry of this.#headers) await this.#writeHeader(headerPartition, entry);
    } finally {
      this.enqueueBack(headerPartition);
    }
    this.#headers.length = 0;
    for (const collection of collections) {
      const partition = await this.deque();
      partition.setUp();
      for (const file of collection) await this.recordTarMember(partition.name, file.entry.memberName);
      this.run(async () => {
        for (const file of collection) {
          if (file.unchanged) await this.recordFile(file.entry, { isIncremented: false, isSkipped: true });
          else await this.packFile(partition, file.entry, file.incremented);
        }
        await this.finishPartition(partition);
      });
    }
    await super.finishComposing();
  }

  async #writeHeader(partition: TarPartition, entry: WalkedEntry): Promise<void> {
    await this.recordTarMember(partition.name, entry.memberName);
    await partition.writeHeader(this.headerOf(entry));
  }
}
