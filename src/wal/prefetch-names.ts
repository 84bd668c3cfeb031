// Names and places of WAL prefetch: the `.wal-g/prefetch/` layout, which names follow, which are stale, and when
// WAL-G prefetches at all. No I/O here.

import { join } from 'node:path';
import { errorMessage } from '../errors.ts';
import { nextWalSegmentName, parseWalSegmentName } from './names.ts';

export interface PrefetchLocations {
  /** `<base>/.wal-g/prefetch`: finished downloads. */
  readonly prefetchFolder: string;
  /** `<base>/.wal-g/prefetch/running`: downloads in progress. */
  readonly runningFolder: string;
  readonly runningFile: string;
  readonly prefetchedFile: string;
  /**
   * `<base>/.wal-g/prefetch/queued`: walnut only. A prefetch child that downloads one segment after another (from a
   * file storage) marks the names it has yet to start, each file holding its process id, so wal-fetch does not
   * start another child for them (docs/COMPATIBILITY.md). WAL-G neither writes nor reads it.
   */
  readonly queuedFolder: string;
  readonly queuedFile: string;
}

/**
 * Where a WAL file is prefetched to. `directory` is the wal-fetch destination's directory; WALG_PREFETCH_DIR (when
 * set at all, even empty) replaces it.
 */
export function prefetchLocations(directory: string, walName: string, prefetchDirSetting: string | undefined): PrefetchLocations {
  const base = prefetchDirSetting ?? directory;
  const prefetchFolder = join(base, '.wal-g', 'prefetch');
  const runningFolder = join(prefetchFolder, 'running');
  const queuedFolder = join(prefetchFolder, 'queued');
  return {
    prefetchFolder,
    runningFolder,
    runningFile: join(runningFolder, walName),
    prefetchedFile: join(prefetchFolder, walName),
    queuedFolder,
    queuedFile: join(queuedFolder, walName),
  };
}

/** WAL-G prefetches after any wal-fetch except of history and partial files, and not when concurrency is 1. */
export function shouldPrefetch(walName: string, downloadConcurrency: number): boolean {
  return !walName.includes('history') && !walName.includes('partial') && downloadConcurrency !== 1;
}

/** The `count` segment names after `walName` on its timeline. */
export function followingWalNames(walName: string, count: number, segmentSize: number): string[] {
  const names: string[] = [];
  let name = walName;
  for (let i = 0; i < count; i++) {
    try {
      name = nextWalSegmentName(name, segmentSize);
    } catch (error) {
      throw new Error(`get next filename: ${errorMessage(error)}`);
    }
    names.push(name);
  }
  return names;
}

/** Cached names older than `walName` (lower timeline, or same timeline and lower segment): the cleanup removes them. */
export function isOlderWal(candidate: string, walName: string, segmentSize: number): boolean {
  const reference = parseWalSegmentName(walName, segmentSize);
  const other = parseWalSegmentName(candidate, segmentSize);
  if (reference === undefined || other === undefined) return false;
  return other.timeline < reference.timeline || (other.timeline === reference.timeline && other.segmentNumber < reference.segmentNumber);
}

/** A queued marker's content: the process id of the child that will download the name, if it is a number. */
export function queuedMarkerPid(content: string): number | undefined {
  const pid = Number(content.trim());
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

/**
 * Whether a wal-fetch needs to start a prefetch child, given which of the following names (in order) are already
 * prefetched or being downloaded. WAL-G starts one after every wal-fetch; each is a whole process start (about
 * 100 ms of CPU for walnut) that, in steady replay, only adds the one name at the end of the window. Here a child is
 * started when the next name is missing or at least half of the window is: the window is refilled in batches, and
 * replay starts a few processes per window instead of one per segment.
 */
export function prefetchNeeded(present: readonly boolean[]): boolean {
  if (present.length === 0) return false;
  if (!present[0]) return true;
  const missing = present.filter((ready) => !ready).length;
  return missing * 2 >= present.length;
}
