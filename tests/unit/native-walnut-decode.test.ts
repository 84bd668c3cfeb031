// walnut's native LZ4 block decoder, xxHash32, huge-page buffers and process memory controls
// (src/native/c/walnut-native.c), each checked against an independent implementation or the kernel's own account.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import lz4 from 'lz4-napi';
import xxhash from '@node-rs/xxhash';
import { walnutNative, Xxh32 } from '../../src/native/walnut-native.ts';
import { lz4CompressBound } from '../../src/compression/lz4-frame.ts';
import { allocateLongLivedBuffers } from '../../src/stream/long-lived-buffers.ts';

const native = walnutNative();

/** A block compressed by lz4-napi (the reference LZ4 library), without its 4-byte size prefix. */
function referenceBlock(input: Buffer): Uint8Array {
  const framed = lz4.compressSync(input);
  return new Uint8Array(framed.buffer, framed.byteOffset + 4, framed.length - 4);
}

function decode(block: Uint8Array, capacity: number, prefix?: Uint8Array): { length: number; output: Buffer } {
  const destination = Buffer.alloc((prefix?.length ?? 0) + capacity);
  if (prefix) destination.set(prefix);
  const length = native.lz4DecompressBlock(block, destination, prefix?.length ?? 0);
  return { length, output: destination.subarray(prefix?.length ?? 0, (prefix?.length ?? 0) + Math.max(length, 0)) };
}

function pgbenchLikeRows(bytes: number): Buffer {
  const rows: string[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const row = `${i}|${i % 10}|${(i * 7919) % 100000}|${' '.repeat(84)}\n`;
    rows.push(row);
    size += row.length;
  }
  return Buffer.from(rows.join('')).subarray(0, bytes);
}

test('blocks the reference LZ4 library writes decode to their input: edge lengths, runs, random, row-like data', () => {
  const inputs: Buffer[] = [];
  for (const length of [1, 4, 5, 12, 13, 15, 16, 17, 19, 31, 32, 33, 64, 255, 270, 271, 4096, 65_536, 65_537]) {
    inputs.push(Buffer.alloc(length, 3), randomBytes(length));
  }
  inputs.push(pgbenchLikeRows(4 * 1024 * 1024), Buffer.from('abc'.repeat(300_000)));
  for (const input of inputs) {
    const { length, output } = decode(referenceBlock(input), input.length);
    assert.equal(length, input.length, `length of a ${input.length}-byte input`);
    assert.ok(output.equals(input), `content of a ${input.length}-byte input`);
  }
});

test('blocks walnut compresses decode to their input, also at offsets of 65535', () => {
  const far = Buffer.concat([randomBytes(16), randomBytes(65_535 - 16), Buffer.alloc(0)]);
  const input = Buffer.concat([far, far.subarray(0, 4000), pgbenchLikeRows(200_000)]);
  const block = new Uint8Array(lz4CompressBound(input.length));
  const compressed = native.lz4CompressBlock(input, block);
  assert.ok(compressed > 0 && compressed < input.length);
  const { length, output } = decode(block.subarray(0, compressed), input.length);
  assert.equal(length, input.length);
  assert.ok(output.equals(input));
});

test('a linked block finds its matches in the history before it, and only there', () => {
  const history = pgbenchLikeRows(65_536);
  const next = Buffer.concat([history.subarray(1000, 9000), randomBytes(100), history.subarray(60_000, 65_000)]);
  // Compressed with the history as dictionary by the reference library: matches reach back into it.
  const framed = lz4.compressSync(next, history);
  const block = new Uint8Array(framed.buffer, framed.byteOffset + 4, framed.length - 4);
  const withHistory = decode(block, next.length, history);
  assert.equal(withHistory.length, next.length);
  assert.ok(withHistory.output.equals(next));
  // Without it, the same block reaches before the start of the output: corrupt, not a read outside the buffer.
  assert.equal(decode(block, next.length).length, -1);
});

