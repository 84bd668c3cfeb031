// The codecs Node's own zlib binding provides: zstd and brotli (read and write), gzip (read only).

import type { Transform, TransformCallback } from 'node:stream';
import { CHUNK_HANDLING, type ChunkHandling, releaseChunk } from '../stream/chunk-pool.ts';
import { stageStreamOptions } from '../stream/memory-budget.ts';
import { noteBufferOutput } from '../stream/buffer-garbage.ts';
import { WalgError } from '../errors.ts';
import { compressionError, decompressionError, type Codec, type DecompressionFormat } from './codec.ts';
import { ZstdFrameWalker } from './zstd-frames.ts';

/** Output buffer size of each zlib stream: the zstd block size, so a zstd block decodes in one call. */
const ZLIB_OUTPUT_CHUNK = 128 * 1024;

/** klauspost's SpeedDefault, which WAL-G uses, corresponds to zstd level 3. */
export const ZSTD_LEVEL = 3;
/** WAL-G: cbrotli.WriterOptions{Quality: 3}, default window (lgwin 22). */
export const BROTLI_QUALITY = 3;
export const BROTLI_WINDOW_BITS = 22;

function streamOptions<T extends object>(options: T): T {
  return { ...options, chunkSize: ZLIB_OUTPUT_CHUNK, ...stageStreamOptions() };
}

/**
 * Node's zlib streams apply their finish flag to whichever write looks like the last one
 * (`writableEnded && writableLength === chunk.length`). With our 1 MiB writable high-water mark that
 * misfired in tests: a zstd stream written in pieces of 1, 65535 and 1048579 bytes came out as two
 * frames. So compressors are created with a non-finishing "finish" flag, and the real one is set only
 * in _flush, which runs exactly once, after the last write.
 */
interface FinishFlag {
  _finishFlushFlag: number;
}

/** zlib errors carry a `code` such as Z_DATA_ERROR, ZSTD_error_*, ERR_BROTLI_*; others come from elsewhere. */
function isZlibError(error: Error): boolean {
  const code = (error as Error & { code?: unknown }).code;
  return typeof code === 'string' && (typeof (error as Error & { errno?: unknown }).errno === 'number' || code.includes('BROTLI'));
}

function translate(error: Error | null, formatName: string, direction: 'compress' | 'decompress'): Error | null {
  if (error === null || error instanceof WalgError || !isZlibError(error)) return error;
  return direction === 'decompress'
    ? decompressionError(formatName, error.message, error)
    : compressionError(formatName, error.message, error);
}

/**
 * The stream classes, defined on first use: they extend node:zlib's classes, and loading node:zlib costs a
 * process that never uses zstd, brotli or gzip (every lz4 wal-push and wal-fetch) ~10 ms of CPU under --jitless.
 */
