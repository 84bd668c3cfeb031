// The chunk pipeline: the bounded pool, the pooled file reader, chunk release, counting, backpressure, errors and cleanup.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Transform, Writable, type TransformCallback } from 'node:stream';
import { ChunkPool, isPooledChunk, markChunkHandling, releaseChunk } from '../../src/stream/chunk-pool.ts';
import { PooledFileReader } from '../../src/stream/file-source.ts';
import { CopyFilter, CountingFilter } from '../../src/stream/filter.ts';
import { fetchPipeline, pushPipeline, stagesWithChunkRelease } from '../../src/stream/pipeline.ts';
import { DEFAULT_CHUNK_SIZE, BUFFER_GARBAGE_LIMIT, pipelineMemoryBound, STAGE_BUFFERED_CHUNKS } from '../../src/stream/memory-budget.ts';
import { PacedTransform } from '../../src/stream/paced-transform.ts';
import { codecForMethod } from '../../src/compression/registry.ts';

function withTempDir(run: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'walnut-stream-'));
    try {
      await run(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

function collector(): { sink: Writable; bytes: () => Buffer } {
  const parts: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      parts.push(Buffer.from(chunk)); // a copy: the sink must not keep pooled buffers
      callback();
    },
  });
  return { sink, bytes: () => Buffer.concat(parts) };
}

test('ChunkPool lends at most chunkCount chunks and makes acquire wait for a release', async () => {
  const pool = new ChunkPool(2, 1024);
  const first = await pool.acquire();
  const second = await pool.acquire();
  assert.equal(pool.available, 0);
  assert.equal(pool.tryAcquire(), undefined);
  let third: Buffer | undefined;
  const waiting = pool.acquire().then((chunk) => (third = chunk));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(third, undefined, 'acquire waits while every chunk is lent');
  assert.ok(releaseChunk(first.subarray(10, 20)), 'a view of a pooled chunk releases the whole chunk');
  await waiting;
  assert.equal(third, first);
  assert.equal(second.length, 1024);
  assert.equal(pool.totalBytes, 2048);
});

test('ChunkPool refuses double and foreign releases and fails waiters when closed', async () => {
  const pool = new ChunkPool(1, 16);
  const chunk = await pool.acquire();
  pool.release(chunk);
  assert.throws(() => pool.release(chunk), /released a pooled chunk twice/);
  assert.throws(() => pool.release(Buffer.alloc(16)), /does not belong to this chunk pool/);
  assert.equal(releaseChunk(Buffer.alloc(16)), false, 'releaseChunk ignores buffers from nowhere');
  await pool.acquire();
  const waiter = pool.acquire();
  pool.close(new Error('pipeline failed'));
  await assert.rejects(waiter, /pipeline failed/);
  assert.throws(() => new ChunkPool(0, 16), /positive integer/);
});

test('a retired pool hands its chunks to the next pool of its shape once every chunk is back, and lends nothing more', async () => {
  const first = new ChunkPool(3, 4096);
  const buffers = new Set<ArrayBufferLike>();
  const lent = [await first.acquire(), await first.acquire(), await first.acquire()];
  for (const chunk of lent) buffers.add(chunk.buffer);
  const waiter = first.acquire();
  first.retire();
  await assert.rejects(waiter, /retired/);
  assert.throws(() => first.tryAcquire(), /retired/);
  releaseChunk(lent[0]);
  releaseChunk(lent[1]);
  const early = new ChunkPool(3, 4096);
  assert.ok(!buffers.has((await early.acquire()).buffer), 'while a chunk is still out, a new pool gets fresh buffers');
  releaseChunk(lent[2]);
  assert.equal(isPooledChunk(lent[2]), false, 'handed over: no longer the retired pool\'s');
  assert.equal(releaseChunk(lent[2]), false, 'a stray release afterwards changes nothing');
  const other = new ChunkPool(2, 4096);
  assert.ok(!buffers.has((await other.acquire()).buffer), 'another shape does not take them');
  const next = new ChunkPool(3, 4096);
  const reused = [await next.acquire(), await next.acquire(), await next.acquire()];
  assert.deepEqual(new Set(reused.map((chunk) => chunk.buffer)), buffers, 'the next pool of the shape reuses all three');
  assert.ok(reused.every((chunk) => isPooledChunk(chunk)));
  reused.forEach((chunk) => releaseChunk(chunk));
  assert.equal(next.available, 3, 'and they come back to it');
  const after = new ChunkPool(3, 4096);
  assert.ok(!buffers.has((await after.acquire()).buffer), 'one pool at a time owns a set');
});

