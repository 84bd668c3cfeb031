// A client for PostgreSQL's streaming replication protocol over a `pg` connection opened with replication=true:
// IDENTIFY_SYSTEM, CREATE_REPLICATION_SLOT / READ_REPLICATION_SLOT, TIMELINE_HISTORY, START_REPLICATION PHYSICAL
// with XLogData/keepalive decoding and standby status updates. The CopyBoth plumbing (CopyBothQuery) is generic, so
// a streamed BASE_BACKUP (CopyOut) can reuse the same connection class later.

import { EventEmitter } from 'node:events';
import type pg from 'pg';
import { connectPostgres } from './connect.ts';
import { formatLsn, parseLsn } from '../wal/names.ts';
import { errorMessage, WalgError } from '../errors.ts';

/** Microseconds between the Unix epoch and PostgreSQL's epoch (2000-01-01). */
const POSTGRES_EPOCH_OFFSET_MICROS = 946_684_800_000_000n;

export interface SystemIdentification {
  /** Kept as text: it is a 64-bit number. */
  readonly systemId: string;
  readonly timeline: number;
  readonly xlogPos: bigint;
  readonly dbName: string | null;
}

export interface ReplicationSlotInfo {
  readonly slotType: string | null;
  readonly restartLsn: bigint | undefined;
  readonly restartTimeline: number | undefined;
}

export type ReplicationMessage =
  | { readonly kind: 'xlog'; readonly walStart: bigint; readonly serverWalEnd: bigint; readonly data: Buffer }
  | { readonly kind: 'keepalive'; readonly serverWalEnd: bigint; readonly replyRequested: boolean }
  /** The server ended the stream (timeline switch, or it stopped): call endCopy() next. */
  | { readonly kind: 'copyDone' };

/** What the server reports after a stream ended at a timeline switch. */
export interface StreamEnd {
  readonly nextTimeline: number | undefined;
  readonly nextTimelineStart: bigint | undefined;
}

/**
 * A query that puts the connection in CopyBoth/CopyOut mode: CopyData frames are queued for an async reader (the
 * socket is paused while too much is queued), and the result set that follows the copy is collected.
 */
class CopyBothQuery extends EventEmitter {
  readonly text: string;
  private readonly queue: ReplicationMessage[] = [];
  private queuedBytes = 0;
  private wake: (() => void) | undefined;
  private failure: Error | undefined;
  private connection: (EventEmitter & { stream?: { pause(): void; resume(): void } }) | undefined;
  private paused = false;
  readonly rows: (string | null)[][] = [];
  private finished = false;
  private finishWaiters: { resolve: () => void; reject: (error: Error) => void }[] = [];
  private readonly onCopyDone = (): void => this.enqueue({ kind: 'copyDone' }, 0);
  private readonly highWaterBytes: number;

  constructor(text: string, highWaterBytes = 8 * 1024 * 1024) {
    super();
    this.text = text;
    this.highWaterBytes = highWaterBytes;
  }

  // --- pg's Submittable interface -----------------------------------------------------------------------------
  submit(connection: EventEmitter & { query(text: string): void }): void {
    this.connection = connection as never;
    connection.on('copyDone', this.onCopyDone);
    connection.query(this.text);
  }

  handleCopyData(message: { chunk: Buffer }): void {
    const chunk = message.chunk;
    const type = chunk[0];
    if (type === 0x77) {
      // 'w' XLogData: walStart u64, serverWalEnd u64, sendTime i64, data. pg-protocol reuses its read buffer for
      // later messages, so a queued payload must be copied out.
      this.enqueue({ kind: 'xlog', walStart: chunk.readBigUInt64BE(1), serverWalEnd: chunk.readBigUInt64BE(9), data: Buffer.from(chunk.subarray(25)) }, chunk.length);
    } else if (type === 0x6b) {
      // 'k' keepalive: serverWalEnd u64, sendTime i64, replyRequested u8
      this.enqueue({ kind: 'keepalive', serverWalEnd: chunk.readBigUInt64BE(1), replyRequested: chunk[17] === 1 }, 0);
    }
  }

