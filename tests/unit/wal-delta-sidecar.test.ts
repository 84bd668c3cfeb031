// The `_delta` sidecar and part-file formats, and the WAL record parser checked against what WAL-G v3.0.8 wrote
// in compat-fixtures/pg17-lz4-waldelta (its sidecar for group 0x10 and the raw segments it came from).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { lz4Codec } from '../../src/compression/lz4.ts';
import { BlockLocationList, type BlockLocation } from '../../src/wal-delta/block-locations.ts';
import { decodeDeltaFile, deltaFileNameFor, encodeDeltaFile, DeltaFileFormatError } from '../../src/wal-delta/delta-file.ts';
import { WalPartFile } from '../../src/wal-delta/part-file.ts';
import { WalDeltaSession } from '../../src/wal-delta/delta-recorder.ts';
import { makeTempDir } from '../helpers/tmp.ts';

const WAL_FOLDER = join(import.meta.dirname, '../../compat-fixtures/pg17-lz4-waldelta/storage/wal_005');

async function lz4Decode(path: string): Promise<Buffer> {
  const decoder = lz4Codec.decompressor();
  const chunks: Buffer[] = [];
  decoder.on('data', (chunk: Buffer) => chunks.push(chunk));
  const done = new Promise((resolve, reject) => {
    decoder.on('end', resolve);
    decoder.on('error', reject);
  });
  decoder.end(readFileSync(path));
  await done;
  return Buffer.concat(chunks);
}

const decodedSegments = new Map<number, Promise<Buffer>>();

/** Fixture segments are decoded once and shared by the tests of this file. */
function fixtureSegment(segment: number): Promise<Buffer> {
  let decoded = decodedSegments.get(segment);
  if (!decoded) decodedSegments.set(segment, (decoded = lz4Decode(join(WAL_FOLDER, `${segmentName(segment)}.lz4`))));
  return decoded;
}

function segmentName(segment: number): string {
  return `00000001000000000000${segment.toString(16).toUpperCase().padStart(4, '0')}`;
}

function locationKey(location: BlockLocation): string {
  return `${location.spcNode}/${location.dbNode}/${location.relNode}/${location.blockNo}`;
}

function multiset(list: BlockLocationList): Map<string, number> {
  const counts = new Map<string, number>();
  for (const location of list.toArray()) counts.set(locationKey(location), (counts.get(locationKey(location)) ?? 0) + 1);
  return counts;
}

test('the fixture sidecar written by WAL-G decodes to its 35 block references and an empty parser seed', async () => {
  const sidecar = decodeDeltaFile(await lz4Decode(join(WAL_FOLDER, '000000010000000000000010_delta.lz4')));
  assert.equal(sidecar.locations.length, 35);
  assert.equal(sidecar.parserSeed.length, 0);
  assert.deepEqual(
    [...multiset(sidecar.locations)].sort(),
    [
      ['1663/5/16384/0', 33],
      ['1663/5/16384/206', 1],
      ['1663/5/16389/1', 1],
    ],
  );
});

test('parsing the fixture segments 0x0F-0x1F reproduces WAL-G sidecar byte for byte, in WAL-G push order', async () => {
  const expected = await lz4Decode(join(WAL_FOLDER, '000000010000000000000010_delta.lz4'));
  const segments = new Map<number, Buffer>();
  for (let segment = 0x0f; segment <= 0x1f; segment++) segments.set(segment, await fixtureSegment(segment));

  // WAL-G's background uploader recorded 0x1F before 0x1E (both in one wal-push); the order is the only difference.
  const order = [0x0f, ...Array.from({ length: 14 }, (_, index) => 0x10 + index), 0x1f, 0x1e];
  const session = new WalDeltaSession({ stateDirectory: makeTempDir() });
  for (const segment of order) await session.recordSegment(segmentName(segment), segments.get(segment)!);
  const uploads = new Map<string, Buffer>();
  const report = await session.flush(async (name, body) => void uploads.set(name, body));
  assert.deepEqual(report.uploaded, ['000000010000000000000010_delta']);
  assert.deepEqual(uploads.get('000000010000000000000010_delta'), expected);

  // In natural order the same references come out (as a multiset).
  const natural = new WalDeltaSession({ stateDirectory: makeTempDir() });
  for (let segment = 0x0f; segment <= 0x1f; segment++) await natural.recordSegment(segmentName(segment), segments.get(segment)!);
  let body: Buffer | undefined;
  await natural.flush(async (_name, data) => void (body = data));
  assert.deepEqual(multiset(decodeDeltaFile(body!).locations), multiset(decodeDeltaFile(expected).locations));
});

