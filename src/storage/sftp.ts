// The SFTP driver (WALG_SSH_PREFIX=ssh://host/path), with WAL-G's settings and error texts; host keys are not verified, as in WAL-G.
//
// One SSH connection per storage, opened on first use and reopened after it drops (an open file stays with the
// connection it was opened on); every SFTP request waits for one of a bounded number of slots. Files move as pipelined requests of at most 256 KiB, a
// few per transfer, so memory stays small and throughput does not wait on round trips. A put writes a hidden
// temporary file next to the target (the file driver's naming, so listings skip it), fsyncs it when the server
// offers fsync@openssh.com, and renames it over the final name with posix-rename@openssh.com: nobody sees a
// half-written object. WAL-G writes the final file in place.
//
// Divergences from WAL-G: a port in the prefix (ssh://host:2222/path) is used when SSH_PORT is not set (WAL-G
// cannot connect then); a dropped connection is reopened (WAL-G keeps the failed one).

import { randomBytes } from 'node:crypto';
import { nodeFsPromises } from '../native/lazy-builtins.ts';
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { WalgError, errorMessage } from '../errors.ts';
import { log } from '../log/logger.ts';
import { NotFoundError, ObjectExistsError, checkRange, compareKeys } from './driver.ts';
import type { GetOptions, ListEntry, ListOptions, ObjectInfo, PutOptions, StorageDriver } from './driver.ts';
import { isTemporaryName } from './file.ts';
import { goQuote, pathErrorText } from './go-text.ts';
import type { SettingLookup } from './open.ts';
import { parseStoragePrefix } from './prefix.ts';
import { TransientStorageError } from './retry.ts';

export const SSH_PORT_SETTING = 'SSH_PORT';
export const SSH_USERNAME_SETTING = 'SSH_USERNAME';
export const SSH_PASSWORD_SETTING = 'SSH_PASSWORD';
export const SSH_PRIVATE_KEY_PATH_SETTING = 'SSH_PRIVATE_KEY_PATH';

const DEFAULT_PORT = '22';
/** Bytes per read or write request: OpenSSH's limit (limits@openssh.com says 255 KiB), and where throughput peaks. */
const TRANSFER_PIECE = 255 * 1024;
/** Requests in flight per transfer; 8 × 255 KiB keeps a loopback or LAN link busy. */
const TRANSFER_REQUESTS_IN_FLIGHT = 8;
/** Requests in flight over one connection, all transfers and metadata calls together. */
const CONNECTION_REQUESTS_IN_FLIGHT = 64;
const DELETE_CONCURRENCY = 16;
const DIRECTORY_MODE = 0o755;
const FILE_MODE = 0o644;
const NAME_MAX = 255;
const CONNECT_TIMEOUT_MS = 30_000;
const KEEPALIVE_INTERVAL_MS = 15_000;

/** SFTP status codes (draft-ietf-secsh-filexfer-02), as ssh2 puts them in `error.code`. */
const STATUS_EOF = 1;
const STATUS_NO_SUCH_FILE = 2;
const STATUS_NAMES: Record<number, string> = {
  1: 'SSH_FX_EOF',
  2: 'SSH_FX_NO_SUCH_FILE',
  3: 'SSH_FX_PERMISSION_DENIED',
  4: 'SSH_FX_FAILURE',
  5: 'SSH_FX_BAD_MESSAGE',
  6: 'SSH_FX_NO_CONNECTION',
  7: 'SSH_FX_CONNECTION_LOST',
  8: 'SSH_FX_OP_UNSUPPORTED',
};

/** Everything an SFTP storage needs. Holds the password and key: never log it. */
export interface SftpSettings {
  /** Host name or address, without brackets or port. */
  host: string;
  port: number;
  /** `host:port` as WAL-G prints it. */
  address: string;
  /** The remote root: '' (the login directory) or a directory path ending with '/'. */
  rootPath: string;
  username: string;
  password: string | undefined;
  privateKey: Buffer | undefined;
}

/**
 * Reads the SSH settings and the private key the way WAL-G does. Errors are WAL-G's, without the
 * `configure storage with prefix` wrapper.
 */
