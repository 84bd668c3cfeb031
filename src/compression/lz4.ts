// The lz4 method (WAL-G's default): LZ4 frames, extension `lz4`.

import type { Transform } from 'node:stream';
import type { Codec } from './codec.ts';
import { Lz4FrameDecoder } from './lz4-decoder.ts';
import { Lz4FrameEncoder } from './lz4-encoder.ts';
import { LZ4_WINDOW_SIZE, WALG_LZ4_BLOCK_SIZE, WALNUT_LZ4_BLOCK_SIZE } from './lz4-frame.ts';

export const lz4Codec: Codec = {
  method: 'lz4',
  name: 'lz4',
  extension: 'lz4',
  compressor(): Transform {
    return new Lz4FrameEncoder(WALNUT_LZ4_BLOCK_SIZE);
  },
  decompressor(): Transform {
    return new Lz4FrameDecoder();
  },
  // One block gathered + two output buffers of the process-wide pool (one being written, one being made).
  compressorWorkingSetBytes: 3 * (WALNUT_LZ4_BLOCK_SIZE + 4),
  // One stored block + its decoded output + 64 KiB of history, for the largest blocks WAL-G writes (legacy 8 MiB
  // blocks need twice that).
  decompressorWorkingSetBytes: 2 * WALG_LZ4_BLOCK_SIZE + LZ4_WINDOW_SIZE,
};
