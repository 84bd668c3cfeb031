// The replication protocol's BASE_BACKUP as a client sees it, in both wire forms: up to PostgreSQL 14 one CopyOut
// stream of raw tar per tablespace (the old syntax, as pglogrepl sends it for WAL-G), from 15 on a single CopyOut
// whose messages tag new archives ('n'), archive data ('d'), progress ('p') and the manifest ('m').

import { EventEmitter } from 'node:events';
import type pg from 'pg';
import { WalgError } from '../errors.ts';
import { parseLsn } from '../wal/names.ts';

export interface BaseBackupOptions {
  readonly label: string;
  readonly fastCheckpoint: boolean;
  readonly tablespaceMap: boolean;
  /** Ask the server not to verify page checksums (11+; older servers always verify). */
  readonly noVerifyChecksums: boolean;
  /** MAX_RATE in kB/s; sent only from 32 on, as the server requires. */
  readonly maxRateKb?: number;
}

function quoteLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/**
 * The command text. Before 15: `BASE_BACKUP LABEL 'wal-g' FAST TABLESPACE_MAP NOVERIFY_CHECKSUMS` (pglogrepl's form).
 * From 15 on the old syntax is gone: `BASE_BACKUP (LABEL 'wal-g', CHECKPOINT 'fast', ...)`, with MANIFEST 'no' said
 * outright so that no manifest follows the archives.
 */
export function baseBackupCommand(serverMajor: number, options: BaseBackupOptions): string {
  const maxRate = options.maxRateKb !== undefined && options.maxRateKb >= 32 ? options.maxRateKb : undefined;
  if (serverMajor >= 15) {
    const parts = [`LABEL ${quoteLiteral(options.label)}`];
    if (options.fastCheckpoint) parts.push("CHECKPOINT 'fast'");
    if (maxRate !== undefined) parts.push(`MAX_RATE ${maxRate}`);
    if (options.tablespaceMap) parts.push('TABLESPACE_MAP true');
    if (options.noVerifyChecksums) parts.push('VERIFY_CHECKSUMS false');
    parts.push("MANIFEST 'no'");
    return `BASE_BACKUP (${parts.join(', ')})`;
  }
  const parts = ['BASE_BACKUP', `LABEL ${quoteLiteral(options.label)}`];
  if (options.fastCheckpoint) parts.push('FAST');
  if (maxRate !== undefined) parts.push(`MAX_RATE ${maxRate}`);
  if (options.tablespaceMap) parts.push('TABLESPACE_MAP');
  if (options.noVerifyChecksums && serverMajor >= 11) parts.push('NOVERIFY_CHECKSUMS');
  return parts.join(' ');
}

/** A tablespace the server will send (the data directory is not listed: it comes last). */
export interface StreamedTablespace {
  readonly oid: number;
  readonly location: string;
}

/** The start or end of the backup: an LSN and the timeline. */
export interface BackupPosition {
  readonly lsn: bigint;
  readonly timeline: number;
}

type Event =
  | { readonly kind: 'rows'; readonly rows: (string | null)[][] }
  | { readonly kind: 'copyStart' }
  | { readonly kind: 'data'; readonly chunk: Buffer }
  | { readonly kind: 'copyDone' };

/**
 * The BASE_BACKUP query as a pg Submittable: result sets and CopyData frames are queued for an async reader, and the
 * socket pauses while too many bytes wait, so memory stays bounded whatever the backup's size.
 */
class BaseBackupQuery extends EventEmitter {
  readonly text: string;
  readonly #queue: Event[] = [];
  #queuedBytes = 0;
  #rows: (string | null)[][] = [];
  #wake: (() => void) | undefined;
  #failure: Error | undefined;
  #finished = false;
  #paused = false;
  #connection: (EventEmitter & { stream?: { pause(): void; resume(): void } }) | undefined;
  readonly #highWaterBytes: number;
  readonly #onCopyOut = (): void => this.#push({ kind: 'copyStart' }, 0);
  readonly #onCopyDone = (): void => this.#push({ kind: 'copyDone' }, 0);

  constructor(text: string, highWaterBytes: number) {
    super();
    this.text = text;
    this.#highWaterBytes = highWaterBytes;
  }

