// The shape of a compression method: the name users configure, the object extension, and two stream filters.

import type { Transform } from 'node:stream';
import { WalgError } from '../errors.ts';

/** Values of WALG_COMPRESSION_METHOD. */
export type CompressionMethod = 'lz4' | 'lzma' | 'zstd' | 'brotli' | 'none';

/** A format we can read: every codec, plus the read-only gz and lzo that old archives (WAL-E) hold. */
export interface DecompressionFormat {
  /** Object name extension without the dot: 'lz4', 'lzma', 'zst', 'br', 'gz', 'lzo', or '' for none. */
  readonly extension: string;
  /** Name used in error messages: 'lz4', 'zstd', ... */
  readonly name: string;
  /** A fresh single-use Transform: stored bytes in, original bytes out. Errors are WalgError('<name>: ...'). */
  decompressor(): Transform;
  /** Bytes the decompressor keeps beyond the pipeline's chunks (src/stream/memory-budget.ts). */
  readonly decompressorWorkingSetBytes: number;
}

/** A method we can also write. */
export interface Codec extends DecompressionFormat {
  readonly method: CompressionMethod;
  /** A fresh single-use Transform: original bytes in, what WAL-G stores out. */
  compressor(): Transform;
  readonly compressorWorkingSetBytes: number;
}

/** A decompression error as the user sees it: the format's name, then the cause; callers prefix the object. */
export function decompressionError(formatName: string, cause: string, error?: unknown): WalgError {
  return new WalgError(`${formatName}: ${cause}`, 1, error === undefined ? undefined : { cause: error });
}

/** A compression error (rare: out of memory, a native failure). */
export function compressionError(formatName: string, cause: string, error?: unknown): WalgError {
  return new WalgError(`${formatName} compression failed: ${cause}`, 1, error === undefined ? undefined : { cause: error });
}
