// The daemon's wal-push: answers each `F` as soon as that segment is stored, then keeps uploading the following
// `.ready` segments ahead, marking each once stored, so PostgreSQL's next `F` requests are answered at once.

import { stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { errorMessage } from '../errors.ts';
import { log } from '../log/logger.ts';
import { NoArchiveStatusMarkers, POSTGRES_ARCHIVE_STATUS_FOLDER, READY_SUFFIX } from './archive-status.ts';
import { nextWalSegmentName } from './names.ts';
import { preventsOverwrite, type WalPusher } from './push.ts';

export interface DaemonArchiverOptions {
  /** Ahead uploads at once: WALG_UPLOAD_CONCURRENCY − 1 (0 turns uploading ahead off). */
  readonly aheadWorkers: number;
  /** How many segment names past the last acknowledged one to look at: TOTAL_BG_UPLOADED_LIMIT − 1. */
  readonly aheadWindow: number;
}

/** How many acknowledged names to remember, so a late look-ahead never picks one PostgreSQL already has done. */
const REMEMBERED_ACKNOWLEDGEMENTS = 256;

/** Waits for a promise, but gives up (rejecting with the signal's reason) when the signal aborts first. */
function untilDoneOrAborted(promise: Promise<unknown>, signal: AbortSignal | undefined): Promise<void> {
  if (signal === undefined) return promise.then(() => undefined);
  signal.throwIfAborted();
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      },
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      },
    );
  });
}

export class DaemonArchiver {
  #pusher: WalPusher;
  readonly #createPusher: () => Promise<WalPusher>;
  readonly #options: DaemonArchiverOptions;
  readonly #segmentSize: number;
  /** Ahead uploads in progress, by WAL name; resolves true when stored and marked. */
  readonly #ahead = new Map<string, Promise<boolean>>();
  /** Names an `F` request is working on right now. */
  readonly #foreground = new Set<string>();
  /** Names whose ahead upload failed: left to PostgreSQL's own request, which reports the error. */
  readonly #failed = new Set<string>();
  readonly #acknowledged = new Set<string>();
  #lastAcknowledged: { directory: string; name: string } | undefined;
  #pumping = false;
  #pumpAgain = false;

  /**
   * @param createPusher makes a pusher from the current settings and directories; called for every `F` request,
   * as WAL-G re-resolves PGDATA's WAL folder and its marker directory per request (PGDATA may be restored later).
   */
  constructor(pusher: WalPusher, createPusher: () => Promise<WalPusher>, options: DaemonArchiverOptions) {
    this.#pusher = pusher;
    this.#createPusher = createPusher;
    this.#options = options;
    this.#segmentSize = pusher.options.segmentSize;
  }

  get pusher(): WalPusher {
    return this.#pusher;
  }

  /** Uploads still running ahead (tests and shutdown wait on these). */
  get aheadInProgress(): Promise<boolean>[] {
    return [...this.#ahead.values()];
  }

  /**
   * Archives one WAL file for an `F` request; resolves once it is stored (or was stored ahead). An ahead upload of
   * the same file is awaited rather than repeated.
   */
  async archive(walFilePath: string, signal?: AbortSignal): Promise<void> {
    const name = basename(walFilePath);
    this.#foreground.add(name);
    this.#failed.delete(name);
    try {
      this.#pusher = await this.#createPusher();
      const ahead = this.#ahead.get(name);
      if (ahead !== undefined) await untilDoneOrAborted(ahead, signal);
      // Finds the marker when the ahead upload succeeded; uploads (with the usual checks) when it did not.
      await this.pusher.push(walFilePath, { signal, background: false });
    } finally {
      this.#foreground.delete(name);
    }
    this.#remember(name);
    this.#lastAcknowledged = { directory: dirname(walFilePath), name };
    this.#pump();
  }

  #remember(name: string): void {
    this.#acknowledged.add(name);
    if (this.#acknowledged.size > REMEMBERED_ACKNOWLEDGEMENTS) {
      this.#acknowledged.delete(this.#acknowledged.values().next().value as string);
    }
  }

  #isTaken(name: string): boolean {
    return this.#acknowledged.has(name) || this.#ahead.has(name) || this.#foreground.has(name) || this.#failed.has(name);
  }

  /** Starts ahead uploads for the `.ready` segments following the last acknowledged one, while workers are free. */
  #pump(): void {
    if (this.#options.aheadWorkers < 1 || this.#options.aheadWindow < 1 || this.#lastAcknowledged === undefined) return;
    // Without markers PostgreSQL's own request could not tell that a file went ahead: it would be uploaded twice.
    if (this.pusher.markers instanceof NoArchiveStatusMarkers) return;
    // WAL-delta records belong to the push whose flush writes them: uploads outside a push would miss their flush.
    if (this.pusher.options.walDelta !== undefined) return;
    if (this.#pumping) {
      this.#pumpAgain = true;
      return;
    }
    this.#pumping = true;
    this.#fill(this.#lastAcknowledged.directory, this.#lastAcknowledged.name)
      .catch((error: unknown) => log.error(`Error of parallel upload: ${errorMessage(error)}`))
      .finally(() => {
        this.#pumping = false;
        if (this.#pumpAgain) {
          this.#pumpAgain = false;
          this.#pump();
        }
      });
  }

  async #fill(walDirectory: string, anchor: string): Promise<void> {
    const statusDirectory = join(walDirectory, POSTGRES_ARCHIVE_STATUS_FOLDER);
    let name = anchor;
    for (let i = 0; i < this.#options.aheadWindow && this.#ahead.size < this.#options.aheadWorkers; i++) {
      try {
        name = nextWalSegmentName(name, this.#segmentSize);
      } catch {
        return;
      }
      if (this.#isTaken(name)) continue;
      try {
        await stat(join(statusDirectory, name + READY_SUFFIX));
      } catch {
        return; // PostgreSQL has not finished this segment yet: nothing further is ready either.
      }
      // Checked again after the await: an `F` for this name may have arrived meanwhile.
      if (this.#isTaken(name) || this.pusher.markers.isUploaded(name)) continue;
      this.#startAhead(walDirectory, name);
    }
  }

  #startAhead(walDirectory: string, name: string): void {
    const upload = this.#uploadAhead(join(walDirectory, name)).then((stored) => {
      this.#ahead.delete(name);
      if (!stored) this.#failed.add(name);
      this.#pump();
      return stored;
    });
    this.#ahead.set(name, upload);
  }

  async #uploadAhead(walFilePath: string): Promise<boolean> {
    const name = basename(walFilePath);
    const options = this.pusher.options;
    try {
      await this.pusher.uploadWalFile(walFilePath, preventsOverwrite(options.preventOverwrite, walFilePath));
    } catch (error) {
      log.error(`Error of background uploader: ${errorMessage(error)}`);
      return false;
    }
    try {
      await options.markers.mark(name);
    } catch (error) {
      log.error(`Error marking wal file ${name} as uploaded: ${errorMessage(error)}`);
      return false;
    }
    if (options.readyRename) {
      await options.postgresArchiveStatus.renameReadyToDone(name).catch((error: unknown) => log.error(errorMessage(error)));
    }
    return true;
  }
}
