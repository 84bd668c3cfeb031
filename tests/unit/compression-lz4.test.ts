// The LZ4 frame codec: WAL-G's frame layout, interop with the lz4 CLI both ways, WAL-G-written objects, corruption.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createReadStream, readdirSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import xxhash from '@node-rs/xxhash';
import { lz4Codec } from '../../src/compression/lz4.ts';
import { Lz4FrameEncoder } from '../../src/compression/lz4-encoder.ts';
import { WalgError } from '../../src/errors.ts';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../../compat-fixtures');
const hasLz4Cli = spawnSync('lz4', ['--version']).status === 0;
const noLz4Cli = hasLz4Cli ? false : 'the lz4 CLI is not installed (apt-get install lz4)';

/** Writes `input` in pieces of the given sizes (cycled), which exercises every split of fields and blocks. */
function pieces(input: Buffer, sizes: number[]): Buffer[] {
  const out: Buffer[] = [];
  for (let offset = 0, i = 0; offset < input.length; i++) {
    const size = sizes[i % sizes.length];
    out.push(input.subarray(offset, offset + size));
    offset += size;
  }
  return out;
}

async function run(transform: NodeJS.ReadWriteStream, input: Buffer[] | Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  const source = Array.isArray(input) ? Readable.from(input, { objectMode: false }) : input;
  await pipeline(source, transform, new Writable({
    write(chunk: Buffer, _encoding, callback) {
      parts.push(Buffer.from(chunk));
      callback();
    },
  }));
  return Buffer.concat(parts);
}

const compress = (input: Buffer, sizes = [1 << 20]) => run(lz4Codec.compressor(), pieces(input, sizes));
const decompress = (input: Buffer, sizes = [64 * 1024]) => run(lz4Codec.decompressor(), pieces(input, sizes));

function sampleData(length: number): Buffer {
  // Half text-like (compressible), half random, in 100 KiB stripes.
  const data = Buffer.alloc(length);
  for (let offset = 0; offset < length; offset += 200 * 1024) {
    data.fill(`row ${offset} of some table; `, offset, Math.min(length, offset + 100 * 1024));
    if (offset + 100 * 1024 < length) randomBytes(Math.min(100 * 1024, length - offset - 100 * 1024)).copy(data, offset + 100 * 1024);
  }
  return data;
}

test('lz4 frames start with WAL-G\'s header but for the block size: FLG 0x64, BD 0x60 (1 MiB), HC 0x85', async () => {
  const frame = await compress(Buffer.from('hello'));
  assert.equal(frame.subarray(0, 7).toString('hex'), '04224d18646085');
  const walgWritten = readFileSync(join(FIXTURES, 'pg15-lz4-delta/storage/wal_005/000000010000000000000001.lz4'));
  assert.equal(walgWritten.subarray(0, 7).toString('hex'), '04224d186470b9', 'WAL-G writes 4 MiB blocks (BD 0x70)');
  assert.deepEqual(frame.subarray(0, 5), walgWritten.subarray(0, 5), 'same magic and flags');
  const { Lz4FrameEncoder } = await import('../../src/compression/lz4-encoder.ts');
  const fourMiB = await new Promise<Buffer>((resolve, reject) => {
    const parts: Buffer[] = [];
    const encoder = new Lz4FrameEncoder(4 * 1024 * 1024);
    encoder.on('data', (part: Buffer) => parts.push(Buffer.from(part)));
    encoder.on('end', () => resolve(Buffer.concat(parts)));
    encoder.on('error', reject);
    encoder.end(Buffer.from('hello'));
  });
  assert.deepEqual(fourMiB.subarray(0, 7), walgWritten.subarray(0, 7), 'asked for 4 MiB blocks, the header is WAL-G\'s byte for byte');
});

test('lz4 frame of empty input is header, end mark and the xxh32 of nothing, like pierrec writes', async () => {
  const frame = await compress(Buffer.alloc(0));
  assert.equal(frame.toString('hex'), '04224d18646085' + '00000000' + '055dcc02');
  assert.deepEqual(await decompress(frame), Buffer.alloc(0));
});