test('corrupt, truncated or oversized blocks give -1, never bytes outside the buffers', () => {
  const input = pgbenchLikeRows(1 << 20);
  const block = referenceBlock(input);
  assert.equal(decode(block, input.length - 1).length, -1, 'output one byte too small');
  assert.equal(decode(new Uint8Array(0), 100).length, -1, 'empty block');
  assert.equal(decode(Uint8Array.of(0x50, 1), 100).length, -1, 'literal run past the end of the input');
  assert.equal(decode(Uint8Array.of(0x10, 65, 0, 0), 100).length, -1, 'offset 0');
  assert.equal(decode(Uint8Array.of(0x10, 65, 2, 0), 100).length, -1, 'offset before the output');
  for (const cut of [1, 2, 100, block.length - 1]) {
    const result = decode(block.subarray(0, cut), input.length);
    assert.ok(result.length === -1 || result.length < input.length, `cut at ${cut}`);
  }
  let rejected = 0;
  for (let round = 0; round < 3000; round++) {
    const damaged = Buffer.from(block.subarray(0, 4096));
    for (let flips = 0; flips < 3; flips++) damaged[Math.floor(Math.random() * damaged.length)] = Math.floor(Math.random() * 256);
    const result = decode(damaged, 64 * 1024);
    assert.ok(result.length <= 64 * 1024);
    if (result.length === -1) rejected++;
  }
  assert.ok(rejected > 0, 'some damaged blocks are recognised as corrupt');
  assert.throws(() => native.lz4DecompressBlock(block, Buffer.alloc(10), 11), /prefix within the destination/);
});

test('xxh32 matches @node-rs/xxhash one-shot and streamed in uneven pieces, with and without a seed', () => {
  for (const length of [0, 1, 3, 4, 15, 16, 17, 31, 32, 33, 100, 1000, 65_537]) {
    const data = randomBytes(length);
    for (const seed of [0, 1, 0x9e3779b1]) {
      const expected = xxhash.xxh32(data, seed) >>> 0;
      assert.equal(native.xxh32(data, seed), expected, `one-shot ${length} bytes, seed ${seed}`);
      const streamed = new Xxh32(seed);
      for (let at = 0; at < length; ) {
        const piece = 1 + ((at * 7 + length) % 23);
        streamed.update(data.subarray(at, at + piece));
        at += piece;
      }
      assert.equal(streamed.digest(), expected, `streamed ${length} bytes, seed ${seed}`);
    }
  }
  assert.throws(() => native.xxh32Update(new Uint8Array(47), Buffer.alloc(1)), /48-byte state/);
});

test('huge-page buffers: each its own ArrayBuffer of the size asked, writable, alive while any sibling is', () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  let buffers: Buffer[] | undefined = allocateLongLivedBuffers(3, 1536 * 1024);
  assert.equal(buffers.length, 3);
  assert.equal(new Set(buffers.map((buffer) => buffer.buffer)).size, 3);
  for (const [index, buffer] of buffers.entries()) {
    assert.equal(buffer.length, 1536 * 1024);
    buffer.fill(index + 1);
  }
  assert.ok(buffers.every((buffer, index) => buffer[0] === index + 1 && buffer[buffer.length - 1] === index + 1), 'no two buffers overlap');
  const survivor = buffers[2];
  buffers = undefined;
  gc();
  survivor.fill(9); // the mapping stays while one view of it is alive
  assert.equal(survivor[survivor.length - 1], 9);
  // Below the threshold: ordinary buffers.
  const small = allocateLongLivedBuffers(2, 4096);
  assert.equal(small.length, 2);
  assert.throws(() => native.hugePageBuffers(0, 10), /positive count/);
});

function statusKiB(field: string): number {
  const match = readFileSync('/proc/self/status', 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
  return Number(match?.[1] ?? 0);
}

test('releaseExecutablePages drops the resident pages of the executable, and the process runs on', () => {
  const before = statusKiB('RssFile');
  const released = native.releaseExecutablePages();
  const after = statusKiB('RssFile');
  assert.ok(released > 0, 'some range of the executable was released');
  assert.ok(after < before, `file-backed RSS fell (${before} -> ${after} KiB)`);
  // Code and constant data come back from the page cache as they are used.
  assert.deepEqual(JSON.parse(JSON.stringify({ a: [1, 2, 3] })), { a: [1, 2, 3] });
  assert.match(new Intl.DateTimeFormat('en', { month: 'long' }).format(new Date(2026, 10, 24)), /November/);
  assert.equal(native.xxh32(Buffer.from('walnut'), 0), xxhash.xxh32(Buffer.from('walnut'), 0) >>> 0);
});

test('limitMallocArenas accepts a count and refuses zero', () => {
  assert.equal(native.limitMallocArenas(1), true);
  assert.throws(() => native.limitMallocArenas(0), /positive count/);
});