test('a pooled file reader that owns its pool leaves its chunks to the next reader once the pipeline is done', withTempDir(async (dir) => {
  const file = join(dir, 'segment');
  const data = randomBytes(3 * 256 * 1024 + 1000);
  writeFileSync(file, data);
  const seen: Array<Set<ArrayBufferLike>> = [];
  for (let round = 0; round < 2; round++) {
    const reader = new PooledFileReader(file, { chunkSize: 256 * 1024 });
    const buffers = new Set<ArrayBufferLike>();
    const { sink, bytes } = collector();
    const spy = markChunkHandling(new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        buffers.add(chunk.buffer);
        callback(null, Buffer.from(chunk));
        releaseChunk(chunk);
      },
    }), 'releases');
    await pushPipeline(reader, [() => spy], sink);
    assert.ok(bytes().equals(data), `round ${round} reads the file`);
    seen.push(buffers);
  }
  assert.ok([...seen[1]].every((buffer) => seen[0].has(buffer)), 'the second reader read into the first one\'s chunks');
}));

test('the memory bound is pool + 4 chunks and the working set per stage + the uncollected-garbage limit', () => {
  const bound = pipelineMemoryBound({
    chunkSize: DEFAULT_CHUNK_SIZE,
    poolChunks: 4,
    stages: [{ name: 'lz4 compress', workingSetBytes: 8 << 20 }, { name: 'encrypt', workingSetBytes: 0 }],
  });
  assert.equal(STAGE_BUFFERED_CHUNKS, 4);
  assert.equal(bound, (4 << 20) + 2 * (4 << 20) + (8 << 20) + BUFFER_GARBAGE_LIMIT);
  assert.equal(pipelineMemoryBound({ chunkSize: 1000, poolChunks: 0, stages: [] }), BUFFER_GARBAGE_LIMIT);
});

test('a pooled file reader through a codec round-trips a file and every chunk returns to the pool', withTempDir(async (dir) => {
  const file = join(dir, '000000010000000000000001');
  const content = randomBytes(5 * 1024 * 1024 + 123);
  writeFileSync(file, content);
  const lz4 = codecForMethod('lz4');
  const compressed = collector();
  const reader = new PooledFileReader(file, { pool: new ChunkPool(3, 256 * 1024) });
  const counter = new CountingFilter();
  await pushPipeline(reader, [() => counter, lz4.compressor], compressed.sink);
  assert.equal(reader.bytesRead, content.length);
  assert.equal(counter.bytes, content.length, 'the counter before the codec saw the raw bytes');
  assert.equal(reader.pool.available, 3, 'every chunk was released by the codec');
  const restored = collector();
  const { Readable } = await import('node:stream');
  await fetchPipeline(Readable.from([compressed.bytes()]), [lz4.decompressor], restored.sink);
  assert.deepEqual(restored.bytes(), content);
}));

test('one pool serves several readers in turn and is still whole afterwards', withTempDir(async (dir) => {
  const pool = new ChunkPool(2, 32 * 1024);
  for (const [name, size] of [['a', 100_000], ['b', 5], ['c', 0]] as const) {
    const file = join(dir, name);
    const content = randomBytes(size);
    writeFileSync(file, content);
    const out = collector();
    await pushPipeline(new PooledFileReader(file, { pool }), [codecForMethod('zstd').compressor, codecForMethod('zstd').decompressor], out.sink);
    assert.deepEqual(out.bytes(), content, name);
    assert.equal(pool.available, 2, `${name}: every chunk came back`);
  }
}));

test('pushPipeline copies pooled chunks before a stage that may keep them, and not before one that releases them', () => {
  const keeper = new PassThrough();
  const releasing = codecForMethod('zstd').compressor();
  const forwarding = new CountingFilter();
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  const beforeKeeper = stagesWithChunkRelease([forwarding, keeper], sink, 1024);
  assert.equal(beforeKeeper.length, 3);
  assert.ok(beforeKeeper[1] instanceof CopyFilter, 'the copy goes after the counter, in front of the unknown stage');
  const beforeCodec = stagesWithChunkRelease([forwarding, releasing], sink, 1024);
  assert.deepEqual(beforeCodec, [forwarding, releasing]);
  const intoSink = stagesWithChunkRelease([forwarding], sink, 1024);
  assert.ok(intoSink[1] instanceof CopyFilter, 'a sink that keeps buffers gets copies');
  assert.deepEqual(stagesWithChunkRelease([], markChunkHandling(sink, 'releases'), 1024), []);
});

test('a sink that keeps every buffer still sees the right bytes: pooled chunks are never refilled under it', { timeout: 20_000 }, withTempDir(async (dir) => {
  const file = join(dir, 'data');
  const content = randomBytes(2 * 1024 * 1024 + 5);
  writeFileSync(file, content);
  const kept: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      kept.push(chunk); // no copy: exactly what an upload SDK does while it gathers a part
      callback();
    },
  });
  const reader = new PooledFileReader(file, { pool: new ChunkPool(2, 64 * 1024) });
  await pushPipeline(reader, [() => new CountingFilter()], sink);
  assert.deepEqual(Buffer.concat(kept), content);
  assert.ok(kept.every((chunk) => !isPooledChunk(chunk)));
}));