export async function readSftpSettings(prefix: string, getSetting: SettingLookup): Promise<SftpSettings> {
  const { bucket: hostAndPort, path: rootPath } = parseStoragePrefix('ssh', prefix);
  const { host, port: prefixPort } = splitHostPort(hostAndPort);
  const portText = setting(getSetting, SSH_PORT_SETTING) ?? prefixPort ?? DEFAULT_PORT;
  const address = `${host.includes(':') ? `[${host}]` : host}:${portText}`;
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) {
    throw new WalgError(`create SSH storage: invalid port ${goQuote(portText)} in ${SSH_PORT_SETTING}: give a number from 1 to 65535`);
  }

  let privateKey: Buffer | undefined;
  const keyPath = setting(getSetting, SSH_PRIVATE_KEY_PATH_SETTING);
  if (keyPath !== undefined) {
    try {
      privateKey = await nodeFsPromises().readFile(keyPath);
    } catch (error) {
      throw new WalgError(`create SSH storage: read SSH private key: ${pathErrorText('open', keyPath, error)}`, 1, { cause: error });
    }
  }
  return {
    host,
    port,
    address,
    rootPath,
    username: getSetting(SSH_USERNAME_SETTING) ?? '',
    password: setting(getSetting, SSH_PASSWORD_SETTING),
    privateKey,
  };
}

/** Opens an SFTP storage from WALG_SSH_PREFIX's value and the settings; it connects on first use. */
export async function openSftpStorage(prefix: string, getSetting: SettingLookup): Promise<SftpStorageDriver> {
  const settings = await readSftpSettings(prefix, getSetting);
  const ssh2 = await loadSsh2();
  if (settings.privateKey !== undefined) {
    const parsed = ssh2.utils.parseKey(settings.privateKey);
    if (parsed instanceof Error) throw new WalgError(`create SSH storage: parse SSH private key: ${parsed.message}`, 1, { cause: parsed });
  }
  return new SftpStorageDriver(new SftpConnection(settings, ssh2), settings);
}

export class SftpStorageDriver implements StorageDriver {
  readonly kind = 'ssh';
  readonly settings: SftpSettings;
  private readonly connection: SftpConnection;

  constructor(connection: SftpConnection, settings: SftpSettings) {
    this.connection = connection;
    this.settings = settings;
  }