test('lz4 stores a block raw (high bit set) when it does not shrink, and compresses otherwise', async () => {
  const random = randomBytes(100_000);
  const frame = await compress(random);
  const sizeField = frame.readUInt32LE(7);
  assert.equal(sizeField, (0x80000000 | random.length) >>> 0);
  assert.deepEqual(frame.subarray(11, 11 + random.length), random);
  const compressible = Buffer.alloc(100_000, 'abcd');
  const packed = await compress(compressible);
  assert.ok(packed.readUInt32LE(7) < 0x80000000 && packed.length < 2000);
});

test('lz4 splits input into 1 MiB blocks and ends with the content checksum', async () => {
  const input = sampleData(9 * 1024 * 1024 + 5);
  const frame = await compress(input, [1_000_003, 7, 65_536]);
  let offset = 7;
  const decodedSizes: number[] = [];
  for (;;) {
    const field = frame.readUInt32LE(offset);
    offset += 4;
    if (field === 0) break;
    const length = field & 0x7fffffff;
    decodedSizes.push(field & 0x80000000 ? length : -1);
    offset += length;
  }
  assert.equal(decodedSizes.length, 10, 'nine full 1 MiB blocks and one of 5 bytes');
  assert.equal(frame.readUInt32LE(offset), xxhash.xxh32(input, 0) >>> 0);
  assert.equal(offset + 4, frame.length);
});

test('lz4 round-trips empty, one byte, random, compressible and 9 MiB inputs split into odd writes', async () => {
  const inputs = [Buffer.alloc(0), Buffer.from([42]), randomBytes(300_000), Buffer.alloc(5_000_000, 'walnut '), sampleData(9 * 1024 * 1024 + 17)];
  for (const input of inputs) {
    const frame = await compress(input, [1, 4095, 1_048_577, 3]);
    assert.deepEqual(await decompress(frame, [1, 2, 3, 5, 8, 13, 65_537]), input, `length ${input.length}`);
  }
});

test('lz4 output decodes with the lz4 CLI', { skip: noLz4Cli }, async () => {
  for (const input of [Buffer.alloc(0), randomBytes(70_000), sampleData(9 * 1024 * 1024)]) {
    const frame = await compress(input);
    const decoded = execFileSync('lz4', ['-d', '-c'], { input: frame, maxBuffer: 64 << 20 });
    assert.deepEqual(decoded, input);
  }
});

test('lz4 decodes every frame variant the lz4 CLI makes: block sizes, linked blocks, checksums, content size, legacy', { skip: noLz4Cli }, async () => {
  const input = sampleData(6 * 1024 * 1024 + 333);
  const variants = [
    ['-B4'], ['-B5'], ['-B6'], ['-B7'], ['-B4', '-BD'], ['-B5', '-BD'], ['-B7', '-BD'], ['-B4', '-BX'], ['-B6', '-BD', '-BX'],
    ['--content-size'], ['-B5', '--content-size', '-BD'], ['--no-frame-crc'], ['-9', '-BD', '-B4'], ['-l'],
  ];
  for (const flags of variants) {
    const frame = execFileSync('lz4', ['-c', '-q', ...flags], { input, maxBuffer: 64 << 20 });
    assert.deepEqual(await decompress(frame, [77_777]), input, `lz4 ${flags.join(' ')}`);
  }
});

test('lz4 decodes concatenated frames and skips skippable frames', async () => {
  const first = await compress(Buffer.from('first frame, '));
  const second = await compress(Buffer.from('second frame'));
  const skippable = Buffer.alloc(8 + 5);
  skippable.writeUInt32LE(0x184d2a53, 0);
  skippable.writeUInt32LE(5, 4);
  const joined = Buffer.concat([first, skippable, second]);
  assert.equal((await decompress(joined, [3])).toString(), 'first frame, second frame');
});

