// The lzo format (lzop files, as WAL-E wrote them): read-only, and not supported yet.

import { Transform, type TransformCallback } from 'node:stream';
import type { DecompressionFormat } from './codec.ts';
import { decompressionError } from './codec.ts';

/** Fails on the first byte with an error the caller prefixes with the object name. */
class UnsupportedLzoDecompressor extends Transform {
  override _transform(_chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    callback(decompressionError('lzo', 'lzop-compressed objects (from WAL-E) are not supported by this build; decompress them with lzop -d and store them uncompressed'));
  }

  override _flush(callback: TransformCallback): void {
    callback(decompressionError('lzo', 'lzop-compressed objects (from WAL-E) are not supported by this build'));
  }
}

export const lzoFormat: DecompressionFormat = {
  name: 'lzo',
  extension: 'lzo',
  decompressor: (): Transform => new UnsupportedLzoDecompressor(),
  decompressorWorkingSetBytes: 0,
};
