// The one place that states how much memory a byte pipeline may hold, and the sizes that make it so.

/**
 * Chunk size of the pipeline: what a pooled reader reads per call and the high-water mark of every stage.
 * 1 MiB, measured (2-core VM, 128 MiB of real WAL from a file, CPU time, --jitless like the binary):
 * lz4 153 ms at 1 MiB against 222 ms at 256 KiB and 274 ms at 64 KiB; zstd 326 vs 329 vs 448 ms;
 * 4 MiB chunks gain nothing (lz4 170 ms, zstd 333 ms) and would quadruple the bound.
 */
export const DEFAULT_CHUNK_SIZE = 1024 * 1024;

/** Chunks in a reader's pool: one being filled, one in the first stage, two queued between them. */
export const DEFAULT_POOL_CHUNKS = 4;

/**
 * Chunks one stage can hold besides its own working set. A stage's writable side queues writes until
 * their total passes its high-water mark (one chunk), so one queued chunk plus the one being processed;
 * its readable side stops being fed once its buffer reaches the mark, which a last push may overshoot
 * by one chunk. 1 + 1 + 1 + 1 = 4.
 */
export const STAGE_BUFFERED_CHUNKS = 4;

/**
 * Long-lived buffers (chunk pools, codec blocks) of at least this much in all come from memory the kernel may back
 * with 2 MiB pages (src/stream/long-lived-buffers.ts); each such allocation is rounded up to a multiple of 2 MiB.
 */
export const HUGE_PAGE_BUFFERS_MIN_BYTES = 2 * 1024 * 1024;

/**
 * Stage outputs that are already consumed but not yet collected. src/stream/buffer-garbage.ts asks V8
 * for a young-generation collection each time the stages have handed out this many bytes, so about this
 * much sits uncollected (V8 left on its own let it reach 65–150 MiB in our 256 MiB runs).
 */
export const BUFFER_GARBAGE_LIMIT = 8 * 1024 * 1024;

/** One stage of a pipeline, as far as memory goes. */
export interface StageMemory {
  /** For messages: 'lz4 compress', 'libsodium encrypt', ... */
  readonly name: string;
  /** Buffers the stage keeps between calls (a codec's block, window or dictionary) plus its largest single output. */
  readonly workingSetBytes: number;
}

export interface PipelineShape {
  readonly chunkSize: number;
  /** Chunks of the source's pool; 0 when the source does not read into a pool (a storage download). */
  readonly poolChunks: number;
  readonly stages: readonly StageMemory[];
}

/**
 * Upper bound of the bytes a pipeline holds in buffers, on top of the process's fixed cost (~45 MiB for
 * Node itself and the loaded code):
 *
 *   bound = poolChunks × chunkSize
 *         + Σ over stages (STAGE_BUFFERED_CHUNKS × chunkSize + stage.workingSetBytes)
 *         + BUFFER_GARBAGE_LIMIT
 *
 * Example, wal-push with lz4 and libsodium (1 MiB chunks, 4 pooled): 4 + (4 + 3) + (4 + 0.02) + 8
 * ≈ 23 MiB. The storage writer's own buffering (an S3 multipart part) is the sink's, not counted here.
 * Measured peaks stay under it: tests/unit/compression-memory.test.ts.
 */
export function pipelineMemoryBound(shape: PipelineShape): number {
  let bound = shape.poolChunks * shape.chunkSize + BUFFER_GARBAGE_LIMIT;
  for (const stage of shape.stages) bound += STAGE_BUFFERED_CHUNKS * shape.chunkSize + stage.workingSetBytes;
  return bound;
}

/** Stream options that make a stage hold about one chunk on each side. */
export function stageStreamOptions(chunkSize: number = DEFAULT_CHUNK_SIZE): {
  readableHighWaterMark: number;
  writableHighWaterMark: number;
} {
  return { readableHighWaterMark: chunkSize, writableHighWaterMark: chunkSize };
}

/**
 * Tar parts a backup-fetch from file storage decodes at once, whatever WALG_DOWNLOAD_CONCURRENCY says (it stays the
 * bound for network storages, where parallel downloads hide latency). Every part in flight holds its LZ4 block
 * buffers (up to 4 MiB stored + 4 MiB decoded, twice while the next block is decoded) and its read chunks, ~22 MiB
 * measured; decoding runs on the one JavaScript thread, so on local disks more parts add memory and no speed.
 * Measured on pgbench scale 350 (5.2 GiB, 5 parts of 1 GiB), 2-core VM: 1 part 26.4 s at 134 MiB peak RSS,
 * 2 parts 156 MiB, 3 parts 178 MiB, 10 parts 26.2 s at 212 MiB (docs/PERFORMANCE.md, "Memory that does not grow").
 */
export const LOCAL_RESTORE_PARTS_AT_ONCE = 1;
