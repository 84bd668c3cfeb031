// wal-receive: streams WAL from PostgreSQL through a physical replication slot, assembles whole segments in one
// segment-sized buffer, and uploads each one as wal_005/<segment>.<ext>; on a timeline switch it uploads the
// unfinished segment as `<segment>.partial`, then the new timeline's history file, and streams on. As in WAL-G,
// nothing is uploaded when the process is stopped: the slot keeps the WAL for the next run.

import { Readable } from 'node:stream';
import type { Folder } from '../storage/driver.ts';
import type { Codec } from '../compression/codec.ts';
import type { Crypter } from '../crypto/crypter.ts';
import { storedName, uploadStream } from '../objects/transfer.ts';
import { formatLsn, formatWalSegmentName, parseLsn } from '../wal/names.ts';
import { log } from '../log/logger.ts';
import { errorMessage, WalgError } from '../errors.ts';
import { connectPostgres, queryFirstRow, serverVersionNumber } from './connect.ts';
import { ReplicationConnection, type ReplicationStream } from './protocol.ts';
import { parseHistoryFile, timelineOfLsn } from '../timeline/history.ts';
import { parseWalMetadataLevel, uploadWalMetadata } from '../wal/wal-metadata.ts';

/** WAL-G's StandbyMessageTimeout. */
const STANDBY_MESSAGE_TIMEOUT_MS = 10_000;
const UPLOAD_CHUNK = 1024 * 1024;

export interface WalReceiveOptions {
  readonly env: NodeJS.ProcessEnv;
  readonly walFolder: Folder;
  readonly codec: Codec | undefined;
  readonly crypter: Crypter | undefined;
  /** WALG_SLOTNAME (already defaulted to `walg`). */
  readonly slotName: string;
  /** WALG_UPLOAD_WAL_METADATA. */
  readonly metadataLevel: string;
  /** Called after each upload (tests use it to know when to stop). */
  readonly onUploaded?: (name: string) => void;
}

/** WAL-G's ValidateSlotName: 1-63 word characters. */
export function validateSlotName(name: string): void {
  if (name.length > 63 || /\W/.test(name)) {
    throw new WalgError(`Slot name (${name}) can only contain 1-63 word characters ([0-9A-Za-z_])`);
  }
}

interface SlotState {
  readonly exists: boolean;
  readonly restartLsn: bigint | undefined;
}

