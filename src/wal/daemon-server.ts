// `wal-g daemon <socket>`: WAL-G's Unix-socket server for walg-daemon-client. `C` checks, `F` pushes
// `$PGDATA/pg_wal/<name>`, `f` fetches; one-byte answers O/E/N. The storage stays open across requests.

import { createServer, type Server, type Socket } from 'node:net';
import { rm, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import type { Settings } from '../config/settings.ts';
import { WalgError, errorMessage } from '../errors.ts';
import { log, reopenDestination } from '../log/logger.ts';
import { configuredCrypter } from '../objects/configured.ts';
import { pathErrorText, systemErrorReason } from '../storage/go-text.ts';
import { DaemonArchiver } from './daemon-archiver.ts';
import { MESSAGE_TYPE, messageTypeName, ProtocolError, RequestFrameReader, decodeArguments, type RequestFrame } from './daemon-protocol.ts';
import { fetchWal, resolveDestination, WalNotFoundError } from './fetch.ts';
import { walSegmentSizeFromSetting } from './names.ts';
import { prefetchFollowingWals } from './prefetch.ts';
import { shouldPrefetch } from './prefetch-names.ts';
import { createWalPusher, WAL_FOLDER } from './push.ts';
import { sendWithSystemdNotify, WATCHDOG_INTERVAL_MS, WATCHDOG_STATE, type NotificationSender } from './systemd-notify.ts';
import type { WalStorage } from './wal-storage.ts';

export interface WalDaemonOptions {
  readonly socketPath: string;
  readonly settings: Settings;
  readonly storage: WalStorage;
  /** Default 30 s, as WAL-G. */
  readonly watchdogIntervalMs?: number;
  readonly notify?: NotificationSender;
}

/** A failure while handling one request: logged as `Message loop failure: …`, answered with `E`. */
class RequestError extends Error {}

export class WalDaemon {
  readonly options: WalDaemonOptions;
  readonly #server: Server;
  readonly #connections = new Set<Socket>();
  readonly #work = new Set<Promise<unknown>>();
  #archiver: DaemonArchiver | undefined;
  #watchdog: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: WalDaemonOptions) {
    this.options = options;
    // Half-open: a client that shuts down its sending side after the request must still get the answer.
    this.#server = createServer({ allowHalfOpen: true }, (socket) => this.#serve(socket));
  }

  /** Removes a stale socket file, listens, and starts the systemd watchdog. */
  async listen(): Promise<void> {
    const { socketPath } = this.options;
    let stale = false;
    try {
      await stat(socketPath);
      stale = true;
    } catch {
      // Nothing there: the usual case.
    }
    if (stale) {
      try {
        await rm(socketPath);
      } catch (error) {
        throw new WalgError(`Failed to remove socket file:${pathErrorText('remove', socketPath, error)}`);
      }
    }
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error): void => reject(new WalgError(`Error on listening socket:listen unix ${socketPath}: bind: ${systemErrorReason(error)}`));
      this.#server.once('error', onError);
      this.#server.listen(socketPath, () => {
        this.#server.off('error', onError);
        resolve();
      });
    });
    this.#server.on('error', (error) => log.error(`Failed to accept, err:${errorMessage(error)}`));
    this.#startWatchdog();
  }

  #startWatchdog(): void {
    const socket = this.options.settings.lookupValue('NOTIFY_SOCKET');
    const notify = this.options.notify ?? sendWithSystemdNotify;
    this.#watchdog = setInterval(() => {
      if (socket === undefined) return;
      notify(socket, WATCHDOG_STATE).catch((error: unknown) => log.error(errorMessage(error)));
    }, this.options.watchdogIntervalMs ?? WATCHDOG_INTERVAL_MS);
    this.#watchdog.unref();
  }

  /** Stops listening, drops connections and waits for work in progress (requests, prefetches, ahead uploads). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#watchdog);
    const closing = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const socket of this.#connections) socket.destroy();
    await closing;
    while (this.#work.size > 0) await Promise.allSettled([...this.#work]);
    if (this.#archiver) await Promise.allSettled(this.#archiver.aheadInProgress);
  }

  #track<T>(promise: Promise<T>): Promise<T> {
    this.#work.add(promise);
    promise.then(
      () => this.#work.delete(promise),
      () => this.#work.delete(promise),
    );
    return promise;
  }

  /** One connection: frames are handled one after another; `F` and `f` end it, `C` keeps it open. */
  #serve(socket: Socket): void {
    this.#connections.add(socket);
    const reader = new RequestFrameReader();
    const queue: RequestFrame[] = [];
    let busy = false;
    let finished = false;
    let peerEnded = false;

    const answer = (type: number): void => {
      if (!socket.destroyed) socket.write(Buffer.from([type]));
    };
    const fail = (message: string): void => {
      if (finished) return;
      finished = true;
      log.error(`Message loop failure: ${message}`);
      answer(MESSAGE_TYPE.error);
      socket.end();
    };
    const readFailure = (): string =>
      `read message from , err: ${reader.pendingBytes === 0 ? 'failed to read params: EOF' : 'failed to read msg body: unexpected EOF'}`;

    const drain = async (): Promise<void> => {
      if (busy) return;
      busy = true;
      socket.pause();
      while (queue.length > 0 && !finished) {
        const frame = queue.shift()!;
        try {
          const reply = await this.#track(this.#handle(frame));
          answer(reply);
        } catch (error) {
          fail(errorMessage(error));
          break;
        }
        if (frame.type === MESSAGE_TYPE.walPush || frame.type === MESSAGE_TYPE.walFetch) {
          finished = true;
          socket.end();
        }
      }
      busy = false;
      if (!finished && peerEnded) fail(readFailure());
      else if (!finished) socket.resume();
    };

    socket.on('data', (chunk: Buffer) => {
      if (finished) return;
      try {
        queue.push(...reader.push(chunk));
      } catch (error) {
        fail(`read message from , err: ${error instanceof ProtocolError ? error.message : errorMessage(error)}`);
        return;
      }
      void drain();
    });
    socket.on('end', () => {
      peerEnded = true;
      if (!busy && !finished) fail(readFailure());
    });
    socket.on('error', (error) => {
      log.debug(`daemon connection: ${errorMessage(error)}`);
      finished = true;
    });
    socket.on('close', () => this.#connections.delete(socket));
  }

  /** Handles one request and returns the answer byte; throws RequestError-worthy failures. */
  async #handle(frame: RequestFrame): Promise<number> {
    switch (frame.type) {
      case MESSAGE_TYPE.check:
        log.debug('configuration successfully checked');
        return MESSAGE_TYPE.ok;
      case MESSAGE_TYPE.walPush:
        return await this.#handlePush(frame.body);
      case MESSAGE_TYPE.walFetch:
        return await this.#handleFetch(frame.body);
      default:
        throw new RequestError(`unexpected message type: ${messageTypeName(frame.type)}`);
    }
  }

  /** WAL-G's getFullPath: relative to PGDATA, unless the path already contains PGDATA. */
  #underPgData(relativePath: string): string {
    const pgData = this.options.settings.lookupValue('PGDATA');
    if (pgData === undefined) throw new RequestError('handle message: PGDATA is not set in the conf');
    if (relativePath.includes(pgData)) {
      log.info(`path ${relativePath} already contain pgdata`);
      return relativePath;
    }
    return posix.join(pgData, relativePath);
  }

  async #archiverFor(): Promise<DaemonArchiver> {
    const { settings, storage } = this.options;
    const create = (): ReturnType<typeof createWalPusher> => createWalPusher(settings, storage.root);
    if (this.#archiver === undefined) {
      const aheadWorkers = settings.concurrency('WALG_UPLOAD_CONCURRENCY') - 1;
      this.#archiver = new DaemonArchiver(await create(), create, { aheadWorkers, aheadWindow: settings.int('TOTAL_BG_UPLOADED_LIMIT') - 1 });
    }
    return this.#archiver;
  }

  async #handlePush(body: Buffer): Promise<number> {
    const { settings, storage } = this.options;
    log.info(`Files will be uploaded to storage: ${storage.name}`);
    let archiver: DaemonArchiver;
    try {
      archiver = await this.#archiverFor();
    } catch (error) {
      throw new RequestError(`init handler for message type F: ${errorMessage(error)}`);
    }
    const walFileName = body.toString('utf8');
    log.debug(`wal file name: ${walFileName}`);
    const fullPath = this.#underPgData(posix.join('pg_wal', walFileName));
    log.debug(`starting wal-push: ${fullPath}`);
    let timeoutMs: number;
    try {
      timeoutMs = settings.requiredDurationMs('WALG_DAEMON_WAL_UPLOAD_TIMEOUT');
    } catch (error) {
      throw new RequestError(`handle message: ${errorMessage(error)}`);
    }
    try {
      await archiver.archive(fullPath, AbortSignal.timeout(timeoutMs));
    } catch (error) {
      const reason = error instanceof DOMException && error.name === 'TimeoutError' ? `upload timed out after ${timeoutMs} ms` : errorMessage(error);
      throw new RequestError(`handle message: file archiving failed: ${reason}`);
    }
    log.debug(`successfully archived: ${walFileName}`);
    return MESSAGE_TYPE.ok;
  }

  async #handleFetch(body: Buffer): Promise<number> {
    const { settings, storage } = this.options;
    let args: string[];
    try {
      args = decodeArguments(body);
    } catch (error) {
      throw new RequestError(`handle message: ${errorMessage(error)}`);
    }
    if (args.length !== 2) throw new RequestError('handle message: wal-fetch incorrect arguments count');
    const [walName, location] = args;
    const destination = resolveDestination(this.#underPgData(location));
    log.debug(`starting wal-fetch: ${walName} -> ${destination}`);
    const walFolder = storage.root.subFolder(WAL_FOLDER);
    const crypter = configuredCrypter(settings);
    const segmentSize = walSegmentSizeFromSetting(settings.get('WALG_PG_WAL_SIZE'));
    const prefetchDirSetting = settings.lookupValue('WALG_PREFETCH_DIR');
    try {
      await fetchWal({ walFolder, walName, destination, crypter, segmentSize, prefetchDirSetting });
    } catch (error) {
      if (error instanceof WalNotFoundError) {
        // WAL-G's message carries its own newline and the format adds one more: a blank line follows.
        log.warn(`ArchiveNonExistenceError: ${error.message}\n`);
        return MESSAGE_TYPE.notFound;
      }
      throw new RequestError(`handle message: WAL fetch failed: ${errorMessage(error)}`);
    } finally {
      this.#prefetchInProcess(walName, destination, crypter, segmentSize, prefetchDirSetting);
    }
    log.debug(`successfully fetched: ${walName} -> ${destination}`);
    return MESSAGE_TYPE.ok;
  }

  /** WAL-G's DaemonPrefetcher: the same prefetch as the wal-prefetch child, run here without waiting for it. */
  #prefetchInProcess(walName: string, destination: string, crypter: ReturnType<typeof configuredCrypter>, segmentSize: number, prefetchDirSetting: string | undefined): void {
    let concurrency: number;
    try {
      concurrency = this.options.settings.concurrency('WALG_DOWNLOAD_CONCURRENCY');
    } catch (error) {
      log.error(`WAL-prefetch: get max concurrency: ${errorMessage(error)}`);
      return;
    }
    if (!shouldPrefetch(walName, concurrency)) return;
    log.debug(`Invoking daemon WAL-prefetch (${walName})`);
    const walFolder = this.options.storage.root.subFolder(WAL_FOLDER);
    void this.#track(
      prefetchFollowingWals({ walFolder, walName, destination, concurrency, segmentSize, prefetchDirSetting, crypter }).catch((error: unknown) =>
        log.error(`WAL-prefetch (${walName}): ${errorMessage(error)}`),
      ),
    );
  }
}

/**
 * SIGHUP reopens the log destination, so logrotate can move the daemon's log file. WAL-G uses SIGUSR1, which
 * the binary must leave disabled (--disable-sigusr1): in Node it would open a debugger port (docs/COMPATIBILITY.md).
 */
export function reopenLogOnSignal(): () => void {
  const onSignal = (): void => {
    try {
      reopenDestination();
    } catch (error) {
      log.error(`error configuring logging: ${errorMessage(error)}`);
    }
  };
  process.on('SIGHUP', onSignal);
  return () => process.off('SIGHUP', onSignal);
}