  // --- pg's Submittable interface -----------------------------------------------------------------------------------
  submit(connection: EventEmitter & { query(text: string): void }): void {
    this.#connection = connection as never;
    connection.on('copyOutResponse', this.#onCopyOut);
    connection.on('copyDone', this.#onCopyDone);
    connection.query(this.text);
  }

  handleRowDescription(): void {
    this.#rows = [];
  }

  handleDataRow(message: { fields: (string | null)[] }): void {
    this.#rows.push(message.fields.map((field) => (field === null ? null : String(field))));
  }

  handleCommandComplete(): void {
    this.#push({ kind: 'rows', rows: this.#rows }, 0);
    this.#rows = [];
  }

  handleCopyData(message: { chunk: Buffer }): void {
    // pg-protocol reuses its read buffer for later messages: a queued frame must be copied.
    const chunk = Buffer.from(message.chunk);
    this.#push({ kind: 'data', chunk }, chunk.length);
  }

  handleCopyInResponse(): void {
    this.#fail(new WalgError('BASE_BACKUP: the server asked for data (CopyInResponse), which a base backup never does'));
  }

  handleEmptyQuery(): void {}

  handlePortalSuspended(): void {}

  handleError(error: Error): void {
    this.#fail(error);
  }

  handleReadyForQuery(): void {
    this.#connection?.off('copyOutResponse', this.#onCopyOut);
    this.#connection?.off('copyDone', this.#onCopyDone);
    this.#finished = true;
    this.#wake?.();
  }
  // ------------------------------------------------------------------------------------------------------------------

  #push(event: Event, bytes: number): void {
    this.#queue.push(event);
    this.#queuedBytes += bytes;
    if (!this.#paused && this.#queuedBytes > this.#highWaterBytes && this.#connection?.stream) {
      this.#paused = true;
      this.#connection.stream.pause();
    }
    this.#wake?.();
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    this.#wake?.();
  }

  /** The next event; undefined once the query is over. Rejects with the server's error. */
  async next(): Promise<Event | undefined> {
    for (;;) {
      const event = this.#queue.shift();
      if (event !== undefined) {
        if (event.kind === 'data') this.#queuedBytes -= event.chunk.length;
        if (this.#paused && this.#queuedBytes <= this.#highWaterBytes / 2) {
          this.#paused = false;
          this.#connection?.stream?.resume();
        }
        return event;
      }
      if (this.#failure !== undefined) throw this.#failure;
      if (this.#finished) return undefined;
      await new Promise<void>((resolve) => (this.#wake = resolve));
      this.#wake = undefined;
    }
  }
}

/** One archive (a tablespace's tar) as it arrives. */
export interface ArchiveStart {
  /** undefined for the data directory. */
  readonly tablespace: StreamedTablespace | undefined;
}

/** What the reader of a base backup stream handles, in order. */
export interface BaseBackupHandlers {
  /** The start position and the tablespace list, before any data. */
  started(start: BackupPosition, tablespaces: readonly StreamedTablespace[]): Promise<void>;
  archiveStarted(archive: ArchiveStart): Promise<void>;
  /** Raw tar bytes of the current archive; the stream waits until the returned promise settles. */
  archiveData(chunk: Buffer): Promise<void>;
  archiveEnded(): Promise<void>;
}

function positionOf(rows: (string | null)[][], what: string): BackupPosition {
  const row = rows[0];
  if (row === undefined || row[0] === null) throw new WalgError(`BASE_BACKUP: the server sent no ${what} position`);
  return { lsn: parseLsn(row[0]), timeline: Number(row[1] ?? 0) };
}

function tablespacesOf(rows: (string | null)[][]): StreamedTablespace[] {
  // The data directory's row has no OID (pglogrepl skips it); it is always sent last.
  return rows.filter((row) => row[0] !== null).map((row) => ({ oid: Number(row[0]), location: String(row[1] ?? '') }));
}

/** A NUL-terminated string at `offset` of a CopyData frame, and where the next field starts. */
function cString(frame: Buffer, offset: number): { text: string; next: number } {
  const end = frame.indexOf(0, offset);
  if (end < 0) throw new WalgError('BASE_BACKUP: a new-archive message is cut short');
  return { text: frame.toString('utf8', offset, end), next: end + 1 };
}

/**
 * Runs BASE_BACKUP on a replication connection and feeds `handlers`; returns the end position. `serverMajor`
 * decides the wire form; the caller sends nothing else on the connection meanwhile.
 */
export async function runBaseBackup(
  client: pg.Client,
  serverMajor: number,
  options: BaseBackupOptions,
  handlers: BaseBackupHandlers,
  highWaterBytes = 8 * 1024 * 1024,
): Promise<BackupPosition> {
  const query = new BaseBackupQuery(baseBackupCommand(serverMajor, options), highWaterBytes);
  const done = client.query(query as never) as unknown as Promise<unknown> | undefined;
  void done?.catch?.(() => undefined);

  const expectRows = async (what: string): Promise<(string | null)[][]> => {
    const event = await query.next();
    if (event?.kind !== 'rows') throw new WalgError(`BASE_BACKUP: expected the ${what} result set, got ${event?.kind ?? 'the end of the stream'}`);
    return event.rows;
  };

  const start = positionOf(await expectRows('start position'), 'start');
  const tablespaces = tablespacesOf(await expectRows('tablespace list'));
  await handlers.started(start, tablespaces);

  if (serverMajor >= 15) {
    const first = await query.next();
    if (first?.kind !== 'copyStart') throw new WalgError(`BASE_BACKUP: expected the archive stream, got ${first?.kind ?? 'the end of the stream'}`);
    let inArchive = false;
    let inManifest = false;
    for (;;) {
      const event = await query.next();
      if (event === undefined) throw new WalgError('BASE_BACKUP: the stream ended inside the archives');
      if (event.kind === 'copyDone') break;
      if (event.kind !== 'data') throw new WalgError(`BASE_BACKUP: unexpected ${event.kind} inside the archive stream`);
      const frame = event.chunk;
      const type = String.fromCharCode(frame[0]);
      if (type === 'n') {
        if (inArchive) await handlers.archiveEnded();
        const name = cString(frame, 1);
        const path = cString(frame, name.next).text;
        const tablespace = path === '' ? undefined : tablespaces.find((candidate) => candidate.location === path);
        if (path !== '' && tablespace === undefined) throw new WalgError(`BASE_BACKUP: archive ${name.text} is for ${path}, which the tablespace list does not hold`);
        await handlers.archiveStarted({ tablespace });
        inArchive = true;
      } else if (type === 'd') {
        if (inManifest) continue;
        if (!inArchive) throw new WalgError('BASE_BACKUP: archive data arrived before any archive started');
        await handlers.archiveData(frame.subarray(1));
      } else if (type === 'm') {
        if (inArchive) await handlers.archiveEnded();
        inArchive = false;
        inManifest = true;
      } else if (type !== 'p') {
        throw new WalgError(`BASE_BACKUP: unknown archive stream message '${type}'`);
      }
    }
    if (inArchive) await handlers.archiveEnded();
  } else {
    const order: Array<StreamedTablespace | undefined> = [...tablespaces, undefined];
    for (const tablespace of order) {
      const begin = await query.next();
      if (begin?.kind !== 'copyStart') throw new WalgError(`BASE_BACKUP: expected a tablespace stream, got ${begin?.kind ?? 'the end of the stream'}`);
      await handlers.archiveStarted({ tablespace });
      for (;;) {
        const event = await query.next();
        if (event === undefined) throw new WalgError('BASE_BACKUP: the stream ended inside a tablespace');
        if (event.kind === 'copyDone') break;
        if (event.kind !== 'data') throw new WalgError(`BASE_BACKUP: unexpected ${event.kind} inside a tablespace stream`);
        await handlers.archiveData(event.chunk);
      }
      await handlers.archiveEnded();
    }
  }
  const end = positionOf(await expectRows('end position'), 'end');
  // PostgreSQL 13+ closes the command with one more CommandComplete; then ReadyForQuery ends the query.
  for (let event = await query.next(); event !== undefined; event = await query.next()) {
    if (event.kind !== 'rows') throw new WalgError(`BASE_BACKUP: unexpected ${event.kind} after the end position`);
  }
  return end;
}
