// Streaming LZ4 frame reader: any valid frame (64 KiB–4 MiB blocks, linked or independent, checksums), skippable, legacy and concatenated frames.

import { walnutNative, Xxh32 } from '../native/walnut-native.ts';
import { PacedTransform } from '../stream/paced-transform.ts';
import { noteBufferOutput } from '../stream/buffer-garbage.ts';
import { allocateLongLivedBuffer } from '../stream/long-lived-buffers.ts';
import { RecyclingPool } from '../stream/recycling-pool.ts';
import { DEFAULT_CHUNK_SIZE } from '../stream/memory-budget.ts';
import { decompressionError } from './codec.ts';
import {
  descriptorLengthAfterFlg,
  LZ4_FRAME_MAGIC,
  LZ4_LEGACY_BLOCK_SIZE,
  LZ4_LEGACY_MAGIC,
  LZ4_SKIPPABLE_MAGIC,
  LZ4_SKIPPABLE_MAGIC_MASK,
  LZ4_UNCOMPRESSED_BIT,
  LZ4_WINDOW_SIZE,
  lz4CompressBound,
  parseFrameDescriptor,
  type Lz4FrameDescriptor,
} from './lz4-frame.ts';

// What the decoder expects next. Small fixed-size fields are gathered in #field; block data in #block.
/** Decoded blocks (up to 4 MiB) are pushed in slices of this size. */
const OUTPUT_SLICE_SIZE = DEFAULT_CHUNK_SIZE;

/**
 * Output slices of every decoder in the process. Consumers that are a slice's last reader give it back (the restore
 * file writer, the file storage writer, an LZ4 encoder after copying it); the others leave it to the collector.
 */
const decodedSlices = new RecyclingPool(OUTPUT_SLICE_SIZE, 4);

const EXPECT_MAGIC = 0;
const EXPECT_FLG = 1;
const EXPECT_DESCRIPTOR = 2;
const EXPECT_BLOCK_SIZE = 3;
const EXPECT_BLOCK_DATA = 4;
const EXPECT_BLOCK_CHECKSUM = 5;
const EXPECT_CONTENT_CHECKSUM = 6;
const EXPECT_SKIP_LENGTH = 7;
const EXPECT_SKIPPED_BYTES = 8;
const EXPECT_LEGACY_BLOCK_SIZE = 9;
const EXPECT_LEGACY_BLOCK_DATA = 10;

const WHERE: Record<number, string> = {
  [EXPECT_FLG]: 'frame header',
  [EXPECT_DESCRIPTOR]: 'frame header',
  [EXPECT_BLOCK_SIZE]: 'block header',
  [EXPECT_BLOCK_DATA]: 'block',
  [EXPECT_BLOCK_CHECKSUM]: 'block checksum',
  [EXPECT_CONTENT_CHECKSUM]: 'content checksum',
  [EXPECT_SKIP_LENGTH]: 'skippable frame',
  [EXPECT_SKIPPED_BYTES]: 'skippable frame',
  [EXPECT_LEGACY_BLOCK_DATA]: 'legacy block',
};

function u32(bytes: Uint8Array, at = 0): number {
  return (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24)) >>> 0;
}

function view(buffer: Uint8Array, start: number, length: number): Uint8Array {
  // A plain Uint8Array (not a Buffer) for the native calls; see lz4-encoder.ts.
  return new Uint8Array(buffer.buffer, buffer.byteOffset + start, length);
}

/**
 * Blocks are decoded by walnut's own addon (src/native/c) into one buffer this decoder owns, then copied out in
 * chunk-size slices: nothing downstream holds a whole decoded block, and the decode target stays warm (no fresh
 * 4 MiB of page faults per block). For linked blocks the last 64 KiB of output stays at the front of that buffer as
 * the history the next block's matches reach into. At most one block (plus 64 KiB of history) is held.
 */
export class Lz4FrameDecoder extends PacedTransform {
  #expect = EXPECT_MAGIC;
  readonly #field = Buffer.alloc(16);
  #fieldFill = 0;
  #fieldLength = 4;

