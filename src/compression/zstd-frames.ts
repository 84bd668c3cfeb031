// Follows the frame structure of a zstd stream (RFC 8878) as its bytes go by, without decoding anything, so the
// reader can tell an object that ends between frames from one cut short. Node 22's zstd decoder ends quietly on a
// truncated frame; Node 24's says so. Walking block headers costs one 3-byte header per block (up to 128 KiB).

const ZSTD_MAGIC = 0xfd2fb528;
/** Skippable frames: magic 0x184D2A50 to 0x184D2A5F, a 4-byte size, then that many bytes. */
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;

type Part =
  | 'magic'
  | 'descriptor'
  | 'frame header'
  | 'block header'
  | 'block'
  | 'checksum'
  | 'skippable size'
  | 'skippable frame';

/** Where a stream was cut, in the words of the error message. */
const WHERE: Record<Part, string> = {
  magic: 'frame magic number',
  descriptor: 'frame header',
  'frame header': 'frame header',
  'block header': 'block header',
  block: 'block',
  checksum: 'content checksum',
  'skippable size': 'skippable frame header',
  'skippable frame': 'skippable frame',
};

export class ZstdFrameWalker {
  #part: Part = 'magic';
  /** Bytes of the current fixed-size field gathered so far (magic, sizes, block header), little-endian. */
  #field = 0;
  #fieldBytes = 0;
  /** Bytes still to skip in the current field (frame header rest, block body, checksum, skippable body). */
  #skip = 0;
  #checksum = false;
  #lastBlock = false;
  #bytesSeen = 0;
  #problem: string | undefined;

  /** Walks `chunk`; returns false (and sets `problem`) when the bytes cannot be a zstd stream. */
  walk(chunk: Uint8Array): boolean {
    if (this.#problem !== undefined) return false;
    let at = 0;
    while (at < chunk.length) {
      if (this.#skip > 0) {
        const step = Math.min(this.#skip, chunk.length - at);
        this.#skip -= step;
        at += step;
        this.#bytesSeen += step;
        if (this.#skip === 0) this.#afterSkip();
        continue;
      }
      // A little-endian field: magic (4), descriptor (1), block header (3), skippable size (4).
      this.#field |= chunk[at]! << (8 * this.#fieldBytes);
      this.#field >>>= 0;
      this.#fieldBytes++;
      at++;
      this.#bytesSeen++;
      if (this.#fieldBytes === this.#fieldLength()) {
        const value = this.#field;
        this.#field = 0;
        this.#fieldBytes = 0;
        if (!this.#afterField(value)) return false;
      }
    }
    return true;
  }

  /** True when every frame seen is complete (also for no bytes at all). */
  get atFrameBoundary(): boolean {
    return this.#problem === undefined && this.#part === 'magic' && this.#fieldBytes === 0;
  }

  get problem(): string | undefined {
    return this.#problem;
  }

  /** The end-of-data complaint when the stream stops inside a frame. */
  truncation(): string {
    return `unexpected EOF: the data ends inside a ${WHERE[this.#part]} after ${this.#bytesSeen} bytes`;
  }

  #fieldLength(): number {
    switch (this.#part) {
      case 'magic':
      case 'skippable size':
        return 4;
      case 'descriptor':
        return 1;
      default:
        return 3; // block header
    }
  }

  #afterField(value: number): boolean {
    switch (this.#part) {
      case 'magic':
        if (value === ZSTD_MAGIC) {
          this.#part = 'descriptor';
        } else if (((value & SKIPPABLE_MASK) >>> 0) === SKIPPABLE_MAGIC) {
          this.#part = 'skippable size';
        } else {
          this.#problem = `unknown frame magic 0x${value.toString(16).padStart(8, '0')} at byte ${this.#bytesSeen - 4}`;
          return false;
        }
        return true;
      case 'descriptor': {
        const fcsFlag = value >>> 6;
        const singleSegment = (value >>> 5) & 1;
        if ((value >>> 3) & 1) {
          this.#problem = 'a frame header sets the reserved bit';
          return false;
        }
        this.#checksum = ((value >>> 2) & 1) === 1;
        const dictionaryIdBytes = [0, 1, 2, 4][value & 3]!;
        const contentSizeBytes = fcsFlag === 0 ? singleSegment : [0, 2, 4, 8][fcsFlag]!;
        const windowBytes = singleSegment ? 0 : 1;
        this.#lastBlock = false;
        this.#part = 'frame header';
        this.#skip = windowBytes + dictionaryIdBytes + contentSizeBytes;
        if (this.#skip === 0) this.#afterSkip();
        return true;
      }
      case 'skippable size':
        this.#part = 'skippable frame';
        this.#skip = value;
        if (this.#skip === 0) this.#afterSkip();
        return true;
      default: {
        // Block header: bit 0 last block, bits 1-2 type (raw, RLE, compressed, reserved), bits 3-23 size.
        this.#lastBlock = (value & 1) === 1;
        const type = (value >>> 1) & 3;
        if (type === 3) {
          this.#problem = `a block header at byte ${this.#bytesSeen - 3} has the reserved type`;
          return false;
        }
        this.#part = 'block';
        this.#skip = type === 1 ? 1 : value >>> 3;
        if (this.#skip === 0) this.#afterSkip();
        return true;
      }
    }
  }

  /** A skipped stretch is over: what follows it. */
  #afterSkip(): void {
    switch (this.#part) {
      case 'frame header':
        this.#part = 'block header';
        return;
      case 'block':
        if (!this.#lastBlock) {
          this.#part = 'block header';
        } else if (this.#checksum) {
          this.#part = 'checksum';
          this.#skip = 4;
        } else {
          this.#part = 'magic';
        }
        return;
      default: // checksum, skippable frame
        this.#part = 'magic';
    }
  }
}
