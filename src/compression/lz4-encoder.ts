// Streaming LZ4 frame writer with WAL-G's layout: 4 MiB independent blocks, raw blocks when they don't shrink, xxh32 trailer.

import lz4 from 'lz4-napi';
import xxhash from '@node-rs/xxhash';
import { PacedTransform } from '../stream/paced-transform.ts';
import { noteBufferOutput } from '../stream/buffer-garbage.ts';
import { encodeFrameHeader, LZ4_UNCOMPRESSED_BIT, lz4CompressBound, WALG_LZ4_BLOCK_SIZE } from './lz4-frame.ts';

/**
 * lz4-napi compresses whole blocks only; its compressSync prefixes the block with the input length as a
 * u32 LE, which is overwritten in place with the frame's block size field, so a compressed block costs
 * no copy. Input is gathered into one block buffer (never more than one block is held) and compressed
 * straight from the written chunk when a whole block is available in it.
 */
export class Lz4FrameEncoder extends PacedTransform {
  readonly #blockSize: number;
  readonly #block: Buffer;
  #blockFill = 0;
  readonly #checksum = new xxhash.Xxh32(0);
  #headerWritten = false;

  constructor(blockSize: number = WALG_LZ4_BLOCK_SIZE) {
    super();
    this.#blockSize = blockSize;
    this.#block = Buffer.allocUnsafeSlow(blockSize);
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
      input.copy(this.#block, this.#blockFill, offset, offset + taken);
      this.#blockFill += taken;
      offset += taken;
      if (this.#blockFill === blockSize) {
        this.#blockFill = 0;
        if (!this.#emitBlock(this.#block, 0, blockSize)) return offset;
      }
    }
    return offset;
  }

  protected finish(): void {
    // Like pierrec, an empty input still makes a whole frame: header, end mark, checksum of nothing.
    if (!this.#headerWritten) this.#writeHeader();
    if (this.#blockFill > 0) {
      this.#emitBlock(this.#block, 0, this.#blockFill);
      this.#blockFill = 0;
    }
    const trailer = Buffer.allocUnsafe(8);
    trailer.writeUInt32LE(0, 0); // end mark
    trailer.writeUInt32LE(this.#checksum.digest() >>> 0, 4);
    this.push(trailer);
  }

  #writeHeader(): void {
    this.#headerWritten = true;
    this.push(encodeFrameHeader(this.#blockSize));
  }

  /** Writes one block; returns what push() returned (false: the reader is full, pause). */
  #emitBlock(source: Buffer, start: number, length: number): boolean {
    // A plain Uint8Array view, not a Buffer: lz4-napi 2.10 leaks the output of compressSync(Buffer).
    const data = new Uint8Array(source.buffer, source.byteOffset + start, length);
    this.#checksum.update(data);
    const compressed = lz4.compressSync(data as Buffer);
    // The native result holds a compress-bound buffer whatever its length; count that.
    const collected = noteBufferOutput(lz4CompressBound(length));
    const compressedLength = compressed.length - 4;
    let wantsMore: boolean;
    if (compressedLength < length) {
      compressed.writeUInt32LE(compressedLength, 0);
      wantsMore = this.push(compressed);
    } else {
      const stored = Buffer.allocUnsafe(4 + length);
      stored.writeUInt32LE((length | LZ4_UNCOMPRESSED_BIT) >>> 0, 0);
      stored.set(data, 4);
      wantsMore = this.push(stored);
    }
    if (collected) {
      this.yieldToEventLoop();
      return false;
    }
    return wantsMore;
  }
}
