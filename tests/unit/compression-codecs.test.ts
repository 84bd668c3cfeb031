// Every WAL-G codec: round trips, the registry and probing rules, interop with the reference CLIs, WAL-G-written lzma, corruption.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createReadStream, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { brotliDecompressSync, gzipSync, zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { codecForExtension, codecForMethod, COMPRESSION_METHODS, formatForTarPartition, WAL_EXTENSION_PROBE_ORDER } from '../../src/compression/registry.ts';
import { readCachedExtension, walExtensionProbeOrder, writeCachedExtension } from '../../src/compression/decompressor-cache.ts';
import type { DecompressionFormat } from '../../src/compression/codec.ts';
import { WalgError } from '../../src/errors.ts';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../../compat-fixtures');
const cliMissing = (name: string, install: string): string | false =>
  spawnSync('which', [name]).status === 0 ? false : `the ${name} CLI is not installed (${install}); CI installs it`;

function pieces(input: Buffer, sizes: number[]): Buffer[] {
  const out: Buffer[] = [];
  for (let offset = 0, i = 0; offset < input.length; i++) {
    const size = sizes[i % sizes.length];
    out.push(input.subarray(offset, offset + size));
    offset += size;
  }
  return out;
}

async function run(transform: NodeJS.ReadWriteStream, input: Buffer[] | Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  const source = Array.isArray(input) ? Readable.from(input, { objectMode: false }) : input;
  await pipeline(source, transform, new Writable({
    write(chunk: Buffer, _encoding, callback) {
      parts.push(Buffer.from(chunk));
      callback();
    },
  }));
  return Buffer.concat(parts);
}

const compress = (method: string, input: Buffer, sizes = [1 << 20]) => run(codecForMethod(method).compressor(), pieces(input, sizes));
const decompress = (format: DecompressionFormat, input: Buffer, sizes = [64 * 1024]) => run(format.decompressor(), pieces(input, sizes));

function sampleData(length: number): Buffer {
  const data = Buffer.alloc(length);
  for (let offset = 0; offset < length; offset += 200 * 1024) {
    data.fill(`row ${offset} of some table; `, offset, Math.min(length, offset + 100 * 1024));
    if (offset + 100 * 1024 < length) randomBytes(Math.min(100 * 1024, length - offset - 100 * 1024)).copy(data, offset + 100 * 1024);
  }
  return data;
}

test('every compression method round-trips empty, one byte, random, compressible and >4 MiB odd-split inputs', async () => {
  const inputs = [Buffer.alloc(0), Buffer.from([7]), randomBytes(200_000), Buffer.alloc(3_000_000, 'abcabc'), sampleData(4 * 1024 * 1024 + 12_345)];
  for (const method of COMPRESSION_METHODS) {
    const codec = codecForMethod(method);
    for (const input of inputs) {
      const stored = await compress(method, input, [1, 65_535, 1_048_579]);
      assert.deepEqual(await decompress(codec, stored, [1, 7, 100_003]), input, `${method}, ${input.length} bytes`);
    }
  }
});

test('codecForMethod names the supported methods the way WAL-G does for an unknown one', () => {
  assert.equal(codecForMethod('zstd').extension, 'zst');
  assert.throws(() => codecForMethod('snappy'), (error: Error) => {
    assert.ok(error instanceof WalgError);
    assert.equal(error.message, "Unknown compression method: 'snappy', supported methods are: [lz4 lzma none brotli zstd]");
    return true;
  });
  assert.throws(() => codecForMethod('toString'), /Unknown compression method: 'toString'/);
});

test('codecForExtension knows every extension WAL-G reads, with or without the dot', () => {
  const expected: Record<string, string> = { lz4: 'lz4', '.lzma': 'lzma', zst: 'zstd', br: 'brotli', gz: 'gzip', lzo: 'lzo', '': 'none' };
  for (const [extension, name] of Object.entries(expected)) assert.equal(codecForExtension(extension)?.name, name, extension);
  assert.equal(codecForExtension('xz'), undefined);
  assert.deepEqual(WAL_EXTENSION_PROBE_ORDER, ['lz4', 'lzma', 'gz', '', 'br', 'lzo', 'zst']);
});

test('tar partitions named .tar or with a trailing dot are read uncompressed; unknown extensions are refused', () => {
  assert.equal(formatForTarPartition('base_1/tar_partitions/part_001.tar.lz4').name, 'lz4');
  assert.equal(formatForTarPartition('part_001.tar.').name, 'none');
  assert.equal(formatForTarPartition('part_001.tar').name, 'none');
  assert.equal(formatForTarPartition('copy_0.tar.zst').name, 'zstd');
  assert.throws(() => formatForTarPartition('part_001.tar.xz'), /part_001\.tar\.xz: unknown compression extension 'xz'/);
});

