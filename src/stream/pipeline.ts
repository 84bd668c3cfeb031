// Runs source → filters → sink with backpressure end to end, one error failing and cleaning up every stage.

import type { Duplex, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CopyFilter, type Filter } from './filter.ts';
import { ChunkPool, chunkHandlingOf } from './chunk-pool.ts';

export interface PipelineOptions {
  /** Aborting fails the pipeline with an AbortError and destroys every stage. */
  readonly signal?: AbortSignal;
}

/**
 * The stages to run for a source that emits pooled chunks: passes through filters that forward chunks
 * unchanged, and puts a CopyFilter in front of the first stage (or the sink) that is not known to release
 * them, so every pooled chunk is given back exactly when its last reader is done with it.
 */
export function stagesWithChunkRelease(stages: Duplex[], sink: Writable, chunkSize: number): Duplex[] {
  const result: Duplex[] = [];
  let index = 0;
  for (; index < stages.length; index++) {
    const handling = chunkHandlingOf(stages[index]);
    if (handling === 'releases') break;
    if (handling !== 'forwards') {
      result.push(new CopyFilter(chunkSize));
      break;
    }
    result.push(stages[index]);
  }
  if (index === stages.length && chunkHandlingOf(sink) !== 'releases') result.push(new CopyFilter(chunkSize));
  for (; index < stages.length; index++) result.push(stages[index]);
  return result;
}

/** A source emits pooled chunks when it exposes the pool it reads into as `pool` (PooledFileReader does). */
function pooledSourcePool(source: Readable): ChunkPool | undefined {
  const pool = (source as Readable & { pool?: unknown }).pool;
  return pool instanceof ChunkPool ? pool : undefined;
}

async function runPipeline(source: Readable, filters: readonly Filter[], sink: Writable, options: PipelineOptions): Promise<void> {
  let stages: Duplex[] = filters.map((createFilter) => createFilter());
  const pool = pooledSourcePool(source);
  if (pool !== undefined) stages = stagesWithChunkRelease(stages, sink, pool.chunkSize);
  const streams: Array<Readable | Duplex | Writable> = [source, ...stages, sink];
  // stream.pipeline propagates backpressure through pipe(), and on the first error destroys every stream,
  // which closes file handles and aborts uploads; the promise rejects with that first error.
  await pipeline(streams as [Readable, ...Duplex[], Writable], { signal: options.signal });
}

/**
 * Upload direction: a local source (usually a PooledFileReader) through filters (compress, then
 * encrypt) into a storage writer. Resolves once the sink has finished (the object is complete).
 */
export function pushPipeline(source: Readable, filters: readonly Filter[], sink: Writable, options: PipelineOptions = {}): Promise<void> {
  return runPipeline(source, filters, sink, options);
}

/**
 * Download direction: a storage reader through filters (decrypt, then decompress) into a local sink
 * (a file writer, a tar extractor). Resolves once the sink has finished.
 */
export function fetchPipeline(source: Readable, filters: readonly Filter[], sink: Writable, options: PipelineOptions = {}): Promise<void> {
  return runPipeline(source, filters, sink, options);
}