  handleCopyInResponse(): void {
    this.fail(new Error('unexpected CopyInResponse during replication'));
  }

  handleRowDescription(): void {}

  handleDataRow(message: { fields: (string | null)[] }): void {
    this.rows.push(message.fields);
  }

  handleCommandComplete(): void {}

  handleEmptyQuery(): void {}

  handlePortalSuspended(): void {}

  handleError(error: Error): void {
    this.fail(error);
  }

  handleReadyForQuery(): void {
    this.connection?.off('copyDone', this.onCopyDone);
    this.finished = true;
    for (const waiter of this.finishWaiters) waiter.resolve();
    this.finishWaiters = [];
    // A stream that ends without CopyDone (error paths) still wakes the reader.
    this.wake?.();
  }
  // ------------------------------------------------------------------------------------------------------------

  private enqueue(message: ReplicationMessage, bytes: number): void {
    this.queue.push(message);
    this.queuedBytes += bytes;
    if (!this.paused && this.queuedBytes > this.highWaterBytes && this.connection?.stream) {
      this.paused = true;
      this.connection.stream.pause();
    }
    this.wake?.();
  }

  private fail(error: Error): void {
    this.failure ??= error;
    this.wake?.();
    for (const waiter of this.finishWaiters) waiter.reject(error);
    this.finishWaiters = [];
  }

  /** The next message; undefined once the query finished. Rejects with the server's error. */
  async next(): Promise<ReplicationMessage | undefined> {
    for (;;) {
      const message = this.queue.shift();
      if (message) {
        if (message.kind === 'xlog') this.queuedBytes -= message.data.length + 25;
        if (this.paused && this.queuedBytes <= this.highWaterBytes / 2) {
          this.paused = false;
          this.connection?.stream?.resume();
        }
        return message;
      }
      if (this.failure) throw this.failure;
      if (this.finished) return undefined;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }

  /** Resolves when the server sent ReadyForQuery for this query. */
  finishedPromise(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.finished) return Promise.resolve();
    return new Promise((resolve, reject) => this.finishWaiters.push({ resolve, reject }));
  }
}

/** One START_REPLICATION stream. */
export class ReplicationStream {
  private readonly query: CopyBothQuery;
  private readonly connection: { sendCopyFromChunk(chunk: Buffer): void; endCopyFrom(): void };

  constructor(query: CopyBothQuery, connection: { sendCopyFromChunk(chunk: Buffer): void; endCopyFrom(): void }) {
    this.query = query;
    this.connection = connection;
  }