test('the decompressor cache moves the last found extension to the front of the probe order', () => {
  assert.deepEqual(walExtensionProbeOrder(undefined), ['lz4', 'lzma', 'gz', '', 'br', 'lzo', 'zst']);
  assert.deepEqual(walExtensionProbeOrder('zst'), ['zst', 'lz4', 'lzma', 'gz', '', 'br', 'lzo']);
  assert.deepEqual(walExtensionProbeOrder(''), ['', 'lz4', 'lzma', 'gz', 'br', 'lzo', 'zst']);
  assert.deepEqual(walExtensionProbeOrder('lz4'), ['lz4', 'lzma', 'gz', '', 'br', 'lzo', 'zst']);
  assert.deepEqual(walExtensionProbeOrder('bogus'), ['lz4', 'lzma', 'gz', '', 'br', 'lzo', 'zst']);
});

test('the decompressor cache file is WAL-G JSON and a broken one reads as absent', () => {
  const dir = mkdtempSync(join(tmpdir(), 'walnut-cache-'));
  try {
    const file = join(dir, '.walg_decompressor_cache');
    assert.equal(readCachedExtension(file), undefined);
    writeCachedExtension('br', file);
    assert.equal(readFileSync(file, 'utf8'), '{"FileExtension":"br"}');
    assert.equal(statSync(file).mode & 0o777, 0o644);
    assert.equal(readCachedExtension(file), 'br');
    writeFileSync(file, '{"fileextension":"zst"}');
    assert.equal(readCachedExtension(file), 'zst');
    writeFileSync(file, 'not json');
    assert.equal(readCachedExtension(file), undefined);
    writeCachedExtension('lz4', join(dir, 'missing-dir', 'cache')); // ignored, like WAL-G
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('zstd writes nothing for empty input, like WAL-G, and reads an empty object as empty', async () => {
  const stored = await compress('zstd', Buffer.alloc(0));
  assert.equal(stored.length, 0);
  assert.deepEqual(await decompress(codecForMethod('zstd'), Buffer.alloc(0)), Buffer.alloc(0));
});

test('zstd frames carry a content checksum and interoperate with the zstd CLI both ways', { skip: cliMissing('zstd', 'apt-get install zstd') }, async () => {
  const input = sampleData(5 * 1024 * 1024);
  const stored = await compress('zstd', input);
  assert.equal(stored.readUInt32LE(0), 0xfd2fb528);
  assert.ok(stored[4] & 0x04, 'frame header descriptor has the content checksum flag');
  assert.deepEqual(execFileSync('zstd', ['-d', '-c', '-q'], { input: stored, maxBuffer: 64 << 20 }), input);
  const cliMade = execFileSync('zstd', ['-c', '-q', '-19', '--long=24'], { input, maxBuffer: 64 << 20 });
  assert.deepEqual(await decompress(codecForMethod('zstd'), cliMade), input);
});

test('zstd refuses bytes after the frame instead of returning a prefix, unless they arrive as a separate write', async () => {
  const one = zstdCompressSync(Buffer.from('one '));
  const two = zstdCompressSync(Buffer.from('two'));
  const zstd = codecForMethod('zstd');
  assert.equal((await run(zstd.decompressor(), [one, two])).toString(), 'one two');
  await assert.rejects(decompress(zstd, Buffer.concat([one, two])), { name: 'WalgError', message: 'zstd: 12 bytes follow the end of the zstd frame (concatenated frames in one object are not supported)' });
});

test('zstd and brotli write exactly one stream however the input is split', async () => {
  const input = randomBytes(200_000);
  for (const sizes of [[1, 65_535, 1_048_579], [3, 1000], [7, 100_003], [1 << 20]]) {
    const zstd = await compress('zstd', input, sizes);
    assert.deepEqual(zstdDecompressSync(zstd), input, `zstd ${sizes}`); // the sync decoder reads only the first frame
    const brotli = await compress('brotli', input, sizes);
    assert.deepEqual(brotliDecompressSync(brotli), input, `brotli ${sizes}`);
  }
});

test('lzma writes LZMA-alone with unknown size and an end marker, readable by xz --format=lzma', { skip: cliMissing('xz', 'apt-get install xz-utils') }, async () => {
  const input = sampleData(5 * 1024 * 1024 + 3);
  const stored = await compress('lzma', input);
  assert.equal(stored[0], 0x5d, 'lc=3 lp=0 pb=2');
  assert.equal(stored.subarray(5, 13).toString('hex'), 'ffffffffffffffff', 'unknown uncompressed size');
  assert.deepEqual(execFileSync('xz', ['--format=lzma', '-d', '-c'], { input: stored, maxBuffer: 64 << 20 }), input);
  const xzMade = execFileSync('xz', ['--format=lzma', '-c', '-6'], { input, maxBuffer: 64 << 20 });
  assert.deepEqual(await decompress(codecForMethod('lzma'), xzMade), input);
});

test('lzma ignores bytes after the end marker, as WAL-G does, instead of stalling the writer', async () => {
  const input = Buffer.alloc(300_000, 'hello lzma ');
  const stored = await compress('lzma', input);
  const withTrailer = Buffer.concat([stored, Buffer.alloc(3 * 1024 * 1024, 1)]);
  assert.deepEqual(await decompress(codecForMethod('lzma'), withTrailer), input);
});

test('lzma reads every WAL-G-written object of the pg16 fixture: WAL segments and tar partitions', async () => {
  const storage = join(FIXTURES, 'pg16-lzma-tablespace/storage');
  const wal = join(storage, 'wal_005');
  for (const name of readdirSync(wal)) {
    const decoded = await run(codecForMethod('lzma').decompressor(), createReadStream(join(wal, name)));
    if (name.includes('.backup')) assert.match(decoded.toString(), /^START WAL LOCATION/, name);
    else assert.equal(decoded.readUInt16LE(0), 0xd113, `${name}: PostgreSQL 16 XLOG_PAGE_MAGIC`);
    if (!name.includes('.backup')) assert.equal(decoded.length, 16 * 1024 * 1024, name);
  }
  const backups = join(storage, 'basebackups_005');
  const backup = readdirSync(backups).find((name) => !name.endsWith('.json')) as string;
  const parts = join(backups, backup, 'tar_partitions');
  const names = readdirSync(parts);
  assert.ok(names.length > 20);
  for (const name of names) {
    const decoded = await run(codecForMethod('lzma').decompressor(), createReadStream(join(parts, name)));
    assert.equal(decoded.subarray(257, 262).toString(), 'ustar', name);
  }
});

test('brotli output decodes with the brotli CLI and the CLI output decodes with ours', { skip: cliMissing('brotli', 'apt-get install brotli') }, async () => {
  const input = sampleData(5 * 1024 * 1024);
  const stored = await compress('brotli', input);
  assert.deepEqual(execFileSync('brotli', ['-d', '-c'], { input: stored, maxBuffer: 64 << 20 }), input);
  const cliMade = execFileSync('brotli', ['-c', '-q', '5'], { input, maxBuffer: 64 << 20 });
  assert.deepEqual(await decompress(codecForMethod('brotli'), cliMade), input);
});

test('gz objects (read only) decode, including gzip CLI output and concatenated members', { skip: cliMissing('gzip', 'apt-get install gzip') }, async () => {
  const gz = codecForExtension('gz') as DecompressionFormat;
  const input = sampleData(2 * 1024 * 1024);
  assert.deepEqual(await decompress(gz, execFileSync('gzip', ['-c'], { input, maxBuffer: 64 << 20 })), input);
  const members = Buffer.concat([gzipSync(Buffer.from('a')), gzipSync(Buffer.from('b'))]);
  assert.equal((await decompress(gz, members)).toString(), 'ab');
});

test('lzo objects fail with an error that says lzop is not supported', async () => {
  const lzo = codecForExtension('lzo') as DecompressionFormat;
  await assert.rejects(decompress(lzo, Buffer.from('\x89LZO\x00\r\n\x1a\n')), { name: 'WalgError', message: /^lzo: lzop-compressed objects/ });
});

test('truncated objects of every codec fail with a WalgError naming the codec, never hang', async () => {
  const input = sampleData(1_500_000);
  for (const method of ['lz4', 'zstd', 'brotli', 'lzma']) {
    const stored = await compress(method, input);
    const codec = codecForMethod(method);
    await assert.rejects(decompress(codec, stored.subarray(0, stored.length - 10)), (error: Error) => {
      assert.ok(error instanceof WalgError, `${method}: ${error}`);
      assert.match(error.message, new RegExp(`^${method}: `));
      return true;
    }, method);
  }
  const gz = gzipSync(input);
  await assert.rejects(decompress(codecForExtension('gz') as DecompressionFormat, gz.subarray(0, gz.length - 10)), { name: 'WalgError', message: /^gzip: / });
});

test('corrupted objects of every codec fail with a WalgError naming the codec', async () => {
  const input = Buffer.alloc(1_000_000, 'the same sentence over and over. ');
  for (const method of ['lz4', 'zstd', 'brotli', 'lzma']) {
    const stored = Buffer.from(await compress(method, input));
    stored[Math.floor(stored.length / 2)] ^= 0xff;
    await assert.rejects(decompress(codecForMethod(method), stored), (error: Error) => {
      assert.ok(error instanceof WalgError, `${method}: ${error}`);
      assert.match(error.message, new RegExp(`^${method}: `));
      return true;
    }, method);
  }
});
