// The none method: bytes stored as they are, in objects whose names end with a bare dot.

import { PassThrough, type Transform } from 'node:stream';
import { markChunkHandling } from '../stream/chunk-pool.ts';
import { stageStreamOptions } from '../stream/memory-budget.ts';
import type { Codec } from './codec.ts';

function passThrough(): Transform {
  return markChunkHandling(new PassThrough(stageStreamOptions()), 'forwards');
}

export const noneCodec: Codec = {
  method: 'none',
  name: 'none',
  extension: '',
  compressor: passThrough,
  decompressor: passThrough,
  compressorWorkingSetBytes: 0,
  decompressorWorkingSetBytes: 0,
};