  /** The remote path behind a key. */
  remotePath(key: string): string {
    return this.settings.rootPath + key;
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ListEntry> {
    yield* this.listDirectory(prefix, options.recursive === true);
  }

  /** One directory in key order; recursion happens in place so the whole listing comes out in key order. */
  private async *listDirectory(prefix: string, recursive: boolean): AsyncGenerator<ListEntry> {
    const directory = this.remotePath(prefix) || '.';
    let found: DirectoryEntry[];
    try {
      found = await this.connection.call<DirectoryEntry[]>((sftp, done) => sftp.readdir(directory, done));
    } catch (error) {
      if (sftpStatus(error) === STATUS_NO_SUCH_FILE) return;
      throw sftpFailure(`read SFTP folder ${goQuote(directory)}`, error);
    }
    const entries: { name: string; isFolder: boolean; sortKey: string; attributes: FileAttributes }[] = [];
    for (const entry of found) {
      if (entry.filename === '.' || entry.filename === '..' || isTemporaryName(entry.filename)) continue;
      const isFolder = entry.attrs.isDirectory();
      entries.push({ name: entry.filename, isFolder, sortKey: isFolder ? `${entry.filename}/` : entry.filename, attributes: entry.attrs });
    }
    entries.sort((a, b) => compareKeys(a.sortKey, b.sortKey));
    for (const entry of entries) {
      const key = prefix + entry.name;
      if (!entry.isFolder) {
        yield { kind: 'object', key, size: entry.attributes.size, modified: new Date(entry.attributes.mtime * 1000) };
      } else if (recursive) {
        yield* this.listDirectory(`${key}/`, true);
      } else {
        yield { kind: 'folder', key: `${key}/` };
      }
    }
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    const path = this.remotePath(key);
    let attributes: FileAttributes;
    try {
      attributes = await this.connection.call<FileAttributes>((sftp, done) => sftp.stat(path, done));
    } catch (error) {
      if (sftpStatus(error) === STATUS_NO_SUCH_FILE) return undefined;
      throw sftpFailure(`check file ${goQuote(path)} existence via SFTP`, error);
    }
    if (attributes.isDirectory()) return undefined;
    return { kind: 'object', key, size: attributes.size, modified: new Date(attributes.mtime * 1000) };
  }

  async get(key: string, options?: GetOptions): Promise<Readable> {
    const { offset, length } = checkRange(key, options);
    const path = this.remotePath(key);
    let handle: Buffer;
    let session: SftpSession;
    try {
      session = await this.connection.session();
      handle = await this.connection.callOn<Buffer>(session, (sftp, done) => sftp.open(path, 'r', done));
    } catch (error) {
      if (sftpStatus(error) === STATUS_NO_SUCH_FILE) throw new NotFoundError(key, path);
      throw sftpFailure(`open file ${goQuote(path)} via SFTP`, error);
    }
    let size: number;
    try {
      const attributes = await this.connection.callOn<FileAttributes>(session, (sftp, done) => sftp.fstat(handle, done));
      if (attributes.isDirectory()) throw new NotFoundError(key, path);
      size = attributes.size;
    } catch (error) {
      await this.closeHandle(session, handle);
      if (error instanceof NotFoundError) throw error;
      throw sftpFailure(`get stats of file ${goQuote(path)} via SFTP`, error);
    }
    const end = length === undefined ? size : Math.min(size, offset + length);
    return new SftpFileReader(this.connection, session, handle, path, offset, Math.max(offset, end));
  }

  async put(key: string, body: Readable, options: PutOptions = {}): Promise<void> {
    const path = this.remotePath(key);
    const overwrite = options.overwrite ?? true;
    // Fail before reading a possibly huge body; the rename below still refuses a racing writer.
    if (!overwrite && (await this.stat(key)) !== undefined) {
      body.destroy();
      throw new ObjectExistsError(key, path);
    }
    // Until the body is read, its failure must not go unheard (an 'error' without listener ends the process).
    body.on('error', ignoreError);
    const directory = posix.dirname(path);
    const temporaryPath = posix.join(directory, temporaryNameFor(posix.basename(path)));
    let handle: Buffer | undefined;
    let session: SftpSession | undefined;
    const reader = new BodyReader(body);
    try {
      session = await this.connection.session();
      handle = await this.createFile(session, temporaryPath, directory, path);
      await this.writeBody(session, handle, reader, path);
      const opened = handle;
      if (session.extensions.has('fsync@openssh.com')) {
        await this.connection
          .callOn<void>(session, (sftp, done) => sftp.ext_openssh_fsync(opened, done))
          .catch((error: unknown) => {
            throw sftpFailure(`sync file ${goQuote(path)} via SFTP`, error);
          });
      }
      handle = undefined;
      await this.connection.callOn<void>(session, (sftp, done) => sftp.close(opened, done)).catch((error: unknown) => {
        throw sftpFailure(`close file ${goQuote(path)} opened via SFTP`, error);
      });
      await this.publish(session, key, temporaryPath, path, overwrite);
    } catch (error) {
      // Taken before destroy(), whose own abort must not pass for the body's failure.
      const bodyFailure = reader.failure;
      body.destroy();
      // Cleanup only over the connection the file was written on: after a drop the hidden temporary file stays,
      // which no listing shows, rather than making put wait for a new connection.
      if (session !== undefined && handle !== undefined) await this.closeHandle(session, handle);
      if (session !== undefined && !session.closed) {
        await this.connection.callOn<void>(session, (sftp, done) => sftp.unlink(temporaryPath, done)).catch(() => {});
      }
      // The body's own failure (say, a broken compressor) reaches the caller untouched.
      if (bodyFailure !== undefined) throw bodyFailure;
      throw error;
    }
  }

  /** Opens a new file for writing, creating its directory (mkdir -p) when it is missing. */
  private async createFile(session: SftpSession, temporaryPath: string, directory: string, path: string): Promise<Buffer> {
    const open = (): Promise<Buffer> =>
      this.connection.callOn<Buffer>(session, (sftp, done) => sftp.open(temporaryPath, 'wx', { mode: FILE_MODE }, done));
    try {
      return await open();
    } catch (error) {
      if (sftpStatus(error) !== STATUS_NO_SUCH_FILE) {
        throw sftpFailure(`create file ${goQuote(path)} via SFTP`, error);
      }
    }
    await this.makeDirectories(directory);
    try {
      return await open();
    } catch (error) {
      throw sftpFailure(`create file ${goQuote(path)} via SFTP`, error);
    }
  }

  /** mkdir -p: creates the missing directories from the top down. */
  private async makeDirectories(directory: string): Promise<void> {
    const missing: string[] = [];
    let current = directory;
    while (current !== '.' && current !== '/' && current !== '') {
      try {
        const attributes = await this.connection.call<FileAttributes>((sftp, done) => sftp.stat(current, done));
        if (!attributes.isDirectory()) {
          throw new WalgError(`create directory ${goQuote(directory)} via SFTP: ${current} is a file, not a directory`);
        }
        break;
      } catch (error) {
        if (error instanceof WalgError) throw error;
        if (sftpStatus(error) !== STATUS_NO_SUCH_FILE) {
          throw sftpFailure(`create directory ${goQuote(directory)} via SFTP`, error);
        }
      }
      missing.unshift(current);
      current = posix.dirname(current);
    }
    for (const path of missing) {
      try {
        await this.connection.call<void>((sftp, done) => sftp.mkdir(path, { mode: DIRECTORY_MODE }, done));
      } catch (error) {
        // Another writer may have made it meanwhile.
        const attributes = await this.connection
          .call<FileAttributes>((sftp, done) => sftp.stat(path, done))
          .catch(() => undefined);
        if (attributes?.isDirectory()) continue;
        throw sftpFailure(`create directory ${goQuote(directory)} via SFTP`, error);
      }
    }
  }

  /**
   * Writes the body with up to TRANSFER_REQUESTS_IN_FLIGHT pieces outstanding. ssh2 copies each piece into its
   * packet at once, so a body chunk is released as soon as its pieces are sent.
   */
  private async writeBody(session: SftpSession, handle: Buffer, body: BodyReader, path: string): Promise<void> {
    const inFlight = new Set<Promise<void>>();
    let failure: unknown;
    let position = 0;
    const writePiece = (piece: Buffer, at: number): void => {
      const writing = this.connection
        .callOn<void>(session, (sftp, done) => sftp.write(handle, piece, 0, piece.length, at, done))
        .catch((error: unknown) => {
          failure ??= error;
        })
        .finally(() => inFlight.delete(writing));
      inFlight.add(writing);
    };
    try {
      for (let chunk = await body.next(); chunk !== undefined && failure === undefined; chunk = await body.next()) {
        for (let start = 0; start < chunk.length && failure === undefined; start += TRANSFER_PIECE) {
          while (inFlight.size >= TRANSFER_REQUESTS_IN_FLIGHT) await Promise.race(inFlight);
          if (failure !== undefined) break;
          const piece = chunk.subarray(start, start + TRANSFER_PIECE);
          writePiece(piece, position);
          position += piece.length;
        }
      }
    } finally {
      // Whatever ended the loop, no write may still be running when the caller closes the handle.
      await Promise.all(inFlight);
    }
    if (failure !== undefined) {
      throw sftpFailure(`write data to file ${goQuote(path)} via SFTP`, failure);
    }
  }

  /** Moves the finished temporary file to its final name. */
  private async publish(session: SftpSession, key: string, temporaryPath: string, path: string, overwrite: boolean): Promise<void> {
    if (!overwrite) {
      // Plain SFTP rename refuses an existing target (OpenSSH links, then unlinks).
      try {
        await this.connection.call<void>((sftp, done) => sftp.rename(temporaryPath, path, done));
        return;
      } catch (error) {
        if ((await this.stat(key).catch(() => undefined)) !== undefined) throw new ObjectExistsError(key, path);
        throw sftpFailure(`rename file ${goQuote(temporaryPath)} to ${goQuote(path)} via SFTP`, error);
      }
    }
    try {
      if (session.extensions.has('posix-rename@openssh.com')) {
        await this.connection.call<void>((sftp, done) => sftp.ext_openssh_rename(temporaryPath, path, done));
        return;
      }
      // Without POSIX rename the target must go first; a reader may briefly find nothing, never a partial file.
      await this.connection.call<void>((sftp, done) => sftp.unlink(path, done)).catch(() => {});
      await this.connection.call<void>((sftp, done) => sftp.rename(temporaryPath, path, done));
    } catch (error) {
      throw sftpFailure(`rename file ${goQuote(temporaryPath)} to ${goQuote(path)} via SFTP`, error);
    }
  }

  async deleteMany(keys: string[]): Promise<void> {
    await inParallel(keys, DELETE_CONCURRENCY, async (key) => {
      const path = this.remotePath(key);
      try {
        await this.connection.call<void>((sftp, done) => sftp.unlink(path, done));
      } catch (error) {
        if (sftpStatus(error) === STATUS_NO_SUCH_FILE) return;
        // A directory is no object (as in WAL-G, it is left alone); anything else is a real failure.
        const attributes = await this.connection
          .call<FileAttributes>((sftp, done) => sftp.stat(path, done))
          .catch(() => undefined);
        if (attributes?.isDirectory()) return;
        throw sftpFailure(`delete object ${goQuote(path)} via SFTP`, error);
      }
    });
  }

  async copy(sourceKey: string, destinationKey: string): Promise<void> {
    if ((await this.stat(sourceKey)) === undefined) throw new NotFoundError(sourceKey);
    const source = await this.get(sourceKey);
    try {
      await this.put(destinationKey, source);
    } catch (error) {
      if (error instanceof WalgError && !(error instanceof SftpConnectionError)) {
        throw new WalgError(`copy via SFTP: write destination file ${goQuote(this.remotePath(destinationKey))}: ${error.message}`, 1, {
          cause: error,
        });
      }
      throw error;
    } finally {
      source.destroy();
    }
  }

  async close(): Promise<void> {
    await this.connection.close();
  }

  private async closeHandle(session: SftpSession, handle: Buffer): Promise<void> {
    await this.connection.callOn<void>(session, (sftp, done) => sftp.close(handle, done)).catch(() => {});
  }
}

/**
 * Reads [position, end) of an open remote file with up to TRANSFER_REQUESTS_IN_FLIGHT requests ahead, handing
 * the pieces on in order; short answers are completed with another request. Closes the handle when done.
 */
class SftpFileReader extends Readable {
  private readonly connection: SftpConnection;
  private readonly session: SftpSession;
  private readonly handle: Buffer;
  private readonly path: string;
  private readonly end: number;
  private nextPosition: number;
  private readonly pending: Promise<ReadResult>[] = [];
  /** Set by _read, cleared when push() says the consumer has enough. */
  private wanted = false;
  private pumping = false;
  private finished = false;
  private handleClosed = false;

