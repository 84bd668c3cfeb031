// Recycling pools (src/stream/recycling-pool.ts): lent buffers come back only whole and only once, a pool never
// waits, and the file storage writer gives the LZ4 encoder's blocks back so the next object reuses them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { RecyclingPool, giveBack, shortenLent } from '../../src/stream/recycling-pool.ts';
import { FileStorageDriver } from '../../src/storage/file.ts';
import { Lz4FrameEncoder } from '../../src/compression/lz4-encoder.ts';
import { Lz4FrameDecoder } from '../../src/compression/lz4-decoder.ts';
import { pushPipeline } from '../../src/stream/pipeline.ts';
import { PassThrough } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { randomBytes } from 'node:crypto';

test('a pool lends, takes back whole buffers once, and allocates instead of waiting', () => {
  const pool = new RecyclingPool(1024, 2);
  const first = pool.take(100);
  assert.equal(first.buffer.length, 100);
  assert.equal(first.fresh, true);
  const second = pool.take(1024);
  const third = pool.take(10);
  assert.equal(third.fresh, true, 'nothing free: a new buffer, no wait');
  giveBack(first.buffer.subarray(0, 50));
  assert.equal(pool.free, 0, 'a part of a lent chunk is not taken back');
  giveBack(first.buffer);
  giveBack(first.buffer);
  assert.equal(pool.free, 1, 'taken back once');
  giveBack(second.buffer);
  giveBack(third.buffer);
  assert.equal(pool.free, 2, 'at most `keep` are kept');
  const again = pool.take(512);
  assert.equal(again.fresh, false);
  assert.ok(again.buffer.buffer === first.buffer.buffer || again.buffer.buffer === second.buffer.buffer || again.buffer.buffer === third.buffer.buffer);
  const large = pool.take(4096);
  assert.equal(large.fresh, true);
  giveBack(large.buffer);
  giveBack(Buffer.alloc(16));
  assert.equal(pool.free, 1, 'buffers the pool never lent are ignored');
});

async function encodeToFile(driver: FileStorageDriver, key: string, content: Buffer): Promise<void> {
  const tail = new PassThrough({ highWaterMark: 1024 * 1024 });
  await Promise.all([driver.put(key, tail), pushPipeline(Readable.from([content]), [() => new Lz4FrameEncoder()], tail)]);
}

test('objects written through the file storage stay intact while the encoder reuses the blocks it gets back', async () => {
  const root = mkdtempSync(join(tmpdir(), 'walnut-recycle-'));
  try {
    const driver = new FileStorageDriver(root);
    // Different contents, several 4 MiB blocks each, written one after the other and at the same time: a block
    // reused before its bytes were written would show up as another object's bytes.
    // Two of them random, so their blocks are stored raw in the same pooled buffers.
    const contents = [0, 1, 2, 3].map((seed) =>
      seed % 2 === 1 ? randomBytes(3_500_000 + seed) : Buffer.from(Array.from({ length: 1_500_000 }, (_, i) => `${seed}:${(i * 7919) % 100_000}|`).join('')),
    );
    await encodeToFile(driver, 'a.lz4', contents[0]);
    await encodeToFile(driver, 'b.lz4', contents[1]);
    await Promise.all([encodeToFile(driver, 'c.lz4', contents[2]), encodeToFile(driver, 'd.lz4', contents[3])]);
    for (const [index, key] of ['a.lz4', 'b.lz4', 'c.lz4', 'd.lz4'].entries()) {
      const decoded = new PassThrough();
      const done = buffer(decoded);
      await pushPipeline(Readable.from([readFileSync(join(root, key))]), [() => new Lz4FrameDecoder()], decoded);
      assert.ok((await done).equals(contents[index]), key);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('blocks stored raw (random input) go out in the pooled output buffers and come back to them', async () => {
  const seen = new Set<ArrayBufferLike>();
  const raw: boolean[] = [];
  const sink = new (await import('node:stream')).Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (chunk.length > 8) {
        seen.add(chunk.buffer);
        raw.push((chunk.readUInt32LE(0) & 0x80000000) !== 0);
      }
      giveBack(chunk);
      callback();
    },
  });
  const input = randomBytes(6 * 1024 * 1024);
  await pushPipeline(Readable.from([input.subarray(0, 3_000_001), input.subarray(3_000_001)]), [() => new Lz4FrameEncoder()], sink);
  assert.equal(raw.length, 6, 'six 1 MiB blocks');
  assert.ok(raw.every(Boolean), 'all stored raw');
  assert.ok(seen.size <= 2, `given back at once, the blocks reuse at most two buffers (saw ${seen.size})`);
});

test('the file storage writer gives a lent chunk back only once its bytes are written', async () => {
  const root = mkdtempSync(join(tmpdir(), 'walnut-recycle-'));
  try {
    const pool = new RecyclingPool(64 * 1024, 4);
    async function* body(): AsyncGenerator<Buffer> {
      for (let index = 0; index < 16; index++) {
        const { buffer } = pool.take(64 * 1024);
        buffer.fill(index);
        // While the writer has this chunk, another user of the pool takes whatever is free and scribbles on it.
        setImmediate(() => {
          const other = pool.take(64 * 1024).buffer;
          other.fill(0xee);
          giveBack(other);
        });
        yield buffer;
      }
    }
    await new FileStorageDriver(root).put('object', Readable.from(body()));
    const written = readFileSync(join(root, 'object'));
    assert.equal(written.length, 16 * 64 * 1024);
    for (let index = 0; index < 16; index++) {
      const block = written.subarray(index * 64 * 1024, (index + 1) * 64 * 1024);
      assert.ok(block.every((byte) => byte === index), `chunk ${index} is written as it was lent, not overwritten`);
    }
    assert.ok(pool.free > 0, 'the writer gave chunks back');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a lent buffer shortened to what was filled comes back through its shorter view only', () => {
  const pool = new RecyclingPool(1024, 2);
  const { buffer } = pool.take(1024);
  const filled = shortenLent(buffer, 100);
  assert.equal(filled.length, 100);
  assert.equal(filled.buffer, buffer.buffer);
  giveBack(buffer);
  assert.equal(pool.free, 0, 'the whole-length view no longer matches the lending');
  giveBack(filled);
  assert.equal(pool.free, 1);
  const plain = Buffer.alloc(64);
  assert.equal(shortenLent(plain, 10).length, 10, 'a buffer no pool lent is just cut');
  giveBack(shortenLent(plain, 10));
  assert.equal(pool.free, 1);
});
