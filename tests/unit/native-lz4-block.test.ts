// walnut's native LZ4 block compressor (src/native/c/walnut-native.c): every block it writes decodes, with
// lz4-napi's independent decoder, to the input, across the format's edge cases; a block that does not fit gives 0.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import lz4 from 'lz4-napi';
import { walnutNative } from '../../src/native/walnut-native.ts';
import { lz4CompressBound } from '../../src/compression/lz4-frame.ts';

function compress(input: Buffer): Buffer | undefined {
  const output = Buffer.alloc(lz4CompressBound(input.length) + 4);
  const length = walnutNative().lz4CompressBlock(new Uint8Array(input.buffer, input.byteOffset, input.length), new Uint8Array(output.buffer, output.byteOffset + 4, output.length - 4));
  if (length === 0) return undefined;
  output.writeUInt32LE(input.length, 0);
  return output.subarray(0, 4 + length);
}

function roundTrip(input: Buffer, label: string): number {
  const block = compress(input);
  assert.ok(block, `${label}: fits in the compress bound`);
  const decoded = lz4.uncompressSync(new Uint8Array(block.buffer, block.byteOffset, block.length));
  assert.ok(Buffer.from(decoded).equals(input), `${label}: decodes to the input`);
  return block.length - 4;
}

test('edge lengths and patterns round-trip through an independent decoder', () => {
  for (const length of [1, 4, 5, 11, 12, 13, 14, 15, 16, 19, 20, 64, 270, 271, 1000]) {
    roundTrip(Buffer.alloc(length, 7), `run of ${length}`);
    roundTrip(randomBytes(length), `random ${length}`);
  }
  // Literal and match lengths needing several 255 continuation bytes, matches at the largest offset and beyond it.
  roundTrip(Buffer.alloc(4 * 1024 * 1024, 0), '4 MiB of zeros');
  const farRepeat = Buffer.concat([randomBytes(65535), randomBytes(64), randomBytes(70000)]);
  farRepeat.copy(farRepeat, 65535 + 64 + 1000, 0, 2000);
  roundTrip(farRepeat, 'repeat at offset 65535 and beyond');
  const text = Buffer.from('walnut streams WAL segments through a bounded pool of chunks; '.repeat(20000));
  const size = roundTrip(text, 'text');
  assert.ok(size < text.length / 20, `repetitive text compresses (${size} of ${text.length})`);
});

test('mixed data: random segments of runs and noise round-trip', () => {
  for (let round = 0; round < 100; round++) {
    const parts: Buffer[] = [];
    let total = 0;
    while (total < 100_000) {
      const length = 1 + Math.floor(Math.random() * 3000);
      parts.push(Math.random() < 0.5 ? randomBytes(length) : Buffer.alloc(length, Math.floor(Math.random() * 4)));
      total += length;
    }
    roundTrip(Buffer.concat(parts), `round ${round}`);
  }
});

test('incompressible data is not made to fit a buffer smaller than the input: 0, and nothing is written past the end', () => {
  const input = randomBytes(100_000);
  const output = Buffer.alloc(100_000 + 16, 0xaa);
  const length = walnutNative().lz4CompressBlock(new Uint8Array(input.buffer, input.byteOffset, input.length), new Uint8Array(output.buffer, output.byteOffset, 100_000));
  assert.equal(length, 0);
  assert.ok(output.subarray(100_000).every((byte) => byte === 0xaa));
});

test('wrong arguments are a clear error', () => {
  assert.throws(() => walnutNative().lz4CompressBlock('text' as unknown as Uint8Array, new Uint8Array(10)), /two Uint8Arrays expected/);
  assert.throws(() => walnutNative().pageChecksum(new Uint8Array(100), 0), /multiple of 128 bytes/);
});