  constructor(connection: SftpConnection, session: SftpSession, handle: Buffer, path: string, start: number, end: number) {
    super({ highWaterMark: TRANSFER_PIECE * 2 });
    this.connection = connection;
    this.session = session;
    this.handle = handle;
    this.path = path;
    this.nextPosition = start;
    this.end = end;
  }

  override _read(): void {
    this.wanted = true;
    if (!this.pumping) void this.pump();
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      while (this.wanted && !this.finished && !this.destroyed) await this.step();
    } catch (error) {
      this.destroy(error instanceof Error ? error : new Error(String(error)));
    } finally {
      this.pumping = false;
    }
    // A _read that came while the loop was winding down.
    if (this.wanted && !this.finished && !this.destroyed) void this.pump();
  }

  /** Hands on the next piece in order, keeping the queue of requests ahead full. */
  private async step(): Promise<void> {
    while (this.pending.length < TRANSFER_REQUESTS_IN_FLIGHT && this.nextPosition < this.end) {
      const length = Math.min(TRANSFER_PIECE, this.end - this.nextPosition);
      this.pending.push(this.readPiece(this.nextPosition, length));
      this.nextPosition += length;
    }
    const next = this.pending.shift();
    if (next === undefined) {
      this.finished = true;
      await this.closeHandle();
      this.push(null);
      return;
    }
    const result = await next;
    if (this.destroyed) return;
    if (result.error !== undefined) {
      throw sftpFailure(`read file ${goQuote(this.path)} via SFTP`, result.error);
    }
    if (result.data.length === 0) {
      throw new WalgError(`read file ${goQuote(this.path)} via SFTP: the file ended at byte ${result.position}, before its size when opened`);
    }
    if (result.data.length < result.length) {
      // A short answer: ask for the rest before anything that was queued behind it.
      const got = result.data.length;
      this.pending.unshift(this.readPiece(result.position + got, result.length - got));
    }
    if (!this.push(result.data)) this.wanted = false;
  }

