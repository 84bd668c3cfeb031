// The zstd frame walker: complete frames end on a boundary however they are split, and every cut inside a frame is
// noticed. Frames come from node:zlib (WAL-G's settings) and from the zstd CLI with the options that change the
// frame header (checksum, content size, dictionary-less, window) and the block types (raw, RLE, compressed).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants, zstdCompressSync } from 'node:zlib';
import { ZstdFrameWalker } from '../../src/compression/zstd-frames.ts';

function hasZstdCli(): boolean {
  try {
    execFileSync('zstd', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Text-like data that compresses, random data that does not (raw blocks), zeros (RLE blocks). */
function mixedInput(): Buffer {
  const words = Buffer.from('walnut archives WAL segments and base backups; ');
  const text = Buffer.alloc(300_000);
  for (let at = 0; at < text.length; at += words.length) words.copy(text, at);
  return Buffer.concat([text, randomBytes(200_000), Buffer.alloc(300_000)]);
}

function walkInPieces(frame: Buffer, piece: number): ZstdFrameWalker {
  const walker = new ZstdFrameWalker();
  for (let at = 0; at < frame.length; at += piece) assert.ok(walker.walk(frame.subarray(at, at + piece)), walker.problem);
  return walker;
}

function frames(): Map<string, Buffer> {
  const input = mixedInput();
  const made = new Map<string, Buffer>();
  made.set('node:zlib, level 3 with checksum (WAL-G)', zstdCompressSync(input, {
    params: { [constants.ZSTD_c_compressionLevel]: 3, [constants.ZSTD_c_checksumFlag]: 1 },
  }));
  made.set('node:zlib, no checksum', zstdCompressSync(input));
  made.set('node:zlib, one byte', zstdCompressSync(Buffer.from('x')));
  if (hasZstdCli()) {
    const cli = (args: string[], data: Buffer = input) => execFileSync('zstd', ['-c', '-q', ...args], { input: data, maxBuffer: 64 << 20 });
    made.set('zstd -1 --no-check', cli(['-1', '--no-check']));
    made.set('zstd -19 --content-size', cli(['-19', '--content-size']));
    made.set('zstd --no-content-size (streamed)', cli(['--no-content-size']));
    made.set('zstd of empty input', cli([], Buffer.alloc(0)));
  }
  return made;
}

test('complete frames end on a frame boundary whatever the pieces they arrive in', () => {
  for (const [name, frame] of frames()) {
    for (const piece of [1, 2, 3, 5, 4096, 131_075, frame.length]) {
      assert.ok(walkInPieces(frame, piece).atFrameBoundary, `${name}, pieces of ${piece}`);
    }
  }
});

test('concatenated frames and skippable frames end on a boundary too', () => {
  const one = zstdCompressSync(Buffer.from('first'));
  const two = zstdCompressSync(Buffer.alloc(100_000, 7));
  const skippable = Buffer.alloc(8 + 5);
  skippable.writeUInt32LE(0x184d2a53, 0);
  skippable.writeUInt32LE(5, 4);
  const emptySkippable = Buffer.alloc(8);
  emptySkippable.writeUInt32LE(0x184d2a5f, 0);
  for (const stream of [Buffer.concat([one, two]), Buffer.concat([skippable, one, emptySkippable]), Buffer.concat([two, skippable])]) {
    assert.ok(walkInPieces(stream, 1).atFrameBoundary);
    assert.ok(walkInPieces(stream, stream.length).atFrameBoundary);
  }
  const walker = walkInPieces(skippable.subarray(0, 10), 1);
  assert.equal(walker.atFrameBoundary, false);
  assert.match(walker.truncation(), /inside a skippable frame after 10 bytes$/);
});

test('a frame cut at any byte is not on a boundary, and the message says where it stopped', () => {
  const frame = frames().get('node:zlib, level 3 with checksum (WAL-G)')!;
  const cuts = new Set<number>();
  for (let cut = 1; cut < 64; cut++) cuts.add(cut);
  for (let cut = frame.length - 64; cut < frame.length; cut++) cuts.add(cut);
  for (let i = 0; i < 300; i++) cuts.add(1 + Math.floor(Math.random() * (frame.length - 1)));
  const places = new Set<string>();
  for (const cut of cuts) {
    const walker = walkInPieces(frame.subarray(0, cut), 7);
    assert.equal(walker.atFrameBoundary, false, `cut at ${cut} of ${frame.length}`);
    const message = walker.truncation();
    assert.match(message, new RegExp(`^unexpected EOF: the data ends inside a .+ after ${cut} bytes$`));
    places.add(message.replace(/ after \d+ bytes$/, ''));
  }
  // The cuts fell in each part of the frame.
  for (const part of ['frame magic number', 'frame header', 'block header', 'block', 'content checksum']) {
    assert.ok(places.has(`unexpected EOF: the data ends inside a ${part}`), `no cut inside a ${part}: ${[...places].join('; ')}`);
  }
});

test('bytes that are not zstd are a problem, named with their place', () => {
  const walker = new ZstdFrameWalker();
  assert.equal(walker.walk(Buffer.from('not zstd at all')), false);
  assert.equal(walker.problem, 'unknown frame magic 0x20746f6e at byte 0');
  assert.equal(walker.atFrameBoundary, false);
  assert.equal(walker.walk(Buffer.from('more')), false, 'a walker that found a problem stays stopped');

  const reserved = Buffer.from(zstdCompressSync(Buffer.from('x')));
  reserved[4]! |= 0x08; // frame header descriptor: the reserved bit
  const second = new ZstdFrameWalker();
  assert.equal(second.walk(reserved), false);
  assert.equal(second.problem, 'a frame header sets the reserved bit');

  const empty = new ZstdFrameWalker();
  assert.ok(empty.atFrameBoundary, 'no bytes at all is no frame cut short');
});