  /** The next message, waiting at most `timeoutMs`; 'timeout' when none came; undefined when the stream ended. */
  async next(timeoutMs: number): Promise<ReplicationMessage | 'timeout' | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), Math.max(0, timeoutMs))));
    try {
      return await Promise.race([this.query.next(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Standby status update ('r'): written, flushed and applied positions (flush/apply default to written). */
  sendStatus(write: bigint, flush = write, apply = write, replyRequested = false): void {
    const message = Buffer.alloc(34);
    message[0] = 0x72;
    message.writeBigUInt64BE(write, 1);
    message.writeBigUInt64BE(flush, 9);
    message.writeBigUInt64BE(apply, 17);
    const nowMicros = BigInt(Date.now()) * 1000n - POSTGRES_EPOCH_OFFSET_MICROS;
    message.writeBigInt64BE(nowMicros, 25);
    message[33] = replyRequested ? 1 : 0;
    this.connection.sendCopyFromChunk(message);
  }

  /**
   * Answers the server's CopyDone with ours and reads the result that follows: the next timeline and where it
   * starts (after a timeline switch) or nothing.
   */
  async endCopy(): Promise<StreamEnd> {
    this.connection.endCopyFrom();
    // Drain anything still queued (nothing should be) until the query completes.
    while ((await this.query.next()) !== undefined);
    await this.query.finishedPromise();
    const row = this.query.rows[0];
    return {
      nextTimeline: row?.[0] != null ? Number(row[0]) : undefined,
      nextTimelineStart: row?.[1] != null ? parseLsn(row[1]) : undefined,
    };
  }
}

/** A physical replication connection. */
export class ReplicationConnection {
  readonly client: pg.Client;

  private constructor(client: pg.Client) {
    this.client = client;
  }

  /** Opens `replication=true` with the libpq environment (and WAL-G's localhost fallback). */
  static async open(env: NodeJS.ProcessEnv): Promise<ReplicationConnection> {
    return new ReplicationConnection(await connectPostgres({ env, replication: true }));
  }

  private async simpleQuery(text: string): Promise<(string | null)[][]> {
    const result = await this.client.query({ text, rowMode: 'array' } as never);
    return (result as unknown as { rows: (string | null)[][] }).rows;
  }

  async identifySystem(): Promise<SystemIdentification> {
    const [row] = await this.simpleQuery('IDENTIFY_SYSTEM');
    if (!row) throw new WalgError('IDENTIFY_SYSTEM returned no row');
    return { systemId: String(row[0]), timeline: Number(row[1]), xlogPos: parseLsn(String(row[2])), dbName: row[3] ?? null };
  }

  /** CREATE_REPLICATION_SLOT <name> PHYSICAL [RESERVE_WAL] (what pglogrepl sends for WAL-G: without RESERVE_WAL). */
  async createPhysicalSlot(name: string, options: { reserveWal?: boolean } = {}): Promise<void> {
    await this.simpleQuery(`CREATE_REPLICATION_SLOT ${quoteIdentifier(name)} PHYSICAL${options.reserveWal ? ' RESERVE_WAL' : ''}`);
  }

  /** READ_REPLICATION_SLOT (PostgreSQL 15+): undefined when the slot does not exist. */
  async readReplicationSlot(name: string): Promise<ReplicationSlotInfo | undefined> {
    const [row] = await this.simpleQuery(`READ_REPLICATION_SLOT ${quoteIdentifier(name)}`);
    if (!row || row[0] === null) return undefined;
    return {
      slotType: row[0],
      restartLsn: row[1] != null ? parseLsn(row[1]) : undefined,
      restartTimeline: row[2] != null ? Number(row[2]) : undefined,
    };
  }

  /** TIMELINE_HISTORY <tli>: the history file's name and content. */
  async timelineHistory(timeline: number): Promise<{ fileName: string; content: Buffer }> {
    const [row] = await this.simpleQuery(`TIMELINE_HISTORY ${timeline}`);
    if (!row) throw new WalgError(`TIMELINE_HISTORY ${timeline} returned no row`);
    return { fileName: String(row[0]), content: Buffer.from(String(row[1] ?? ''), 'utf8') };
  }

  /** START_REPLICATION [SLOT s] PHYSICAL X/X TIMELINE t; the stream starts in CopyBoth mode. */
  startPhysical(options: { slot?: string; startLsn: bigint; timeline: number }): ReplicationStream {
    const slot = options.slot ? `SLOT ${quoteIdentifier(options.slot)} ` : '';
    const query = new CopyBothQuery(`START_REPLICATION ${slot}PHYSICAL ${formatLsn(options.startLsn)} TIMELINE ${options.timeline}`);
    // pg queues the query and calls submit() when the connection is idle; errors surface through next().
    void (this.client.query(query as never) as unknown as Promise<unknown>)?.catch?.(() => undefined);
    return new ReplicationStream(query, (this.client as unknown as { connection: ReplicationStream['connection'] }).connection);
  }

  async close(): Promise<void> {
    try {
      await this.client.end();
    } catch (error) {
      throw new WalgError(`closing the replication connection failed: ${errorMessage(error)}`);
    }
  }
}

/** Slot names are validated to [0-9A-Za-z_]; quoting keeps them exact anyway. */
function quoteIdentifier(name: string): string {
  return /^[a-z_][a-z0-9_]*$/.test(name) ? name : `"${name.replaceAll('"', '""')}"`;
}
