// wal-push's background uploader (WAL-G's BgUploader): while the given segment uploads, push other WAL files
// PostgreSQL has marked `.ready`, so archiving keeps up with a busy server.

import { readdir, stat } from '../storage/local-fs.ts';
import { basename, dirname, join } from 'node:path';
import { errorMessage } from '../errors.ts';
import { log } from '../log/logger.ts';
import type { ArchiveStatusMarkers, PostgresArchiveStatus } from './archive-status.ts';
import { POSTGRES_ARCHIVE_STATUS_FOLDER, READY_SUFFIX } from './archive-status.ts';
import { nextWalSegmentName } from './names.ts';

/** Pause between listings of archive_status (WAL-G's pollPauseDuration). */
export const POLL_PAUSE_MS = 100;

export interface BackgroundUploaderOptions {
  /** The file the foreground wal-push uploads; its directory holds archive_status/. */
  readonly walFilePath: string;
  /** WALG_UPLOAD_CONCURRENCY − 1. */
  readonly maxParallelUploads: number;
  /** TOTAL_BG_UPLOADED_LIMIT − 1: stop looking for more once this many succeeded. */
  readonly maxUploads: number;
  readonly segmentSize: number;
  readonly markers: ArchiveStatusMarkers;
  readonly postgresArchiveStatus: PostgresArchiveStatus;
  /** PG_READY_RENAME: rename `.ready` to `.done` after a background upload. */
  readonly readyRename: boolean;
  /** Uploads one WAL file (with overwrite protection as the foreground call decided); rejects on failure. */
  readonly upload: (walFilePath: string) => Promise<void>;
}

/** A counting semaphore whose waiters can be released empty-handed when the uploader stops. */
class Slots {
  #free: number;
  readonly #waiting: Array<(granted: boolean) => void> = [];

  constructor(count: number) {
    this.#free = count;
  }

  acquire(): Promise<boolean> {
    if (this.#free > 0) {
      this.#free--;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  release(): void {
    const next = this.#waiting.shift();
    if (next) next(true);
    else this.#free++;
  }

  refuseWaiting(): void {
    for (const waiter of this.#waiting.splice(0)) waiter(false);
  }
}

/**
 * Finds `.ready` files next to the pushed one and uploads them: first the following segment names in order while
 * their `.ready` exists, then anything `.ready` in archive_status (re-listed every 100 ms). Each success leaves a
 * marker so PostgreSQL's later wal-push for that file returns at once. stop() ends the search and waits for the
 * uploads already running; their failures are only logged (PostgreSQL will call wal-push for those files anyway).
 */
export class BackgroundUploader {
  readonly #options: BackgroundUploaderOptions;
  readonly #statusDirectory: string;
  readonly #walDirectory: string;
  readonly #started = new Set<string>();
  readonly #running = new Set<Promise<void>>();
  readonly #slots: Slots;
  #stopped = false;
  #wakeUp: (() => void) | undefined;
  #scanning: Promise<void> | undefined;
  #uploaded = 0;

  constructor(options: BackgroundUploaderOptions) {
    this.#options = options;
    this.#walDirectory = dirname(options.walFilePath);
    this.#statusDirectory = join(this.#walDirectory, POSTGRES_ARCHIVE_STATUS_FOLDER);
    this.#started.add(basename(options.walFilePath) + READY_SUFFIX);
    this.#slots = new Slots(Math.max(options.maxParallelUploads, 0));
  }

  get enabled(): boolean {
    return this.#options.maxParallelUploads >= 1 && this.#options.maxUploads >= 1;
  }

  /** Names of the files this uploader stored (for tests and debug logs). */
  readonly uploadedNames: string[] = [];

  start(): void {
    if (!this.enabled || this.#scanning) return;
    this.#scanning = this.#scan().catch((error: unknown) => log.error(`Error of parallel upload: ${errorMessage(error)}`));
  }

  /** Stops looking for files and waits for the uploads in progress. Safe to call more than once. */
  async stop(): Promise<void> {
    this.#halt();
    await this.#scanning;
    while (this.#running.size > 0) await Promise.allSettled([...this.#running]);
  }

  #halt(): void {
    this.#stopped = true;
    this.#slots.refuseWaiting();
    this.#wakeUp?.();
  }

  async #scan(): Promise<void> {
    let name = basename(this.#options.walFilePath);
    for (let i = 0; i < this.#options.maxUploads; i++) {
      try {
        name = nextWalSegmentName(name, this.#options.segmentSize);
        await stat(join(this.#statusDirectory, name + READY_SUFFIX));
      } catch {
        break;
      }
      if (this.#stopped) return;
      await this.#offer(name + READY_SUFFIX);
    }
    for (;;) {
      let entries: string[];
      try {
        entries = await readdir(this.#statusDirectory);
      } catch (error) {
        log.error(`Error of parallel upload: ${errorMessage(error)}`);
        return;
      }
      for (const entry of entries) {
        if (this.#stopped) return;
        await this.#offer(entry);
      }
      if (this.#stopped) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, POLL_PAUSE_MS);
        this.#wakeUp = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wakeUp = undefined;
      if (this.#stopped) return;
    }
  }

  /** One candidate from archive_status: skipped unless it is a fresh `.ready`; waits for a free upload slot. */
  async #offer(statusFileName: string): Promise<void> {
    if (!statusFileName.endsWith(READY_SUFFIX)) return;
    if (this.#options.markers.isUploaded(statusFileName)) return;
    if (this.#started.has(statusFileName)) return;
    this.#started.add(statusFileName);
    if (!(await this.#slots.acquire())) return;
    const running: Promise<void> = this.#uploadOne(statusFileName).then((uploaded) => {
      this.#slots.release();
      this.#running.delete(running);
      if (uploaded && ++this.#uploaded >= this.#options.maxUploads) this.#halt();
    });
    this.#running.add(running);
  }

  async #uploadOne(statusFileName: string): Promise<boolean> {
    const walName = statusFileName.slice(0, -READY_SUFFIX.length);
    try {
      await this.#options.upload(join(this.#walDirectory, walName));
    } catch (error) {
      log.error(`Error of background uploader: ${errorMessage(error)}`);
      return false;
    }
    this.uploadedNames.push(walName);
    try {
      await this.#options.markers.mark(walName);
    } catch (error) {
      log.error(`Error marking wal file ${walName} as uploaded: ${errorMessage(error)}`);
      return true;
    }
    if (this.#options.readyRename) {
      // Not fatal: PostgreSQL then calls wal-push for the file, which finds the marker.
      await this.#options.postgresArchiveStatus.renameReadyToDone(walName).catch((error: unknown) => log.error(errorMessage(error)));
    }
    return true;
  }
}