  /** Never rejects: failures travel in the result, so a queued read cannot become an unhandled rejection. */
  private readPiece(position: number, length: number): Promise<ReadResult> {
    const buffer = Buffer.allocUnsafe(length);
    return this.connection
      .callOn<number>(this.session, (sftp, done) =>
        sftp.read(this.handle, buffer, 0, length, position, (error, bytesRead) => done(error, bytesRead)),
      )
      .then(
        (bytesRead) => ({ position, length, data: buffer.subarray(0, bytesRead ?? 0) }),
        (error: unknown) => {
          if (sftpStatus(error) === STATUS_EOF) return { position, length, data: buffer.subarray(0, 0) };
          return { position, length, data: buffer.subarray(0, 0), error };
        },
      );
  }

  private async closeHandle(): Promise<void> {
    if (this.handleClosed) return;
    this.handleClosed = true;
    await this.connection.callOn<void>(this.session, (sftp, done) => sftp.close(this.handle, done)).catch(() => {});
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.closeHandle().then(
      () => callback(error),
      () => callback(error),
    );
  }
}

interface ReadResult {
  position: number;
  length: number;
  data: Buffer;
  error?: unknown;
}

/**
 * Pulls a put's body chunk by chunk and remembers a failure of the body itself, so it can reach the caller
 * untouched (say, a broken compressor) while storage failures get wrapped. It never cancels the body's iterator:
 * that would destroy the body with an AbortError that then looks like the body's own failure.
 */