test('the reader never has more chunks in flight than its pool holds', { timeout: 20_000 }, withTempDir(async (dir) => {
  const file = join(dir, 'data');
  writeFileSync(file, randomBytes(4 * 1024 * 1024));
  const pool = new ChunkPool(3, 64 * 1024);
  let maxLent = 0;
  const slowCodec = () =>
    markChunkHandling(
      new Transform({
        highWaterMark: 64 * 1024,
        transform(chunk: Buffer, _encoding, callback: TransformCallback) {
          maxLent = Math.max(maxLent, pool.chunkCount - pool.available);
          const copy = Buffer.from(chunk);
          releaseChunk(chunk);
          setTimeout(() => callback(null, copy), 1);
        },
      }),
      'releases',
    );
  await pushPipeline(new PooledFileReader(file, { pool }), [slowCodec], new Writable({ write: (_c, _e, cb) => cb() }));
  assert.ok(maxLent <= 3 && maxLent >= 2, `at most 3 chunks lent, saw ${maxLent}`);
}));

test('a failing stage fails the pipeline with its error and destroys the reader and its file handle', withTempDir(async (dir) => {
  const file = join(dir, 'data');
  writeFileSync(file, randomBytes(3 * 1024 * 1024));
  const reader = new PooledFileReader(file, { chunkSize: 64 * 1024 });
  let seen = 0;
  const failing = () =>
    new Transform({
      transform(chunk: Buffer, _encoding, callback: TransformCallback) {
        seen += chunk.length;
        callback(seen > 200_000 ? new Error('disk on fire') : null, Buffer.from(chunk));
      },
    });
  await assert.rejects(pushPipeline(reader, [failing], new Writable({ write: (_c, _e, cb) => cb() })), /disk on fire/);
  assert.ok(reader.destroyed);
  await assert.rejects(reader.pool.acquire(), 'the pool of a failed reader is closed');
}));

test('a missing source file fails the pipeline with ENOENT naming the file', async () => {
  await assert.rejects(
    pushPipeline(new PooledFileReader('/nonexistent/walnut/0000'), [], new Writable({ write: (_c, _e, cb) => cb() })),
    /ENOENT.*\/nonexistent\/walnut\/0000/,
  );
});

test('aborting a pipeline stops it with an AbortError', withTempDir(async (dir) => {
  const file = join(dir, 'data');
  writeFileSync(file, randomBytes(1024 * 1024));
  const controller = new AbortController();
  const never = new Writable({
    highWaterMark: 1,
    write(_chunk, _encoding, callback) {
      controller.abort();
      setTimeout(callback, 1000).unref();
    },
  });
  await assert.rejects(pushPipeline(new PooledFileReader(file), [codecForMethod('lz4').compressor], never, { signal: controller.signal }), {
    name: 'AbortError',
  });
}));

test('CountingFilter counts bytes and chunks and times them', async () => {
  const sizes: number[] = [];
  const counter = new CountingFilter((size) => sizes.push(size));
  const { Readable } = await import('node:stream');
  await fetchPipeline(Readable.from([Buffer.alloc(10), Buffer.alloc(5)]), [() => counter], new Writable({ write: (_c, _e, cb) => cb() }));
  assert.equal(counter.bytes, 15);
  assert.equal(counter.chunks, 2);
  assert.deepEqual(sizes, [10, 5]);
  assert.ok(counter.endedAt !== undefined && counter.elapsedMs >= 0);
});

test('a PacedTransform stops mid-chunk when its reader is full and resumes where it stopped', async () => {
  // Emits one 1 MiB buffer per input byte: a 64-byte write would otherwise push 64 MiB at once.
  class Expander extends PacedTransform {
    protected consume(input: Buffer, offset: number): number {
      while (offset < input.length) {
        const more = this.push(Buffer.alloc(1024 * 1024, input[offset]));
        offset++;
        if (!more) return offset;
      }
      return offset;
    }
    protected finish(): void {
      this.push(Buffer.from('end'));
    }
  }
  const expander = new Expander();
  expander.end(Buffer.from(Array.from({ length: 64 }, (_, i) => i)));
  let maxQueued = 0;
  let total = 0;
  let last: Buffer = Buffer.alloc(0);
  for await (const chunk of expander) {
    maxQueued = Math.max(maxQueued, expander.readableLength + (chunk as Buffer).length);
    total += (chunk as Buffer).length;
    last = chunk as Buffer;
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.equal(total, 64 * 1024 * 1024 + 3);
  assert.equal(last.subarray(-4).toString('latin1'), '?end', 'the last input byte (63) expanded, then what finish() pushed');
  assert.ok(maxQueued <= 2 * 1024 * 1024 + 3, `queued ${maxQueued} bytes`);
});
