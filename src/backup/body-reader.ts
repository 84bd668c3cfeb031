// Exact-size reads over a stream of chunks (a tar member's body): what parsing an increment needs.

import { WalgError } from '../errors.ts';

export class BodyReader {
  private readonly iterator: AsyncIterator<Buffer>;
  private pending: Buffer = Buffer.alloc(0);
  private ended = false;

  constructor(body: AsyncIterable<Buffer>) {
    this.iterator = body[Symbol.asyncIterator]();
  }

  /** Buffers until `size` bytes are there or the body ends; returns how many are available. */
  private async fill(size: number): Promise<number> {
    while (this.pending.length < size && !this.ended) {
      const next = await this.iterator.next();
      if (next.done) {
        this.ended = true;
        break;
      }
      const chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value as Uint8Array);
      this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    }
    return Math.min(size, this.pending.length);
  }

  /** Exactly `size` bytes; an early end is Go's "unexpected EOF". */
  async readExactly(size: number): Promise<Buffer> {
    const available = await this.fill(size);
    if (available < size) throw new WalgError(available === 0 ? 'EOF' : 'unexpected EOF');
    const result = this.pending.subarray(0, size);
    this.pending = this.pending.subarray(size);
    return result;
  }

  /** Up to `size` bytes; an empty buffer at the end. */
  async readUpTo(size: number): Promise<Buffer> {
    const available = await this.fill(size);
    const result = this.pending.subarray(0, available);
    this.pending = this.pending.subarray(available);
    return result;
  }

  async skip(size: number): Promise<void> {
    let left = size;
    while (left > 0) {
      const chunk = await this.readUpTo(Math.min(left, 1024 * 1024));
      if (chunk.length === 0) throw new WalgError('unexpected EOF');
      left -= chunk.length;
    }
  }

  async atEnd(): Promise<boolean> {
    return (await this.fill(1)) === 0;
  }

  /** The rest of the body, chunk by chunk. */
  async *remaining(): AsyncGenerator<Buffer> {
    if (this.pending.length > 0) {
      const first = this.pending;
      this.pending = Buffer.alloc(0);
      yield first;
    }
    while (!this.ended) {
      const next = await this.iterator.next();
      if (next.done) {
        this.ended = true;
        return;
      }
      yield Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value as Uint8Array);
    }
  }
}