function defineZlibStreams(zlib: typeof import('node:zlib')) {
  class ZstdCompressor extends zlib.ZstdCompress {
    readonly [CHUNK_HANDLING]: ChunkHandling = 'releases';
    #sawInput = false;

    constructor() {
      super(
        streamOptions({
          finishFlush: zlib.constants.ZSTD_e_continue,
          params: {
            [zlib.constants.ZSTD_c_compressionLevel]: ZSTD_LEVEL,
            // WAL-G's writer puts the xxh64 content checksum in every frame.
            [zlib.constants.ZSTD_c_checksumFlag]: 1,
          },
        }),
      );
    }

    override _transform(chunk: Buffer, encoding: BufferEncoding, callback: TransformCallback): void {
      if (chunk.length > 0) this.#sawInput = true;
      super._transform(chunk, encoding, (error?: Error | null, data?: unknown) => {
        releaseChunk(chunk); // zlib is done with the input once it calls back
        callback(error, data);
      });
    }

    override _flush(callback: TransformCallback): void {
      // Like WAL-G (klauspost without WithZeroFrames), empty input makes an empty object, not an empty frame.
      if (!this.#sawInput) {
        callback();
        return;
      }
      (this as unknown as FinishFlag)._finishFlushFlag = zlib.constants.ZSTD_e_end;
      super._flush(callback);
    }

    override push(chunk: unknown, encoding?: BufferEncoding): boolean {
      if (chunk instanceof Uint8Array) noteBufferOutput(chunk.length);
      return super.push(chunk, encoding);
    }

    override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
      super._destroy(translate(error, 'zstd', 'compress'), callback);
    }
  }

  class ZstdDecompressor extends zlib.ZstdDecompress {
    #bytesIn = 0;
    // Node 22's decoder ends quietly when the data stops inside a frame; the walker notices (Node 24's decoder does too).
    readonly #frames = new ZstdFrameWalker();

    constructor() {
      super(streamOptions({}));
    }

    override _transform(chunk: Buffer, encoding: BufferEncoding, callback: TransformCallback): void {
      this.#bytesIn += chunk.length;
      this.#frames.walk(chunk);
      super._transform(chunk, encoding, (error?: Error | null, data?: unknown) => {
        // Node's decoder stops at the end of a frame and silently drops the rest of that write (a second
        // frame, or garbage) and ends the stream; WAL-G writes one frame per object, so refuse rather than
        // return a prefix.
        const unread = this.#bytesIn - this.bytesWritten;
        if (!error && unread > 0) {
          error = decompressionError('zstd', `${unread} bytes follow the end of the zstd frame (concatenated frames in one object are not supported)`);
        }
        callback(error, data);
      });
    }

    override _flush(callback: TransformCallback): void {
      // WAL-G writes nothing at all for empty input, and its reader accepts that.
      if (this.#bytesIn === 0) {
        callback();
        return;
      }
      if (!this.#frames.atFrameBoundary) {
        callback(decompressionError('zstd', this.#frames.problem ?? this.#frames.truncation()));
        return;
      }
      super._flush(callback);
    }

    override push(chunk: unknown, encoding?: BufferEncoding): boolean {
      if (chunk instanceof Uint8Array) noteBufferOutput(chunk.length);
      return super.push(chunk, encoding);
    }

    override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
      super._destroy(translate(error, 'zstd', 'decompress'), callback);
    }
  }

  class BrotliCompressor extends zlib.BrotliCompress {
    readonly [CHUNK_HANDLING]: ChunkHandling = 'releases';

    constructor() {
      super(
        streamOptions({
          finishFlush: zlib.constants.BROTLI_OPERATION_PROCESS,
          params: {
            [zlib.constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY,
            [zlib.constants.BROTLI_PARAM_LGWIN]: BROTLI_WINDOW_BITS,
          },
        }),
      );
    }

    override _transform(chunk: Buffer, encoding: BufferEncoding, callback: TransformCallback): void {
      super._transform(chunk, encoding, (error?: Error | null, data?: unknown) => {
        releaseChunk(chunk);
        callback(error, data);
      });
    }

    override _flush(callback: TransformCallback): void {
      (this as unknown as FinishFlag)._finishFlushFlag = zlib.constants.BROTLI_OPERATION_FINISH;
      super._flush(callback);
    }

    override push(chunk: unknown, encoding?: BufferEncoding): boolean {
      if (chunk instanceof Uint8Array) noteBufferOutput(chunk.length);
      return super.push(chunk, encoding);
    }

    override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
      super._destroy(translate(error, 'brotli', 'compress'), callback);
    }
  }

  class BrotliDecompressor extends zlib.BrotliDecompress {
    constructor() {
      super(streamOptions({}));
    }

    override push(chunk: unknown, encoding?: BufferEncoding): boolean {
      if (chunk instanceof Uint8Array) noteBufferOutput(chunk.length);
      return super.push(chunk, encoding);
    }

    override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
      super._destroy(translate(error, 'brotli', 'decompress'), callback);
    }
  }

  class GzipDecompressor extends zlib.Gunzip {
    constructor() {
      super(streamOptions({}));
    }

    override push(chunk: unknown, encoding?: BufferEncoding): boolean {
      if (chunk instanceof Uint8Array) noteBufferOutput(chunk.length);
      return super.push(chunk, encoding);
    }

    override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
      super._destroy(translate(error, 'gzip', 'decompress'), callback);
    }
  }

  return { ZstdCompressor, ZstdDecompressor, BrotliCompressor, BrotliDecompressor, GzipDecompressor };
}

let zlibStreams: ReturnType<typeof defineZlibStreams> | undefined;

function streams(): ReturnType<typeof defineZlibStreams> {
  zlibStreams ??= defineZlibStreams(process.getBuiltinModule('node:zlib'));
  return zlibStreams;
}

export const zstdCodec: Codec = {
  method: 'zstd',
  name: 'zstd',
  extension: 'zst',
  compressor: (): Transform => new (streams().ZstdCompressor)(),
  decompressor: (): Transform => new (streams().ZstdDecompressor)(),
  // Level 3 context: a 2 MiB window plus hash and chain tables (a few MiB), and one output chunk.
  compressorWorkingSetBytes: 6 * 1024 * 1024,
  // The frame's window (8 MiB for WAL-G's writer) plus one block and one output chunk.
  decompressorWorkingSetBytes: 8 * 1024 * 1024 + 2 * ZLIB_OUTPUT_CHUNK,
};

export const brotliCodec: Codec = {
  method: 'brotli',
  name: 'brotli',
  extension: 'br',
  compressor: (): Transform => new (streams().BrotliCompressor)(),
  decompressor: (): Transform => new (streams().BrotliDecompressor)(),
  // Quality 3: a 4 MiB (lgwin 22) ring buffer and its hash table.
  compressorWorkingSetBytes: 6 * 1024 * 1024,
  decompressorWorkingSetBytes: 4 * 1024 * 1024 + ZLIB_OUTPUT_CHUNK,
};

/** Read-only: WAL-E and old WAL-G archives. */
export const gzipFormat: DecompressionFormat = {
  name: 'gzip',
  extension: 'gz',
  decompressor: (): Transform => new (streams().GzipDecompressor)(),
  decompressorWorkingSetBytes: 32 * 1024 + ZLIB_OUTPUT_CHUNK,
};