  #frame: Lz4FrameDescriptor | undefined;
  #frameChecksum: Xxh32 | undefined;
  #frameDecodedBytes = 0;

  #block: Buffer = Buffer.alloc(0); // the block's stored bytes
  #blockLength = 0;
  #decodeLimit = 0; // the frame's block maximum: a block decodes to at most this
  #blockFill = 0;
  #blockStored = false; // stored uncompressed (size field high bit)

  #decoded: Uint8Array = new Uint8Array(0); // [0, #historyLength) history, then the block being decoded
  #historyLength = 0;

  #skipRemaining = 0;
  #totalIn = 0;

  protected consume(input: Buffer, offset: number): number {
    while (offset < input.length) {
      if (this.#expect === EXPECT_BLOCK_DATA || this.#expect === EXPECT_LEGACY_BLOCK_DATA) {
        const taken = Math.min(this.#blockLength - this.#blockFill, input.length - offset);
        input.copy(this.#block, this.#blockFill, offset, offset + taken);
        this.#blockFill += taken;
        offset += taken;
        this.#totalIn += taken;
        if (this.#blockFill < this.#blockLength) continue;
        if (this.#expect === EXPECT_BLOCK_DATA && this.#frame?.blockChecksum) {
          this.#expectField(EXPECT_BLOCK_CHECKSUM, 4);
          continue;
        }
        if (!this.#finishBlock(undefined)) return offset;
        continue;
      }
      if (this.#expect === EXPECT_SKIPPED_BYTES) {
        const skipped = Math.min(this.#skipRemaining, input.length - offset);
        this.#skipRemaining -= skipped;
        offset += skipped;
        this.#totalIn += skipped;
        if (this.#skipRemaining === 0) this.#expectField(EXPECT_MAGIC, 4);
        continue;
      }
      const taken = Math.min(this.#fieldLength - this.#fieldFill, input.length - offset);
      input.copy(this.#field, this.#fieldFill, offset, offset + taken);
      this.#fieldFill += taken;
      offset += taken;
      this.#totalIn += taken;
      if (this.#fieldFill < this.#fieldLength) continue;
      if (!this.#onField()) return offset;
    }
    return offset;
  }

  protected finish(): void {
    const atBoundary = this.#fieldFill === 0 && (this.#expect === EXPECT_MAGIC || this.#expect === EXPECT_LEGACY_BLOCK_SIZE);
    if (!atBoundary) {
      throw decompressionError('lz4', `truncated frame: the data ends inside a ${WHERE[this.#expect] ?? 'frame'} after ${this.#totalIn} bytes`);
    }
  }

  #expectField(expect: number, length: number): void {
    this.#expect = expect;
    this.#fieldFill = 0;
    this.#fieldLength = length;
  }

  /** Handles a completed fixed-size field; returns false when a push filled the reader. */
  #onField(): boolean {
    const field = this.#field;
    switch (this.#expect) {
      case EXPECT_MAGIC:
        this.#onMagic(u32(field));
        return true;
      case EXPECT_FLG:
        this.#expectField(EXPECT_DESCRIPTOR, 1 + descriptorLengthAfterFlg(field[0]));
        this.#fieldFill = 1; // FLG stays at #field[0]
        return true;
      case EXPECT_DESCRIPTOR:
        this.#startFrame();
        return true;
      case EXPECT_BLOCK_SIZE:
        return this.#onBlockSize(u32(field));
      case EXPECT_BLOCK_CHECKSUM:
        return this.#finishBlock(u32(field));
      case EXPECT_CONTENT_CHECKSUM: {
        const expected = u32(field);
        const actual = (this.#frameChecksum as Xxh32).digest() >>> 0;
        if (actual !== expected) throw decompressionError('lz4', 'content checksum mismatch (the object is corrupt)');
        this.#endFrame();
        return true;
      }
      case EXPECT_SKIP_LENGTH:
        this.#skipRemaining = u32(field);
        if (this.#skipRemaining === 0) this.#expectField(EXPECT_MAGIC, 4);
        else this.#expect = EXPECT_SKIPPED_BYTES;
        return true;
      case EXPECT_LEGACY_BLOCK_SIZE:
        return this.#onLegacyBlockSize(u32(field));
      default:
        throw new Error(`lz4 decoder in an impossible state ${this.#expect}`);
    }
  }

  #onMagic(magic: number): void {
    if (magic === LZ4_FRAME_MAGIC) {
      this.#expectField(EXPECT_FLG, 1);
    } else if (((magic & LZ4_SKIPPABLE_MAGIC_MASK) >>> 0) === LZ4_SKIPPABLE_MAGIC) {
      this.#expectField(EXPECT_SKIP_LENGTH, 4);
    } else if (magic === LZ4_LEGACY_MAGIC) {
      this.#frame = undefined;
      this.#historyLength = 0;
      this.#ensureBlockBuffer(lz4CompressBound(LZ4_LEGACY_BLOCK_SIZE), LZ4_LEGACY_BLOCK_SIZE, false);
      this.#expectField(EXPECT_LEGACY_BLOCK_SIZE, 4);
    } else {
      throw decompressionError('lz4', `not an LZ4 frame: bad magic number 0x${magic.toString(16).padStart(8, '0')} at byte ${this.#totalIn - 4}`);
    }
  }

  #startFrame(): void {
    const descriptor = parseFrameDescriptor(this.#field.subarray(0, this.#fieldLength));
    if (typeof descriptor === 'string') throw decompressionError('lz4', descriptor);
    if (descriptor.dictionaryId !== undefined) {
      throw decompressionError('lz4', `the frame needs external dictionary ${descriptor.dictionaryId}, which WAL-G never writes`);
    }
    this.#frame = descriptor;
    this.#frameChecksum = descriptor.contentChecksum ? new Xxh32(0) : undefined;
    this.#frameDecodedBytes = 0;
    this.#historyLength = 0;
    this.#ensureBlockBuffer(descriptor.blockMaxSize, descriptor.blockMaxSize, !descriptor.blockIndependence);
    this.#expectField(EXPECT_BLOCK_SIZE, 4);
  }

  /** Makes #block hold `capacity` stored bytes and #decoded a block of `decodeLimit` bytes, after history if linked. */
  #ensureBlockBuffer(capacity: number, decodeLimit: number, linked: boolean): void {
    if (this.#block.length < capacity) this.#block = allocateLongLivedBuffer(capacity);
    const needed = decodeLimit + (linked ? LZ4_WINDOW_SIZE : 0);
    if (this.#decoded.length < needed) {
      const larger = allocateLongLivedBuffer(needed);
      larger.set(this.#decoded.subarray(0, this.#historyLength));
      this.#decoded = larger;
    }
    this.#decodeLimit = decodeLimit;
  }

  #onBlockSize(sizeField: number): boolean {
    if (sizeField === 0) {
      // End mark.
      if (this.#frameChecksum !== undefined) this.#expectField(EXPECT_CONTENT_CHECKSUM, 4);
      else this.#endFrame();
      return true;
    }
    const frame = this.#frame as Lz4FrameDescriptor;
    const stored = (sizeField & LZ4_UNCOMPRESSED_BIT) !== 0;
    const length = sizeField & 0x7fffffff;
    if (length > frame.blockMaxSize) {
      throw decompressionError('lz4', `corrupt block: size ${length} exceeds the frame's block maximum ${frame.blockMaxSize}`);
    }
    this.#blockStored = stored;
    this.#blockLength = length;
    this.#blockFill = 0;
    this.#expect = EXPECT_BLOCK_DATA;
    return true;
  }

  #onLegacyBlockSize(value: number): boolean {
    // A legacy frame has no end mark: it ends at the end of the input or where the next frame's magic stands.
    if (value === LZ4_FRAME_MAGIC || value === LZ4_LEGACY_MAGIC || ((value & LZ4_SKIPPABLE_MAGIC_MASK) >>> 0) === LZ4_SKIPPABLE_MAGIC) {
      this.#onMagic(value);
      return true;
    }
    if (value > lz4CompressBound(LZ4_LEGACY_BLOCK_SIZE)) {
      throw decompressionError('lz4', `corrupt legacy block: size ${value} is larger than any 8 MiB block compresses to`);
    }
    this.#blockStored = false;
    this.#blockLength = value;
    this.#blockFill = 0;
    this.#expect = EXPECT_LEGACY_BLOCK_DATA;
    return true;
  }

  /** Decodes the gathered block and pushes it; returns what push() returned. */
  #finishBlock(blockChecksum: number | undefined): boolean {
    const frame = this.#frame;
    const legacy = this.#expect === EXPECT_LEGACY_BLOCK_DATA;
    const storedBytes = view(this.#block, 0, this.#blockLength);
    const linked = frame !== undefined && !frame.blockIndependence;
    const start = linked ? this.#historyLength : 0;
    let length: number;
    if (this.#blockStored) {
      this.#decoded.set(storedBytes, start);
      length = this.#blockLength;
    } else {
      length = walnutNative().lz4DecompressBlock(storedBytes, this.#decoded.subarray(0, start + this.#decodeLimit), start);
      if (length < 0) throw decompressionError('lz4', `corrupt block at byte ${this.#totalIn - this.#blockLength}: it does not decode to at most ${this.#decodeLimit} bytes`);
    }
    const output = this.#decoded.subarray(start, start + length);
    if (blockChecksum !== undefined) this.#verifyBlockChecksum(blockChecksum, storedBytes, output);
    this.#frameChecksum?.update(output);
    this.#frameDecodedBytes += length;
    this.#expectField(legacy ? EXPECT_LEGACY_BLOCK_SIZE : EXPECT_BLOCK_SIZE, 4);
    // Copied out in chunk-size slices: stages downstream hold slices they own, never the decode buffer, and each
    // slice is garbage as soon as its consumer is done with it.
    let wantsMore = true;
    for (let at = 0; at < length; at += OUTPUT_SLICE_SIZE) {
      const { buffer: slice } = decodedSlices.take(Math.min(OUTPUT_SLICE_SIZE, length - at));
      slice.set(output.subarray(at, at + slice.length));
      wantsMore = this.push(slice);
    }
    if (linked) this.#keepHistory(start + length);
    // Counted whether the slices were recycled or not: the collections this paces also free the stages' other
    // garbage (read chunks, slices split across tar members).
    if (noteBufferOutput(length)) {
      this.yieldToEventLoop();
      return false;
    }
    return wantsMore;
  }

  #verifyBlockChecksum(expected: number, storedBytes: Uint8Array, output: Uint8Array): void {
    // The spec hashes the bytes as stored; pierrec's writer hashes the decoded bytes. Accept either.
    if (walnutNative().xxh32(storedBytes, 0) >>> 0 === expected) return;
    if (walnutNative().xxh32(output, 0) >>> 0 === expected) return;
    throw decompressionError('lz4', `block checksum mismatch at byte ${this.#totalIn} (the object is corrupt)`);
  }

  /** Moves the last 64 KiB of #decoded[0, end) to its front, as the next linked block's history. */
  #keepHistory(end: number): void {
    const kept = Math.min(LZ4_WINDOW_SIZE, end);
    this.#decoded.copyWithin(0, end - kept, end);
    this.#historyLength = kept;
  }

  #endFrame(): void {
    const frame = this.#frame as Lz4FrameDescriptor;
    if (frame.contentSize !== undefined && frame.contentSize !== BigInt(this.#frameDecodedBytes)) {
      throw decompressionError('lz4', `content size mismatch: the frame declares ${frame.contentSize} bytes but holds ${this.#frameDecodedBytes}`);
    }
    this.#frame = undefined;
    this.#frameChecksum = undefined;
    this.#expectField(EXPECT_MAGIC, 4);
  }
}
