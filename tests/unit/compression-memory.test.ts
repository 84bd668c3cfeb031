// Peak memory of 256 MiB streamed through each codec (compress, then decompress) stays within the stated pipeline bound.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { COMPRESSION_METHODS } from '../../src/compression/registry.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const MiB = 1024 * 1024;
const STREAMED_MIB = 256;
/** Fixed cost of a process under test on top of what the bound counts: allocator slack, lazily compiled code. */
const SLACK = 8 * MiB;

/**
 * The child: a pooled, loop-turning source of 1 MiB chunks (a quarter random, the rest text-like) →
 * compressor → counter → decompressor → a sink that drops bytes, all through pushPipeline. It reports
 * its RSS just before streaming, its peak RSS (VmHWM) after, and the bound the pipeline claims.
 */
const child = `
import { codecForMethod } from ${JSON.stringify(join(root, 'src/compression/registry.ts'))};
import { ChunkPool } from ${JSON.stringify(join(root, 'src/stream/chunk-pool.ts'))};
import { CountingFilter } from ${JSON.stringify(join(root, 'src/stream/filter.ts'))};
import { pushPipeline } from ${JSON.stringify(join(root, 'src/stream/pipeline.ts'))};
import { pipelineMemoryBound, DEFAULT_CHUNK_SIZE } from ${JSON.stringify(join(root, 'src/stream/memory-budget.ts'))};
import { Readable, Writable } from 'node:stream';
import { readFileSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
const [method, totalMiB] = process.argv.slice(1);
const codec = codecForMethod(method);
const total = Number(totalMiB) * 1024 * 1024;
const material = Buffer.alloc(8 * 1024 * 1024);
for (let i = 0; i < material.length; i += 4096) {
  if ((i >> 12) % 4 === 0) randomFillSync(material, i, 4096); else material.fill('tuple ' + i + ' ', i, i + 4096);
}
const pool = new ChunkPool(4, DEFAULT_CHUNK_SIZE);
let produced = 0;
const source = new Readable({
  highWaterMark: DEFAULT_CHUNK_SIZE,
  read() {
    if (produced >= total) { this.push(null); return; }
    // setImmediate stands for the file read a real source waits on.
    pool.acquire().then((chunk) => setImmediate(() => {
      const at = (produced * 7) % (material.length - chunk.length);
      material.copy(chunk, 0, at, at + chunk.length);
      produced += chunk.length;
      this.push(chunk);
    }));
  },
});
source.pool = pool;
const counter = new CountingFilter();
let outBytes = 0;
const sink = new Writable({ highWaterMark: DEFAULT_CHUNK_SIZE, write(chunk, _e, cb) { outBytes += chunk.length; cb(); } });
const bound = pipelineMemoryBound({ chunkSize: DEFAULT_CHUNK_SIZE, poolChunks: 4, stages: [
  { name: method + ' compress', workingSetBytes: codec.compressorWorkingSetBytes },
  { name: 'count', workingSetBytes: 0 },
  { name: method + ' decompress', workingSetBytes: codec.decompressorWorkingSetBytes },
] });
const rssBefore = Number(readFileSync('/proc/self/status', 'utf8').match(/VmRSS:\\s+(\\d+)/)[1]) * 1024;
await pushPipeline(source, [codec.compressor, () => counter, codec.decompressor], sink);
const peak = Number(readFileSync('/proc/self/status', 'utf8').match(/VmHWM:\\s+(\\d+)/)[1]) * 1024;
console.log(JSON.stringify({ outBytes, storedBytes: counter.bytes, rssBefore, peak, bound }));
`;

interface ChildReport {
  outBytes: number;
  storedBytes: number;
  rssBefore: number;
  peak: number;
  bound: number;
}

for (const method of COMPRESSION_METHODS) {
  test(`streaming ${STREAMED_MIB} MiB through ${method} and back stays within the pipeline's stated memory bound`, { timeout: 120_000 }, () => {
    // The binary's GC and heap flags (scripts/build.mjs bakedExecArgv), less --jitless: type stripping cannot run
    // under it. Without --single-threaded-gc and --expose-gc the child collected later than the binary does, and the
    // none pipeline once peaked 0.7 MiB over its bound under full-suite load (session 6).
    const flags = ['--single-threaded-gc', '--max-old-space-size=128', '--max-semi-space-size=2', '--v8-pool-size=1', '--expose-gc'];
    const result = spawnSync(process.execPath, [...flags, '--input-type=module', '-e', child, method, String(STREAMED_MIB)], {
      encoding: 'utf8',
      cwd: root,
    });
    assert.equal(result.status, 0, result.stderr);
    const report = JSON.parse(result.stdout.trim().split('\n').pop() as string) as ChildReport;
    assert.equal(report.outBytes, STREAMED_MIB * MiB);
    const growth = report.peak - report.rssBefore;
    assert.ok(
      growth <= report.bound + SLACK,
      `${method}: peak RSS grew by ${(growth / MiB).toFixed(1)} MiB while streaming; the bound is ${(report.bound / MiB).toFixed(1)} MiB + ${SLACK / MiB} MiB slack`,
    );
    // And the absolute figure the project states: a codec pipeline fits in 120 MiB with Node's own ~45 MiB.
    assert.ok(45 * MiB + growth <= 120 * MiB, `${method}: 45 MiB + ${(growth / MiB).toFixed(1)} MiB exceeds 120 MiB`);
  });
}