/** Slot info and wal_segment_size over a normal connection (WAL-G's getCurrentWalInfo). */
async function currentWalInfo(env: NodeJS.ProcessEnv, slotName: string): Promise<{ slot: SlotState; segmentSize: number }> {
  const client = await connectPostgres({ env });
  try {
    const slotRow = await queryFirstRow(client, 'select active, restart_lsn from pg_replication_slots where slot_name = $1', [slotName]);
    let slot: SlotState = { exists: false, restartLsn: undefined };
    if (slotRow) {
      if (slotRow[1] === null) throw new WalgError(`replication slot ${slotName} has no restart_lsn yet`);
      slot = { exists: true, restartLsn: parseLsn(slotRow[1]) };
    }
    const version = await serverVersionNumber(client);
    const sizeRow = await queryFirstRow(client, "select setting from pg_settings where name = 'wal_segment_size'");
    let segmentSize = Number(sizeRow?.[0]);
    if (version < 110000) segmentSize *= 8192; // PostgreSQL 10 reports 8 kB blocks
    if (!Number.isSafeInteger(segmentSize) || segmentSize <= 0) throw new WalgError(`unexpected wal_segment_size: ${sizeRow?.[0]}`);
    return { slot, segmentSize };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** One segment being filled from the stream (WAL-G's WalSegment). */
class SegmentBuffer {
  readonly timeline: number;
  readonly startLsn: bigint;
  readonly endLsn: bigint;
  readonly data: Buffer;
  written = 0;
  /** Bytes of the last message that belong to the next segment. */
  carry: { walStart: bigint; data: Buffer } | undefined;

  constructor(timeline: number, location: bigint, segmentSize: number, buffer?: Buffer) {
    this.timeline = timeline;
    this.startLsn = (location / BigInt(segmentSize)) * BigInt(segmentSize);
    this.endLsn = this.startLsn + BigInt(segmentSize);
    this.data = buffer ?? Buffer.alloc(segmentSize);
    this.data.fill(0);
  }

  get segmentSize(): number {
    return this.data.length;
  }

  isComplete(): boolean {
    return this.startLsn + BigInt(this.written) >= this.endLsn;
  }

  name(): string {
    const name = formatWalSegmentName(this.timeline, this.startLsn / BigInt(this.segmentSize), this.segmentSize);
    return this.isComplete() ? name : `${name}.partial`;
  }

  /** Copies one XLogData payload in, checking it continues exactly where the segment stands. */
  add(walStart: bigint, payload: Buffer): void {
    if (walStart > this.endLsn) throw new WalgError('Message mismatch: Message started after end of this segment');
    const walEnd = walStart + BigInt(payload.length);
    if (walEnd < this.startLsn) throw new WalgError('Message mismatch: Message ended before start of this segment');
    const offset = walStart < this.startLsn ? Number(this.startLsn - walStart) : 0;
    if (this.startLsn + BigInt(this.written) !== walStart + BigInt(offset)) {
      throw new WalgError('WAL segment error: CopyData WALStart does not fit to segment writeIndex');
    }
    const copied = payload.copy(this.data, this.written, offset);
    this.written += copied;
    if (copied < payload.length - offset) this.carry = { walStart, data: payload };
  }
}

async function uploadBuffer(options: WalReceiveOptions, name: string, data: Buffer): Promise<void> {
  const chunks: Buffer[] = [];
  for (let at = 0; at < data.length; at += UPLOAD_CHUNK) chunks.push(data.subarray(at, at + UPLOAD_CHUNK));
  await uploadStream(options.walFolder, storedName(name, options.codec), Readable.from(chunks), { codec: options.codec, crypter: options.crypter });
  await uploadMetadata(options, name);
  options.onUploaded?.(name);
}

/** WALG_UPLOAD_WAL_METADATA: the created time of a received file is the time it was received (as in WAL-G). */
async function uploadMetadata(options: WalReceiveOptions, name: string): Promise<void> {
  const createdNanoseconds = BigInt(Date.now()) * 1_000_000n;
  await uploadWalMetadata(options.walFolder, name, createdNanoseconds, parseWalMetadataLevel(options.metadataLevel));
}

/** Runs until the connection fails or the process is stopped; never returns normally. */
export async function receiveWal(options: WalReceiveOptions): Promise<never> {
  validateSlotName(options.slotName);
  const { slot, segmentSize } = await currentWalInfo(options.env, options.slotName);
  log.debug(`WAL segment bytes: ${segmentSize}`);
  const connection = await ReplicationConnection.open(options.env);
  try {
    const system = await connection.identifySystem();
    let position: bigint;
    if (slot.exists && slot.restartLsn !== undefined) {
      position = slot.restartLsn;
    } else {
      log.info('Trying to create the replication slot');
      await connection.createPhysicalSlot(options.slotName);
      position = system.xlogPos;
    }
    let timeline = await startTimeline(connection, options, system.timeline, position);
    let segment = new SegmentBuffer(timeline, position, segmentSize);
    let stream = startStreaming(connection, segment, options.slotName);
    for (;;) {
      const result = await streamSegment(stream, segment);
      if (result === 'complete') {
        await uploadBuffer(options, segment.name(), segment.data);
        position = segment.endLsn;
        const carry = segment.carry;
        segment = new SegmentBuffer(segment.timeline, segment.endLsn, segmentSize, segment.data);
        if (carry) segment.add(carry.walStart, carry.data);
      } else {
        // The server ended this timeline: keep what we have as .partial, fetch the next timeline's history.
        await uploadBuffer(options, segment.name(), segment.data);
        await stream.endCopy();
        timeline++;
        const history = await connection.timelineHistory(timeline);
        await uploadBuffer(options, history.fileName, history.content);
        segment = new SegmentBuffer(timeline, position, segmentSize, segment.data);
        stream = startStreaming(connection, segment, options.slotName);
      }
    }
  } finally {
    await connection.close().catch(() => undefined);
  }
}

function startStreaming(connection: ReplicationConnection, segment: SegmentBuffer, slotName: string): ReplicationStream {
  log.debug(`Starting replication from ${formatLsn(segment.startLsn)}: `);
  return connection.startPhysical({ slot: slotName, startLsn: segment.startLsn, timeline: segment.timeline });
}

/**
 * Feeds stream messages into the segment until it is full ('complete') or the server ends the stream ('copyDone'),
 * sending a standby status update every 10 s and whenever the server asks for one.
 */
async function streamSegment(stream: ReplicationStream, segment: SegmentBuffer): Promise<'complete' | 'copyDone'> {
  let nextStatusAt = 0;
  for (;;) {
    if (segment.isComplete()) return 'complete';
    const now = Date.now();
    if (now >= nextStatusAt) {
      stream.sendStatus(segment.startLsn);
      log.debug('Sent Standby status message');
      nextStatusAt = now + STANDBY_MESSAGE_TIMEOUT_MS;
    }
    const message = await stream.next(nextStatusAt - Date.now());
    if (message === 'timeout') continue;
    if (message === undefined) throw new WalgError('replication stream ended unexpectedly');
    if (message.kind === 'xlog') segment.add(message.walStart, message.data);
    else if (message.kind === 'keepalive') {
      if (message.replyRequested) nextStatusAt = 0;
    } else return 'copyDone';
  }
}

/**
 * The timeline to stream from: 1 on timeline 1; otherwise the history of the current timeline is uploaded and the
 * timeline holding `position` is taken from it. A missing history file (58P01) means the current timeline.
 */
async function startTimeline(connection: ReplicationConnection, options: WalReceiveOptions, systemTimeline: number, position: bigint): Promise<number> {
  if (systemTimeline < 2) return 1;
  let history;
  try {
    history = await connection.timelineHistory(systemTimeline);
  } catch (error) {
    if ((error as { code?: string }).code === '58P01') return systemTimeline;
    // WAL-G falls back to timeline 0 here, which the server then rejects; the current timeline is the useful guess.
    log.warn(`TIMELINE_HISTORY ${systemTimeline} failed: ${errorMessage(error)}`);
    return systemTimeline;
  }
  await uploadBuffer(options, history.fileName, history.content);
  return timelineOfLsn(parseHistoryFile(history.content.toString('utf8')), systemTimeline, position);
}