test('lz4 decodes every WAL-G-written object of the pg15 fixture: WAL segments with a valid page magic', async () => {
  const folder = join(FIXTURES, 'pg15-lz4-delta/storage/wal_005');
  const files = readdirSync(folder).filter((name) => name.endsWith('.lz4'));
  assert.ok(files.length >= 7);
  for (const name of files) {
    const decoded = await run(lz4Codec.decompressor(), createReadStream(join(folder, name)));
    if (name.includes('.backup')) {
      assert.match(decoded.toString(), /^START WAL LOCATION/, name);
      continue;
    }
    assert.equal(decoded.length, 16 * 1024 * 1024, name);
    assert.equal(decoded.readUInt16LE(0), 0xd110, `${name}: PostgreSQL 15 XLOG_PAGE_MAGIC`);
  }
});

test('lz4 decodes the fixture tar partitions into tar archives', async () => {
  const folder = join(FIXTURES, 'pg15-lz4-delta/storage/basebackups_005');
  const backup = readdirSync(folder).find((name) => !name.endsWith('.json')) as string;
  const parts = join(folder, backup, 'tar_partitions');
  for (const name of readdirSync(parts)) {
    const decoded = await run(lz4Codec.decompressor(), createReadStream(join(parts, name)));
    assert.equal(decoded.subarray(257, 262).toString(), 'ustar', name);
  }
});

test('lz4 reports a truncated frame instead of hanging', async () => {
  const frame = await compress(sampleData(2_000_000));
  for (const cut of [3, 6, 9, 500, frame.length - 5, frame.length - 1]) {
    await assert.rejects(decompress(frame.subarray(0, cut)), (error: Error) => {
      assert.ok(error instanceof WalgError);
      assert.match(error.message, /^lz4: truncated frame/);
      return true;
    }, `cut at ${cut}`);
  }
});

test('lz4 reports a flipped byte as a checksum or block error', async () => {
  const input = Buffer.alloc(1_000_000, 'some very compressible text ');
  const frame = await compress(input);
  const inData = Buffer.from(frame);
  inData[40] ^= 0x01;
  await assert.rejects(decompress(inData), { name: 'WalgError', message: /^lz4: (content checksum mismatch|corrupt block)/ });
  const inTrailer = Buffer.from(frame);
  inTrailer[frame.length - 2] ^= 0x80;
  await assert.rejects(decompress(inTrailer), { name: 'WalgError', message: 'lz4: content checksum mismatch (the object is corrupt)' });
  const inHeader = Buffer.from(frame);
  inHeader[5] ^= 0x10;
  await assert.rejects(decompress(inHeader), { name: 'WalgError', message: /^lz4: / });
  await assert.rejects(decompress(Buffer.from('not lz4 at all')), { name: 'WalgError', message: /^lz4: not an LZ4 frame: bad magic number 0x20746f6e at byte 0$/ });
});

test('lz4 decoder honours backpressure within one written chunk (a frame of zeros is 255:1)', async () => {
  const zeros = Buffer.alloc(64 * 1024 * 1024);
  const frame = await compress(zeros);
  assert.ok(frame.length < 300_000);
  const decoder = lz4Codec.decompressor();
  decoder.end(frame); // the whole frame in one write
  let maxBuffered = 0;
  let total = 0;
  for await (const chunk of decoder) {
    maxBuffered = Math.max(maxBuffered, decoder.readableLength + (chunk as Buffer).length);
    total += (chunk as Buffer).length;
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.equal(total, zeros.length);
  assert.ok(maxBuffered <= 2 * 4 * 1024 * 1024, `buffered ${maxBuffered} bytes at once`);
});

test('lz4 encoder rejects block sizes the frame format cannot express', () => {
  assert.throws(() => new Lz4FrameEncoder(3 * 1024 * 1024), /block size must be 64 KiB, 256 KiB, 1 MiB or 4 MiB/);
});
