// The lzma method: the legacy LZMA "alone" format (.lzma) with unknown size and an end marker, as ulikunitz/xz writes it.

import { napiLzma } from '../native/lazy-require.ts';
import { Transform, type TransformCallback } from 'node:stream';
import { CHUNK_HANDLING, type ChunkHandling, releaseChunk } from '../stream/chunk-pool.ts';
import { stageStreamOptions } from '../stream/memory-budget.ts';
import { noteBufferOutput } from '../stream/buffer-garbage.ts';
import { WebStreamTransform } from '../stream/web-stream-transform.ts';
import { WalgError } from '../errors.ts';
import { compressionError, decompressionError, type Codec } from './codec.ts';

/**
 * xz preset 1: 1 MiB dictionary, fast match finder. WAL-G's ulikunitz writer is a simple hash-chain
 * encoder with an 8 MiB dictionary; byte equality is impossible anyway, and on a 16 MiB WAL segment
 * (measured) preset 1 takes 0.64 s and ~20 MiB against preset 6's 5 s and ~110 MiB for a 10 % smaller
 * object. Readers take the dictionary size from the header, so WAL-G reads these objects as usual.
 */
export const LZMA_PRESET = 1;

/**
 * The incremental compressor works synchronously inside update(): it has consumed a written chunk when
 * update() returns (so a pooled chunk goes straight back), its memory is its dictionary and match
 * finder, and each input chunk gives one output. It blocks the main thread ~40 ms per MiB at preset 1;
 * the off-thread Web-stream variant would keep written chunks referenced after their write completes.
 */
class LzmaStreamCompressor extends Transform {
  readonly [CHUNK_HANDLING]: ChunkHandling = 'releases';
  readonly #compressor = new (napiLzma().LzmaCompressor)({ preset: LZMA_PRESET });

  constructor() {
    super(stageStreamOptions());
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    let output: Buffer;
    try {
      output = this.#compressor.update(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length));
    } catch (error) {
      callback(compressionError('lzma', (error as Error).message, error));
      return;
    }
    releaseChunk(chunk);
    const collected = noteBufferOutput(output.length);
    const result = output.length > 0 ? output : undefined;
    // After a collection, let N-API finalizers (run from the immediate queue) free the native outputs.
    if (collected) setImmediate(() => callback(null, result));
    else callback(null, result);
  }

  override _flush(callback: TransformCallback): void {
    this.#compressor.finish().then(
      (tail) => callback(null, tail.length > 0 ? tail : undefined),
      (error: Error) => callback(compressionError('lzma', error.message, error)),
    );
  }
}

function translateDecodeError(error: unknown): Error {
  if (error instanceof WalgError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return decompressionError('lzma', message, error);
}

/**
 * Decoding goes through the Web-stream decoder: it runs off the main thread and is pulled, so it never
 * decodes more than the reader asks for (the incremental class decodes ahead without limit: measured,
 * a 38 KB object of zeros came back as one 237 MiB buffer). Like WAL-G's reader it stops at the end
 * marker; bytes after it are read and ignored.
 */
class LzmaStreamDecompressor extends WebStreamTransform {
  constructor() {
    super((input) => napiLzma().lzma.decompressStream(input), translateDecodeError);
  }

  override push(chunk: unknown, encoding?: BufferEncoding): boolean {
    if (chunk instanceof Uint8Array) noteBufferOutput(chunk.length);
    return super.push(chunk, encoding);
  }
}

export const lzmaCodec: Codec = {
  method: 'lzma',
  name: 'lzma',
  extension: 'lzma',
  compressor: (): Transform => new LzmaStreamCompressor(),
  decompressor: (): Transform => new LzmaStreamDecompressor(),
  // Preset 1: dictionary plus hash chains; measured ~22 MiB over the process baseline on a 16 MiB segment.
  compressorWorkingSetBytes: 24 * 1024 * 1024,
  // The dictionary named in the header: 8 MiB for WAL-G's writer, 1 MiB for ours; plus 64 KiB outputs.
  decompressorWorkingSetBytes: 8 * 1024 * 1024 + 128 * 1024,
};