class BodyReader {
  /** The body's own error, once it failed. */
  failure: unknown;
  private readonly chunks: AsyncIterator<Buffer | string>;

  constructor(body: Readable) {
    this.chunks = body[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  }

  /** The next chunk, or undefined at the end. */
  async next(): Promise<Buffer | undefined> {
    let step: IteratorResult<Buffer | string>;
    try {
      step = await this.chunks.next();
    } catch (error) {
      this.failure ??= error;
      throw error;
    }
    if (step.done) return undefined;
    return typeof step.value === 'string' ? Buffer.from(step.value) : step.value;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The connection.

/**
 * One SSH connection with its SFTP channel, opened on first use and again after it drops; `call` runs one SFTP
 * request once a slot among CONNECTION_REQUESTS_IN_FLIGHT is free.
 */
export class SftpConnection {
  private readonly settings: SftpSettings;
  private readonly ssh2: Ssh2Module;
  private opening: Promise<SftpSession> | undefined;
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(settings: SftpSettings, ssh2: Ssh2Module) {
    this.settings = settings;
    this.ssh2 = ssh2;
  }

  /** Runs `request` on the current connection, opening one if needed; `done` is ssh2's node-style callback. */
  async call<T>(request: SftpRequest<T>): Promise<T> {
    return this.callOn(await this.session(), request);
  }

  /**
   * Runs `request` on `session` only. File handles belong to the connection that opened them: after a reconnect
   * the same handle string may name another file, so handle operations must never follow the connection.
   */
  async callOn<T>(session: SftpSession, request: SftpRequest<T>): Promise<T> {
    await this.acquire();
    try {
      if (session.closed) throw new TransientStorageError('the SSH connection was lost');
      return await new Promise<T>((resolve, reject) => {
        request(session.sftp, (error, value) => {
          if (!error) resolve(value as T);
          // A server's answer carries an SFTP status; anything else is the connection failing, which the retry
          // layer may cure with a new one.
          else if (sftpStatus(error) === undefined) reject(new TransientStorageError(`the SSH connection failed: ${error.message}`, { cause: error }));
          else reject(error);
        });
      });
    } finally {
      this.release();
    }
  }

  /** The live connection, opened now if there is none. */
  session(): Promise<SftpSession> {
    return this.open();
  }


  private current: SftpSession | undefined;

  private open(): Promise<SftpSession> {
    if (this.opening === undefined) {
      const forget = (): void => {
        if (this.opening !== attempt) return;
        this.opening = undefined;
        this.current = undefined;
      };
      // When this connection closes or fails, the next request opens a new one.
      const attempt: Promise<SftpSession> = this.connect(forget).then(
        (session) => {
          if (this.opening === attempt) this.current = session;
          return session;
        },
        (error: unknown) => {
          forget();
          throw error;
        },
      );
      this.opening = attempt;
    }
    return this.opening;
  }

  private connect(onClose: () => void): Promise<SftpSession> {
    const settings = this.settings;
    return new Promise<SftpSession>((resolve, reject) => {
      const client = new this.ssh2.Client();
      let settled = false;
      const fail = (stage: 'SSH' | 'SFTP', error: unknown): void => {
        client.end();
        if (settled) return;
        settled = true;
        reject(
          new SftpConnectionError(`lazy SSH connection error: failed to connect to ${settings.address} via ${stage}: ${errorMessage(error)}`, {
            cause: error,
          }),
        );
      };
      client.on('error', (error: Error) => {
        if (!settled) fail('SSH', error);
        else log.debug(`SFTP connection to ${settings.address}: ${error.message}`);
      });
      let session: SftpSession | undefined;
      client.on('close', () => {
        if (session !== undefined) session.closed = true;
        onClose();
        if (!settled) fail('SSH', new Error('connection closed during the handshake'));
      });
      // Small requests (stat, open, rename) must not wait for Nagle's algorithm: that costs 40 ms each.
      client.on('connect', () => client.setNoDelay(true));
      client.on('ready', () => {
        client.sftp((error, sftp) => {
          if (error || sftp === undefined) {
            fail('SFTP', error ?? new Error('no SFTP channel'));
            return;
          }
          settled = true;
          session = { client, sftp, extensions: new Set(Object.keys(sftp._extensions ?? {})), closed: false };
          resolve(session);
        });
      });
      // WAL-G offers the key first, then the password.
      const methods: string[] = [];
      if (settings.privateKey !== undefined) methods.push('publickey');
      if (settings.password !== undefined) methods.push('password');
      try {
        client.connect({
          host: settings.host,
          port: settings.port,
          username: settings.username,
          privateKey: settings.privateKey,
          password: settings.password,
          authHandler: methods.length > 0 ? methods : ['none'],
          // WAL-G does not check host keys either (there is no setting for a known_hosts file).
          hostVerifier: () => true,
          readyTimeout: CONNECT_TIMEOUT_MS,
          keepaliveInterval: KEEPALIVE_INTERVAL_MS,
          // Without WebAssembly ssh2 has no Poly1305 (see loadSsh2); the AES ciphers use OpenSSL.
          algorithms: webAssemblyAvailable() ? undefined : { cipher: { remove: ['chacha20-poly1305@openssh.com'] } },
        });
      } catch (error) {
        fail('SSH', error);
      }
    });
  }

  private async acquire(): Promise<void> {
    if (this.active < CONNECTION_REQUESTS_IN_FLIGHT) {
      this.active++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next !== undefined) next();
    else this.active--;
  }

  async close(): Promise<void> {
    const opening = this.opening;
    this.opening = undefined;
    this.current = undefined;
    if (opening === undefined) return;
    let opened: SftpSession;
    try {
      opened = await opening;
    } catch {
      return;
    }
    if (opened.closed) return;
    await new Promise<void>((resolve) => {
      opened.client.once('close', () => resolve());
      opened.client.end();
    });
  }
}

type SftpRequest<T> = (sftp: SftpChannel, done: (error: Error | null | undefined, value?: T) => void) => void;

/** One SSH connection and its SFTP channel; `closed` once the connection is gone. */
export interface SftpSession {
  client: Ssh2Client;
  sftp: SftpChannel;
  extensions: Set<string>;
  closed: boolean;
}

// ---------------------------------------------------------------------------------------------------------------
// The part of ssh2 this file uses (the package ships no types).

type Callback<T = void> = (error: Error | null | undefined, value?: T) => void;

interface FileAttributes {
  mode: number;
  size: number;
  mtime: number;
  isDirectory(): boolean;
}

interface DirectoryEntry {
  filename: string;
  attrs: FileAttributes;
}

interface SftpChannel {
  _extensions?: Record<string, string>;
  readdir(path: string, callback: Callback<DirectoryEntry[]>): void;
  stat(path: string, callback: Callback<FileAttributes>): void;
  fstat(handle: Buffer, callback: Callback<FileAttributes>): void;
  open(path: string, flags: string, callback: Callback<Buffer>): void;
  open(path: string, flags: string, attributes: { mode: number }, callback: Callback<Buffer>): void;
  close(handle: Buffer, callback: Callback): void;
  read(
    handle: Buffer,
    buffer: Buffer,
    offset: number,
    length: number,
    position: number,
    callback: (error: Error | null | undefined, bytesRead?: number) => void,
  ): void;
  write(handle: Buffer, buffer: Buffer, offset: number, length: number, position: number, callback: Callback): void;
  mkdir(path: string, attributes: { mode: number }, callback: Callback): void;
  unlink(path: string, callback: Callback): void;
  rename(from: string, to: string, callback: Callback): void;
  ext_openssh_rename(from: string, to: string, callback: Callback): void;
  ext_openssh_fsync(handle: Buffer, callback: Callback): void;
}

interface Ssh2Client {
  on(event: 'connect' | 'ready' | 'close', listener: () => void): this;
  on(event: 'error', listener: (error: Error) => void): this;
  once(event: 'close', listener: () => void): this;
  connect(config: Record<string, unknown>): void;
  sftp(callback: (error: Error | undefined, sftp: SftpChannel | undefined) => void): void;
  end(): void;
  setNoDelay(noDelay: boolean): void;
}

interface Ssh2Module {
  Client: new () => Ssh2Client;
  utils: { parseKey(data: Buffer, passphrase?: string): unknown };
}

/**
 * Loads ssh2. Its crypto module builds a WebAssembly Poly1305 (for chacha20-poly1305) as it loads, in a promise
 * nobody awaits. The walnut binary runs V8 without JIT, where WebAssembly does not exist: that build then prints
 * "no native wasm support detected" and its rejection would end the process. So, without WebAssembly, the
 * message is silenced, exactly that rejection is caught, and chacha20-poly1305 is never offered (see connect).
 */
async function loadSsh2(): Promise<Ssh2Module> {
  if (webAssemblyAvailable()) return importSsh2();
  const warn = console.warn;
  const ignoreMissingWebAssembly = (reason: unknown): void => {
    if (!/WebAssembly|wasm/i.test(errorMessage(reason))) throw reason;
  };
  console.warn = () => {};
  process.on('unhandledRejection', ignoreMissingWebAssembly);
  try {
    return await importSsh2();
  } finally {
    console.warn = warn;
    // The rejection is reported once the current microtasks are done; give it two turns of the event loop.
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    process.off('unhandledRejection', ignoreMissingWebAssembly);
  }
}

async function importSsh2(): Promise<Ssh2Module> {
  // @ts-ignore -- ssh2 ships no type declarations; Ssh2Module above describes what is used.
  const loaded: { default?: Ssh2Module } & Partial<Ssh2Module> = await import('ssh2');
  return (loaded.default ?? loaded) as Ssh2Module;
}

function webAssemblyAvailable(): boolean {
  return typeof (globalThis as { WebAssembly?: unknown }).WebAssembly === 'object';
}

// ---------------------------------------------------------------------------------------------------------------

/** `host`, `host:port`, `[v6]` or `[v6]:port` from the prefix. */
function splitHostPort(hostAndPort: string): { host: string; port: string | undefined } {
  if (hostAndPort.startsWith('[')) {
    const close = hostAndPort.indexOf(']');
    const rest = hostAndPort.slice(close + 1);
    return { host: hostAndPort.slice(1, close), port: rest.startsWith(':') && rest.length > 1 ? rest.slice(1) : undefined };
  }
  const colon = hostAndPort.lastIndexOf(':');
  if (colon < 0) return { host: hostAndPort, port: undefined };
  const port = hostAndPort.slice(colon + 1);
  return { host: hostAndPort.slice(0, colon), port: port === '' ? undefined : port };
}

function temporaryNameFor(name: string): string {
  const suffix = `.walnut-tmp-${randomBytes(8).toString('hex')}`;
  let base = name;
  // Keep the temporary name within NAME_MAX even for very long object names (counted in UTF-8 bytes).
  while (Buffer.byteLength(`.${base}${suffix}`) > NAME_MAX) base = base.slice(0, -1);
  return `.${base}${suffix}`;
}

/**
 * The connection could not be made; WAL-G reports this as it is, whatever the operation was. Network failures
 * (refused, reset, cut during the handshake, timed out) are `transient` for the retry layer; a refused login or
 * a failure of the client itself is not.
 */
export class SftpConnectionError extends WalgError {
  readonly transient: boolean;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 1, options);
    this.name = 'SftpConnectionError';
    const cause = options?.cause as { level?: unknown } | undefined;
    this.transient = cause?.level !== 'client-authentication' && !(cause instanceof TypeError || cause instanceof ReferenceError);
  }
}

/** A failed SFTP request, described with what was being done; a failed connection passes through as it is. */
function sftpFailure(context: string, error: unknown): WalgError {
  if (error instanceof SftpConnectionError) return error;
  return new WalgError(`${context}: ${sftpReason(error)}`, 1, { cause: error });
}

function sftpStatus(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** An SFTP error as WAL-G's Go library prints it: the server's words and the status name. */
function sftpReason(error: unknown): string {
  const status = sftpStatus(error);
  const message = errorMessage(error);
  return status === undefined ? message : `sftp: ${goQuote(message)} (${STATUS_NAMES[status] ?? `SSH_FX_${status}`})`;
}

/** A setting's value, undefined when unset or empty. */
function setting(getSetting: SettingLookup, name: string): string | undefined {
  const value = getSetting(name);
  return value === undefined || value === '' ? undefined : value;
}

/** Runs `work` on every item with at most `limit` in flight; the first failure stops new work and is thrown. */
async function inParallel<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: unknown;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      try {
        await work(items[next++]);
      } catch (error) {
        failure ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure !== undefined) throw failure;
}

/** Keeps a body's 'error' event from going unheard; the failure itself is read from body.errored. */
function ignoreError(): void {}
