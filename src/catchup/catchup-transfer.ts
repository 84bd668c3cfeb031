// catchup-send and catchup-receive (WAL-G's HandleCatchupSend/HandleCatchupReceive): the receiver reports its
// pg_control and files, the sender checks identity and position, then streams changed files, deletions and labels.

import type { BigIntStats } from 'node:fs';
import { lstat, mkdir, open, readdir, readFile, realpath, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { CATCHUP_EXCLUDED_NAMES } from '../backup-push/catchup-push.ts';
import { readServerInfo } from '../backup-push/backup-push.ts';
import { scanChangedBlocks } from '../backup-push/page-scan.ts';
import { EXCLUDED_NAMES } from '../backup-push/pgdata-walk.ts';
import { PostgresSession } from '../backup-push/postgres-session.ts';
import { encodeIncrementHeader, INCREMENT_HEADER_SIZE, isPagedFile, parseBlockNumbers, parseIncrementHeader } from '../backup/increment.ts';
import type { Settings } from '../config/settings.ts';
import { configuredCrypter } from '../objects/configured.ts';
import { errorMessage, WalgError } from '../errors.ts';
import { log } from '../log/logger.ts';
import { readPgControl } from '../timeline/wal-restore.ts';
import { formatLsn, walSegmentSizeFromSetting } from '../wal/names.ts';
import { acceptCatchup, dialCatchup, type CatchupConnection } from './connection.ts';
import {
  BACKUP_FILE_LIST,
  BYTES,
  CATCHUP_COMMAND,
  commandFromGob,
  commandToGob,
  FILE_CHUNK_SIZE,
  fileListFromGob,
  fileListToGob,
  PG_CONTROL_DATA,
  pgControlFromGob,
  pgControlToGob,
  type CatchupCommand,
} from './messages.ts';

const PG_CONTROL_NAME = 'pg_control';

/**
 * WAL-G wraps the gob stream in the crypter's writer but flushes only the compressor, so with a crypter set its
 * own catchup stalls on the first buffered chunk; refusing says so at once (see docs/COMPATIBILITY.md).
 */
function refuseCrypter(settings: Settings, command: string): void {
  if (configuredCrypter(settings) === undefined) return;
  throw new WalgError(
    `${command}: encryption of the catchup stream is not supported (WAL-G's own catchup stalls with a crypter configured); ` +
      'unset the encryption settings for this command, or carry the port over an SSH tunnel or VPN',
  );
}

async function resolvedDirectory(directory: string): Promise<string> {
  const absolute = resolve(directory);
  try {
    return await realpath(absolute);
  } catch {
    return absolute;
  }
}

/** Go's filepath.Walk: lexical order, lstat, the root first; `visit` returns false to skip a directory. */
async function walkDirectory(root: string, visit: (relative: string, path: string, stats: BigIntStats) => Promise<boolean | void>): Promise<void> {
  const step = async (relative: string): Promise<void> => {
    const path = relative === '' ? root : join(root, relative);
    let stats: BigIntStats;
    try {
      stats = await lstat(path, { bigint: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        log.warn(`${path}  deleted during filepath walk`);
        return;
      }
      throw error;
    }
    if ((await visit(relative, path, stats)) === false || !stats.isDirectory()) return;
    let names: string[];
    try {
      names = await readdir(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    for (const name of names.sort()) await step(relative === '' ? name : `${relative}/${name}`);
  };
  await step('');
}

function baseName(relative: string): string {
  return relative.slice(relative.lastIndexOf('/') + 1);
}

// ---------------------------------------------------------------------------------------------------------
// catchup-send

export interface CatchupSendRequest {
  readonly dataDirectory: string;
  /** host:port of catchup-receive. */
  readonly destination: string;
  readonly settings: Settings;
  readonly env: NodeJS.ProcessEnv;
}

export async function runCatchupSend(request: CatchupSendRequest): Promise<void> {
  refuseCrypter(request.settings, 'catchup-send');
  const directory = await resolvedDirectory(request.dataDirectory);
  const pageSize = request.settings.int('WALG_PG_BLOCK_SIZE') || 8192;
  log.info(`Sending ${directory} to ${request.destination}`);
  const server = await readServerInfo(request.env, walSegmentSizeFromSetting(request.settings.get('WALG_PG_WAL_SIZE')));
  if (server.systemIdentifier === undefined) throw new WalgError('Our system lacks System Identifier, cannot proceed');
  const connection = await dialCatchup(request.destination);
  let session: PostgresSession | undefined;
  try {
    const control = pgControlFromGob(await connection.receive());
    log.info(`Destination control file {${control.systemIdentifier} ${control.currentTimeline} ${formatLsn(control.checkpoint)}}`);
    log.info(`Our system id ${server.systemIdentifier}`);
    if (server.systemIdentifier !== control.systemIdentifier) {
      throw new WalgError(
        `System identifiers do not match (ours ${server.systemIdentifier}, destination ${control.systemIdentifier}): the destination is not a copy of this cluster`,
      );
    }
    if (control.currentTimeline !== server.timeline) {
      throw new WalgError(`Destination is on timeline ${control.currentTimeline}, but we are on ${server.timeline}`);
    }
    const files = fileListFromGob(await connection.receive());
    log.info(`Received file list of ${files.size} files`);
    session = await PostgresSession.open(request.env);
    const start = await session.startBackup('');
    if (start.lsn <= control.checkpoint) {
      throw new WalgError(`Catchup destination is already ahead (our LSN ${formatLsn(start.lsn)}, destination LSN ${formatLsn(control.checkpoint)}).`);
    }
    await sendFileCommands(connection, directory, files, control.checkpoint, pageSize);
    const stop = await session.stopBackup(request.settings.durationMs('WALG_STOP_BACKUP_TIMEOUT') ?? 0);
    const send = (command: CatchupCommand): Promise<void> => connection.send(CATCHUP_COMMAND, commandToGob(command));
    await send({ isBinContents: true, fileName: 'backup_label', binaryContents: Buffer.from(stop.labelFile, 'utf8') });
    await send({ isBinContents: true, fileName: 'tablespace_map', binaryContents: Buffer.from(stop.tablespaceMap, 'utf8') });
    const ownControl = await readFile(join(directory, 'global', PG_CONTROL_NAME));
    await send({ isBinContents: true, fileName: `global/${PG_CONTROL_NAME}`, binaryContents: ownControl });
    await send({ isDone: true });
    await connection.flush();
    await connection.close();
    log.info('Send done');
  } catch (error) {
    connection.destroy();
    throw error;
  } finally {
    await session?.close();
  }
}

async function sendFileCommands(connection: CatchupConnection, directory: string, files: ReadonlyMap<string, bigint>, checkpoint: bigint, pageSize: number): Promise<void> {
  const seen = new Set<string>();
  const isExcluded = (name: string): boolean => EXCLUDED_NAMES.has(name) || CATCHUP_EXCLUDED_NAMES.has(name);
  await walkDirectory(directory, async (relative, path, stats) => {
    seen.add(relative);
    const name = baseName(relative);
    if (name === PG_CONTROL_NAME) return;
    if (stats.isDirectory()) return relative === '' || !isExcluded(name);
    if (isExcluded(name)) return;
    if (!stats.isFile()) {
      log.debug(`Not sending ${relative}: not a regular file`);
      return;
    }
    const theirs = files.get(relative);
    if (theirs !== undefined && theirs === stats.mtimeNs) return; // unchanged since the destination's copy
    await sendOneFile(connection, path, relative, stats, theirs !== undefined, checkpoint, pageSize);
  });
  log.debug('Filepath walk done');
  const toDelete = [...files.keys()]
    .filter((name) => !seen.has(name) && !name.split('/').some((part) => isExcluded(part)))
    .sort()
    .reverse(); // children before their folders
  if (toDelete.length > 0) await connection.send(CATCHUP_COMMAND, commandToGob({ isDelete: true, filesToDelete: toDelete }));
}

/** Sends bytes as []byte messages of FILE_CHUNK_SIZE, buffering at most one chunk. */
class ChunkSender {
  readonly #connection: CatchupConnection;
  #chunk = Buffer.allocUnsafe(FILE_CHUNK_SIZE);
  #filled = 0;
  constructor(connection: CatchupConnection) {
    this.#connection = connection;
  }
  async write(bytes: Buffer): Promise<void> {
    let offset = 0;
    while (offset < bytes.length) {
      const taken = Math.min(bytes.length - offset, FILE_CHUNK_SIZE - this.#filled);
      bytes.copy(this.#chunk, this.#filled, offset, offset + taken);
      this.#filled += taken;
      offset += taken;
      if (this.#filled === FILE_CHUNK_SIZE) await this.end();
    }
  }
  async end(): Promise<void> {
    if (this.#filled === 0) return;
    await this.#connection.send(BYTES, Buffer.from(this.#chunk.subarray(0, this.#filled)));
    this.#filled = 0;
  }
}

/** Reads `length` bytes at `position`; what the file no longer has reads as zeros (WAL-G pads a shrunk file). */
async function readPadded(handle: FileHandle, buffer: Buffer, position: number, length: number): Promise<Buffer> {
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(buffer, filled, length - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  buffer.fill(0, filled, length);
  return buffer.subarray(0, length);
}

async function sendOneFile(
  connection: CatchupConnection,
  path: string,
  relative: string,
  stats: BigIntStats,
  wasInBase: boolean,
  checkpoint: bigint,
  pageSize: number,
): Promise<void> {
  const fileSize = Number(stats.size);
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new WalgError(`catchup-send: cannot read ${path}: ${errorMessage(error)}`, 1, { cause: error });
  }
  try {
    let blocks: Uint32Array | undefined;
    if (wasInBase && isPagedFile(path, fileSize, false, pageSize)) blocks = await scanChangedBlocks(handle, fileSize, checkpoint, pageSize);
    const increment = blocks !== undefined;
    const header = increment ? encodeIncrementHeader(fileSize, blocks!) : undefined;
    const sendSize = header === undefined ? fileSize : header.length + blocks!.length * pageSize;
    await connection.send(CATCHUP_COMMAND, commandToGob({ fileName: relative, isFull: !increment, isIncremental: increment, fileSize: BigInt(sendSize) }));
    const chunks = new ChunkSender(connection);
    const buffer = Buffer.allocUnsafe(Math.max(FILE_CHUNK_SIZE, pageSize));
    if (header === undefined) {
      for (let position = 0; position < fileSize; position += FILE_CHUNK_SIZE) {
        await chunks.write(await readPadded(handle, buffer, position, Math.min(FILE_CHUNK_SIZE, fileSize - position)));
      }
    } else {
      await chunks.write(header);
      for (const block of blocks!) await chunks.write(await readPadded(handle, buffer, block * pageSize, pageSize));
    }
    await chunks.end();
    log.info(`Sent ${relative}, ${fileSize} bytes`);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------------------
// catchup-receive

export interface CatchupReceiveRequest {
  readonly dataDirectory: string;
  /** The port_number argument as typed. */
  readonly port: string;
  readonly settings: Settings;
}

/** strconv.Atoi with Go's message, then a TCP port range check. */
export function parsePort(text: string): number {
  if (!/^[+-]?\d+$/.test(text)) throw new WalgError(`strconv.Atoi: parsing "${text}": invalid syntax`);
  const port = Number(text);
  if (port < 0 || port > 65535) throw new WalgError(`listen tcp: address ${text}: invalid port (use 1-65535)`);
  return port;
}

export async function runCatchupReceive(request: CatchupReceiveRequest): Promise<void> {
  const port = parsePort(request.port);
  refuseCrypter(request.settings, 'catchup-receive');
  const directory = await resolvedDirectory(request.dataDirectory);
  log.info(`Receiving ${directory} on port ${port}`);
  let control;
  try {
    control = readPgControl(directory);
  } catch (error) {
    throw new WalgError(`catchup-receive: ${errorMessage(error)} — is ${directory} a stopped PostgreSQL data directory?`, 1, { cause: error });
  }
  const fileList = await receiverFileList(directory);
  const connection = await acceptCatchup(port);
  try {
    log.info(`Our system id ${control.systemIdentifier}, need catchup from ${formatLsn(control.checkpoint)}`);
    await connection.send(PG_CONTROL_DATA, pgControlToGob(control));
    await connection.send(BACKUP_FILE_LIST, fileListToGob(fileList));
    await connection.flush();
    for (;;) {
      const command = commandFromGob(await connection.receive());
      if (command.isDone) break;
      await applyCommand(connection, directory, command);
    }
    log.info('Receive done');
  } finally {
    connection.destroy();
  }
}

/** receiveFileList: every object but pg_control and the excluded names, with its mtime. */
async function receiverFileList(directory: string): Promise<Map<string, bigint>> {
  const files = new Map<string, bigint>();
  await walkDirectory(directory, async (relative, _path, stats) => {
    const name = baseName(relative);
    if (relative !== '' && name === PG_CONTROL_NAME) return;
    if (relative !== '' && EXCLUDED_NAMES.has(name)) return false;
    files.set(relative, stats.mtimeNs);
  });
  return files;
}

/** A sender's file name as a path inside PGDATA; anything that would leave it is refused. */
function targetPath(directory: string, name: string): string {
  if (name === '' || isAbsolute(name) || name.split('/').includes('..')) {
    throw new WalgError(`catchup-receive: refusing file name '${name}' from the sender: it points outside ${directory}`);
  }
  return join(directory, name);
}

/** The []byte chunks that carry one file's `size` bytes. */
class ChunkReader {
  readonly #connection: CatchupConnection;
  #remaining: number;
  #pending: Buffer = Buffer.alloc(0);
  constructor(connection: CatchupConnection, size: number) {
    this.#connection = connection;
    this.#remaining = size;
  }
  /** The next chunk (at most what is left of the file), or undefined when the file is complete. */
  async next(): Promise<Buffer | undefined> {
    if (this.#pending.length > 0) {
      const pending = this.#pending;
      this.#pending = Buffer.alloc(0) as Buffer;
      return pending;
    }
    if (this.#remaining <= 0) return undefined;
    const value = await this.#connection.receive();
    if (!Buffer.isBuffer(value)) throw new WalgError('catchup-receive: expected file bytes from the sender, got another message');
    const chunk = value.length > this.#remaining ? value.subarray(0, this.#remaining) : value;
    this.#remaining -= chunk.length;
    if (chunk.length === 0) throw new WalgError('catchup-receive: the sender sent an empty chunk inside a file');
    return chunk;
  }
  async readExactly(length: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let have = 0;
    while (have < length) {
      const chunk = await this.next();
      if (chunk === undefined) throw new WalgError('catchup-receive: file data ended early');
      const taken = Math.min(chunk.length, length - have);
      parts.push(chunk.subarray(0, taken));
      if (taken < chunk.length) this.#pending = chunk.subarray(taken);
      have += taken;
    }
    return parts.length === 1 ? parts[0] : Buffer.concat(parts);
  }
}

async function applyCommand(connection: CatchupConnection, directory: string, command: CatchupCommand): Promise<void> {
  const name = command.fileName ?? '';
  if (command.isBinContents) {
    log.info(`Writing file ${name}`);
    await writeFile(targetPath(directory, name), command.binaryContents ?? Buffer.alloc(0), { mode: 0o600 });
    return;
  }
  if (command.isFull) {
    log.info(`Full file ${name}`);
    const path = targetPath(directory, name);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const handle = await open(path, 'w', 0o600);
    try {
      const reader = new ChunkReader(connection, Number(command.fileSize ?? 0n));
      for (let chunk = await reader.next(); chunk !== undefined; chunk = await reader.next()) await handle.write(chunk);
    } finally {
      await handle.close();
    }
    log.info(`Received ${command.fileSize ?? 0n} bytes`);
    return;
  }
  if (command.isIncremental) {
    log.info(`Incremental file ${name}`);
    await applyIncrement(connection, targetPath(directory, name), Number(command.fileSize ?? 0n));
    return;
  }
  if (command.isDelete) {
    const names = command.filesToDelete ?? [];
    log.info(`Deleting files [${names.join(' ')}]`);
    for (const file of names) await rm(targetPath(directory, file), { recursive: true, force: true });
    return;
  }
  throw new WalgError('Unknown command');
}

/** ApplyFileIncrement with file creation allowed: truncate to the recorded size, write each page at its block. */
async function applyIncrement(connection: CatchupConnection, path: string, size: number): Promise<void> {
  const reader = new ChunkReader(connection, size);
  const header = parseIncrementHeader(await reader.readExactly(INCREMENT_HEADER_SIZE), 8192);
  const blocks = parseBlockNumbers(await reader.readExactly(header.blockCount * 4), header.blockCount);
  const pageSize = header.blockCount === 0 ? 8192 : (size - INCREMENT_HEADER_SIZE - header.blockCount * 4) / header.blockCount;
  if (!Number.isInteger(pageSize) || pageSize <= 0) throw new WalgError(`catchup-receive: increment for ${path} has a size that fits no page size`);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const handle = await open(path, 'a+').then(async (appendHandle) => {
    await appendHandle.close();
    return open(path, 'r+');
  });
  try {
    await handle.truncate(header.fileSize);
    for (const block of blocks) {
      const page = await reader.readExactly(pageSize);
      await handle.write(page, 0, page.length, block * pageSize);
    }
  } finally {
    await handle.close();
  }
}