test('a group is kept in the state folder until all 16 segments and the previous group head are recorded', async () => {
  const stateDirectory = makeTempDir();
  const segments = new Map<number, Buffer>();
  for (let segment = 0x0f; segment <= 0x1f; segment++) segments.set(segment, await fixtureSegment(segment));
  // One push per segment, like PostgreSQL's archiver calling wal-push: state crosses processes through the folder.
  const uploaded: string[] = [];
  for (let segment = 0x0f; segment <= 0x1f; segment++) {
    const session = new WalDeltaSession({ stateDirectory });
    await session.recordSegment(segmentName(segment), segments.get(segment)!);
    const report = await session.flush(async (name) => void uploaded.push(name));
    if (segment < 0x1f) assert.deepEqual(report.uploaded, [], `nothing uploaded after ${segmentName(segment)}`);
  }
  assert.deepEqual(uploaded, ['000000010000000000000010_delta']);
});

test('sidecar encoding round-trips locations and a parser seed; truncations are format errors', () => {
  const locations = new BlockLocationList(1);
  locations.push(1663, 5, 16384, 7);
  locations.push(1663, 5, 16384, 0xffffffff);
  locations.push(1664, 0, 1262, 0);
  const seed = Buffer.from('partial record head');
  const encoded = encodeDeltaFile({ locations, parserSeed: seed });
  assert.equal(encoded.length, 3 * 16 + 16 + 4 + seed.length);
  const decoded = decodeDeltaFile(encoded);
  assert.deepEqual(decoded.locations.toArray(), locations.toArray());
  assert.deepEqual(decoded.parserSeed, seed);
  assert.throws(() => decodeDeltaFile(encoded.subarray(0, encoded.length - 1)), DeltaFileFormatError);
  assert.throws(() => decodeDeltaFile(encoded.subarray(0, 3 * 16)), DeltaFileFormatError);
  assert.throws(() => decodeDeltaFile(encoded.subarray(0, 20)), DeltaFileFormatError);
});

test('sidecar names are the group first segment plus _delta', () => {
  assert.equal(deltaFileNameFor('00000001000000000000001F'), '000000010000000000000010_delta');
  assert.equal(deltaFileNameFor('000000020000000100000005'), '000000020000000100000000_delta');
  assert.equal(deltaFileNameFor('00000002.history'), undefined);
});

test('part files keep tails, heads and the previous group head in WAL-G entry order', () => {
  const parts = new WalPartFile();
  parts.walTails[3] = Buffer.from('t3');
  parts.walHeads[0] = Buffer.alloc(0);
  parts.previousWalHead = Buffer.from('p');
  const encoded = parts.encode();
  // tail 3, previous head, head 0
  assert.deepEqual(
    encoded,
    Buffer.concat([Buffer.from([1, 3, 2, 0, 0, 0]), Buffer.from('t3'), Buffer.from([0, 0, 1, 0, 0, 0]), Buffer.from('p'), Buffer.from([2, 0, 0, 0, 0, 0])]),
  );
  const decoded = WalPartFile.decode(encoded);
  assert.deepEqual(decoded.walTails[3], Buffer.from('t3'));
  assert.deepEqual(decoded.walHeads[0], Buffer.alloc(0));
  assert.equal(decoded.walHeads[1], undefined);
  assert.equal(decoded.isComplete(), false);
  for (let id = 0; id < 16; id++) {
    decoded.walTails[id] ??= Buffer.alloc(0);
    decoded.walHeads[id] ??= Buffer.alloc(0);
  }
  assert.equal(decoded.isComplete(), true);
});
