// Which codec a setting or an object name means, and the order WAL-G probes extensions when fetching WAL.

import { WalgError } from '../errors.ts';
import type { Codec, CompressionMethod, DecompressionFormat } from './codec.ts';
import { lz4Codec } from './lz4.ts';
import { lzmaCodec } from './lzma.ts';
import { lzoFormat } from './lzo.ts';
import { noneCodec } from './none.ts';
import { brotliCodec, gzipFormat, zstdCodec } from './zlib-codecs.ts';

/** The methods in the order WAL-G's release build lists them in its "Unknown compression method" error. */
export const COMPRESSION_METHODS: readonly CompressionMethod[] = ['lz4', 'lzma', 'none', 'brotli', 'zstd'];

const codecsByMethod: Readonly<Record<CompressionMethod, Codec>> = {
  lz4: lz4Codec,
  lzma: lzmaCodec,
  none: noneCodec,
  brotli: brotliCodec,
  zstd: zstdCodec,
};

/**
 * Extensions in WAL-G's decompressor registration order (release build: lz4, lzma, gz, none; then the
 * brotli, lzo and zstd build-tag files in file-name order). `wal-fetch` tries `<name>.<ext>` in this
 * order, '' meaning the key `<name>.`, and finally the bare `<name>`.
 */
export const WAL_EXTENSION_PROBE_ORDER: readonly string[] = ['lz4', 'lzma', 'gz', '', 'br', 'lzo', 'zst'];

const formatsByExtension: ReadonlyMap<string, DecompressionFormat> = new Map<string, DecompressionFormat>([
  ['lz4', lz4Codec],
  ['lzma', lzmaCodec],
  ['gz', gzipFormat],
  ['', noneCodec],
  ['br', brotliCodec],
  ['lzo', lzoFormat],
  ['zst', zstdCodec],
]);

/** The codec for a WALG_COMPRESSION_METHOD value; an unknown one is WAL-G's fatal error. */
export function codecForMethod(method: string): Codec {
  if (Object.hasOwn(codecsByMethod, method)) return codecsByMethod[method as CompressionMethod];
  throw new WalgError(`Unknown compression method: '${method}', supported methods are: [${COMPRESSION_METHODS.join(' ')}]`);
}

/** The format for an object extension ('lz4', '.lz4', 'zst', '' …), or undefined when none reads it. */
export function codecForExtension(extension: string): DecompressionFormat | undefined {
  const bare = extension.startsWith('.') ? extension.slice(1) : extension;
  return formatsByExtension.get(bare);
}

/**
 * How a tar partition object is read (WAL-G's DecryptAndDecompressTar): the part after the last dot of
 * its name decides; `tar` and '' (`part_001.tar`, `part_001.tar.`) mean uncompressed. An unknown
 * extension is an error naming the object.
 */
export function formatForTarPartition(objectName: string): DecompressionFormat {
  const base = objectName.slice(objectName.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  const extension = dot < 0 ? '' : base.slice(dot + 1);
  if (extension === 'tar' || extension === '') return noneCodec;
  const format = formatsByExtension.get(extension);
  if (format === undefined) {
    throw new WalgError(`${objectName}: unknown compression extension '${extension}' (known: lz4 lzma zst br gz lzo)`);
  }
  return format;
}
