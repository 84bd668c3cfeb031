// Streaming LZ4 frame writer with WAL-G's layout (independent blocks, raw blocks when they don't shrink, xxh32
// trailer) in 1 MiB blocks instead of WAL-G's 4 MiB (lz4-frame.ts, WALNUT_LZ4_BLOCK_SIZE).

import { walnutNative, Xxh32 } from '../native/walnut-native.ts';
import { PacedTransform } from '../stream/paced-transform.ts';
import { noteBufferOutput } from '../stream/buffer-garbage.ts';
import { allocateLongLivedBuffer } from '../stream/long-lived-buffers.ts';
import { RecyclingPool, shortenLent } from '../stream/recycling-pool.ts';
import { encodeFrameHeader, LZ4_UNCOMPRESSED_BIT, WALNUT_LZ4_BLOCK_SIZE } from './lz4-frame.ts';

/**
 * Gathering buffers of finished encoders, kept for the next one: a backup starts a new encoder per tar part, and
 * without reuse each part allocated its buffers afresh while the last part's still waited for a collection, a peak
 * at every part change. At most two are kept.
 */
const spareBuffers = new Map<number, Buffer[]>();
const SPARES_KEPT = 2;

function takeBuffer(size: number): Buffer {
  return spareBuffers.get(size)?.pop() ?? allocateLongLivedBuffer(size);
}

function giveBack(buffer: Buffer | undefined): void {
  if (buffer === undefined) return;
  let spares = spareBuffers.get(buffer.length);
  if (spares === undefined) spareBuffers.set(buffer.length, (spares = []));
  if (spares.length < SPARES_KEPT && !spares.includes(buffer)) spares.push(buffer);
}

/**
 * The buffers encoders compress into and hand downstream, by block size: shared by every encoder of the process,
 * two kept free (a block being written, the next one being made). Each has room for the block-size field and a
 * whole raw block, so blocks that do not shrink (random data) reuse them too. Consumers that give them back: the
 * file storage writer.
 */
const outputPools = new Map<number, RecyclingPool>();
const OUTPUT_BLOCKS_KEPT = 2;

function outputBlocks(blockSize: number): RecyclingPool {
  let pool = outputPools.get(blockSize);
  if (pool === undefined) outputPools.set(blockSize, (pool = new RecyclingPool(4 + blockSize, OUTPUT_BLOCKS_KEPT)));
  return pool;
}

/**
 * Blocks are compressed by walnut's own addon (src/native/c) straight into an output buffer from the process-wide
 * pool, behind a 4-byte slot for the frame's block size field, and handed on at their compressed size: no scratch
 * buffer and no copy (docs/PERFORMANCE.md, session 5). A block that does not shrink is stored raw. Input is
 * compressed straight from the written chunk when a whole block is available in it (a pooled reader's 1 MiB chunks
 * always are), else gathered into one block buffer, taken on first need (never more than one block is held).
 */
export class Lz4FrameEncoder extends PacedTransform {
  readonly #blockSize: number;
  #block: Buffer | undefined;
  #ended = false;
  #blockFill = 0;
  readonly #checksum = new Xxh32(0);
  #headerWritten = false;

  constructor(blockSize: number = WALNUT_LZ4_BLOCK_SIZE) {
    super();
    this.#blockSize = blockSize;
    encodeFrameHeader(blockSize); // validates the size before any byte flows
  }

  protected consume(input: Buffer, offset: number): number {
    if (!this.#headerWritten) this.#writeHeader();
    const blockSize = this.#blockSize;
    while (offset < input.length) {
      const available = input.length - offset;
      if (this.#blockFill === 0 && available >= blockSize) {
        const wantsMore = this.#emitBlock(input, offset, blockSize);
        offset += blockSize;
        if (!wantsMore) return offset;
        continue;
      }
      const taken = Math.min(blockSize - this.#blockFill, available);
      input.copy(this.#gathering(), this.#blockFill, offset, offset + taken);
      this.#blockFill += taken;
      offset += taken;
      if (this.#blockFill === blockSize) {
        this.#blockFill = 0;
        if (!this.#emitBlock(this.#gathering(), 0, blockSize)) return offset;
      }
    }
    return offset;
  }

  protected finish(): void {
    // Like pierrec, an empty input still makes a whole frame: header, end mark, checksum of nothing.
    if (!this.#headerWritten) this.#writeHeader();
    if (this.#blockFill > 0) {
      this.#emitBlock(this.#gathering(), 0, this.#blockFill);
      this.#blockFill = 0;
    }
    const trailer = Buffer.allocUnsafe(8);
    trailer.writeUInt32LE(0, 0); // end mark
    trailer.writeUInt32LE(this.#checksum.digest() >>> 0, 4);
    this.push(trailer);
    this.#releaseBuffers();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#releaseBuffers();
    super._destroy(error, callback);
  }

  /** Every emitted block went out in its own buffer, so nothing downstream refers to this one any more. */
  #releaseBuffers(): void {
    giveBack(this.#block);
    this.#block = undefined;
    this.#ended = true;
  }

  #gathering(): Buffer {
    if (this.#ended) throw new Error('lz4 encoder used after its frame ended');
    this.#block ??= takeBuffer(this.#blockSize);
    return this.#block;
  }

  #writeHeader(): void {
    this.#headerWritten = true;
    this.push(encodeFrameHeader(this.#blockSize));
  }

  /** Writes one block; returns what push() returned (false: the reader is full, pause). */
  #emitBlock(source: Buffer, start: number, length: number): boolean {
    const data = new Uint8Array(source.buffer, source.byteOffset + start, length);
    this.#checksum.update(data);
    // A pooled output buffer holds the size field and a whole block: compressed bytes always fit (they are used
    // only when smaller than the block), and so does the block stored raw.
    const { buffer: output, fresh } = outputBlocks(this.#blockSize).take(4 + this.#blockSize);
    const compressedLength = walnutNative().lz4CompressBlock(data, output.subarray(4, 4 + length));
    let block: Buffer;
    if (compressedLength > 0 && compressedLength < length) {
      block = shortenLent(output, 4 + compressedLength);
      block.writeUInt32LE(compressedLength, 0);
    } else {
      block = shortenLent(output, 4 + length);
      block.writeUInt32LE((length | LZ4_UNCOMPRESSED_BIT) >>> 0, 0);
      block.set(data, 4);
    }
    // Only fresh buffers become garbage; a block the file storage writer gives back is reused by the next one.
    const collected = fresh && noteBufferOutput(block.length);
    const wantsMore = this.push(block);
    if (collected) {
      this.yieldToEventLoop();
      return false;
    }
    return wantsMore;
  }
}
