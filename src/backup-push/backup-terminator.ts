// Stops a running backup cleanly when backup-push is interrupted (SIGHUP, SIGINT, SIGTERM, SIGQUIT) or when the
// periodic liveness ping of PostgreSQL fails (WALG_ALIVE_CHECK_INTERVAL): uploads are cut, the server's backup mode
// is ended, and the push fails — before any sentinel exists.

import { errorMessage, WalgError } from '../errors.ts';
import { log } from '../log/logger.ts';
import { goDurationText } from './postgres-queries.ts';

/** Go's names for the signals WAL-G listens to (os.Signal.String()). */
const SIGNAL_TEXT: Readonly<Record<string, string>> = {
  SIGHUP: 'hangup',
  SIGINT: 'interrupt',
  SIGTERM: 'terminated',
  SIGQUIT: 'quit',
};

export interface TerminatorHooks {
  /** Cuts the uploads still running. */
  abortUploads(reason: Error): void;
  /** pg_stop_backup on the backup's session; undefined once the backup was stopped normally. */
  stopBackup: (() => Promise<void>) | undefined;
  /** The liveness check; rejects when PostgreSQL is gone. */
  ping(): Promise<void>;
}

/**
 * Watches for the reasons to terminate. `terminated` rejects (with WAL-G's final message) once a termination has
 * finished; race the backup against it.
 */
export class BackupTerminator {
  readonly terminated: Promise<never>;
  #reject: ((error: Error) => void) | undefined;
  readonly #hooks: TerminatorHooks;
  readonly #listeners = new Map<NodeJS.Signals, () => void>();
  readonly #aliveCheckIntervalMs: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #terminating = false;

  constructor(hooks: TerminatorHooks, aliveCheckIntervalMs: number | undefined) {
    this.#hooks = hooks;
    this.#aliveCheckIntervalMs = aliveCheckIntervalMs;
    this.terminated = new Promise<never>((_resolve, reject) => (this.#reject = reject));
    this.terminated.catch(() => undefined);
  }

  /** Starts watching: called once the server is in backup mode (WAL-G's initBackupTerminator). */
  arm(): void {
    const aliveCheckIntervalMs = this.#aliveCheckIntervalMs;
    for (const signal of Object.keys(SIGNAL_TEXT) as NodeJS.Signals[]) {
      const listener = (): void => this.#terminate(`received interruption signal: ${SIGNAL_TEXT[signal]}`);
      this.#listeners.set(signal, listener);
      process.on(signal, listener);
    }
    // WAL-G hands a non-positive interval to Go's ticker, which panics; here it simply means "no check".
    if (aliveCheckIntervalMs !== undefined && aliveCheckIntervalMs > 0) {
      log.info(`Initializing the PG alive checker (interval=${goDurationText(aliveCheckIntervalMs)})...`);
      this.#timer = setInterval(() => {
        log.debug('Checking if Postgres is still alive...');
        this.#hooks.ping().catch((error: unknown) => {
          this.#terminate(`PG alive check failed: failed to check if the Postgres connection is alive: ${errorMessage(error)}`);
        });
      }, aliveCheckIntervalMs);
      this.#timer.unref();
    }
  }

  #terminate(reason: string): void {
    if (this.#terminating) return;
    this.#terminating = true;
    log.error(`Error: ${reason}, gracefully stopping the running backup...`);
    const failure = new WalgError('Finished backup termination, will now exit');
    this.#hooks.abortUploads(failure);
    const stop = this.#hooks.stopBackup;
    const stopped = stop === undefined ? Promise.resolve() : stop().then(
      () => log.info('Successfully stopped the running backup'),
      (error: unknown) => log.warn(`Failed to stop backup: ${errorMessage(error)}`),
    );
    void stopped.then(() => this.#reject?.(failure));
  }

  /** Stops watching (the backup finished or failed on its own). */
  dispose(): void {
    for (const [signal, listener] of this.#listeners) process.off(signal, listener);
    this.#listeners.clear();
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
