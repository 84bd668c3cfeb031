// Delta page selection from WAL (WALG_USE_WAL_DELTA): relation files placed as WAL-G places them, blocks picked per
// 1 GiB segment and cut at the file size, and a map built from WAL-G's own sidecar and WAL (pg17-lz4-waldelta) that
// covers every page WAL-G's page scan sent for the same delta.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseFilesMetadata } from '../../src/backup/files-metadata.ts';
import { INCREMENT_HEADER_SIZE, parseBlockNumbers, parseIncrementHeader } from '../../src/backup/increment.ts';
import { formatForTarPartition } from '../../src/compression/registry.ts';
import { Folder } from '../../src/storage/driver.ts';
import { openFileStorage } from '../../src/storage/file.ts';
import { BlockLocationList } from '../../src/wal-delta/block-locations.ts';
import { parseTarHeader } from '../../src/backup-push/tar-stream-parser.ts';
import { loadWalDeltaMap, relationFileOf, WalDeltaMap } from '../../src/backup-push/wal-delta-map.ts';

const PAGE = 8192;
const STORAGE = join(import.meta.dirname, '../../compat-fixtures/pg17-lz4-waldelta/storage');
const SECOND_DELTA = join(STORAGE, 'basebackups_005/base_00000001000000000000002A_D_000000010000000000000028');

test('relation files are placed by path: base is pg_default, pg_tblspc/<oid> its tablespace, .N the segment', () => {
  assert.deepEqual(relationFileOf('/var/lib/pg/base/5/16384'), { key: '1663/5/16384', segment: 0 });
  assert.deepEqual(relationFileOf('/var/lib/pg/base/5/16384.3'), { key: '1663/5/16384', segment: 3 });
  assert.deepEqual(relationFileOf('/d/pg_tblspc/16400/PG_17_202406281/5/16500'), { key: '16400/5/16500', segment: 0 });
  assert.equal(relationFileOf('/d/global/1262'), undefined);
  assert.equal(relationFileOf('/d/base/5/16384_fsm'), undefined);
});

test('the blocks of one file: its segment\'s share, relative, ascending, stopping past the file size', () => {
  const locations = new BlockLocationList();
  const perSegment = (1024 * 1024 * 1024) / PAGE;
  for (const block of [7, 3, 3, perSegment + 2, 9, perSegment * 2]) locations.push(1663, 5, 16384, block);
  locations.push(1663, 5, 99999, 0);
  const map = new WalDeltaMap();
  map.add(locations);
  assert.deepEqual([...(map.blocksFor('/d/base/5/16384', 10 * PAGE, PAGE) as Uint32Array)], [3, 7, 9]);
  assert.deepEqual([...(map.blocksFor('/d/base/5/16384', 8 * PAGE, PAGE) as Uint32Array)], [3, 7]);
  assert.deepEqual([...(map.blocksFor('/d/base/5/16384.1', 10 * PAGE, PAGE) as Uint32Array)], [2]);
  assert.equal(map.blocksFor('/d/base/5/16385', PAGE, PAGE), 'absent');
  assert.equal(map.blocksFor('/d/global/1262', PAGE, PAGE), 'unknown');
});

test('a map from WAL-G\'s sidecar and WAL covers every page its page scan sent for the same delta', async () => {
  const walFolder = new Folder(await openFileStorage(STORAGE)).subFolder('wal_005');
  const source = { walFolder, timeline: 1, segmentSize: 16 * 1024 * 1024, walPageSize: PAGE, blockSize: PAGE, lastSegmentWaitMs: 0 };
  // The second delta: parent 0/280000D8, start 0/2A000028 — the group 0x10 sidecar, then WAL 0x20..0x29.
  const map = await loadWalDeltaMap(source, 0x280000d8n, 0x2a000028n);
  const files = parseFilesMetadata(readFileSync(join(SECOND_DELTA, 'files_metadata.json'), 'utf8'));
  const decompressor = formatForTarPartition('part_001.tar.lz4').decompressor();
  const chunks: Buffer[] = [];
  const done = new Promise((resolve, reject) => {
    decompressor.on('data', (chunk: Buffer) => chunks.push(chunk));
    decompressor.on('end', resolve);
    decompressor.on('error', reject);
  });
  decompressor.end(readFileSync(join(SECOND_DELTA, 'tar_partitions/part_001.tar.lz4')));
  await done;
  const tar = Buffer.concat(chunks);
  let checked = 0;
  for (let offset = 0; offset + 512 <= tar.length; ) {
    const block = tar.subarray(offset, offset + 512);
    if (block.every((byte) => byte === 0)) break;
    const fields = parseTarHeader(block);
    const size = fields.typeflag === '0' ? fields.size : 0;
    if (files.files.get(fields.name)?.isIncremented) {
      const body = tar.subarray(offset + 512, offset + 512 + size);
      const header = parseIncrementHeader(body, PAGE);
      const scanned = parseBlockNumbers(body.subarray(INCREMENT_HEADER_SIZE), header.blockCount);
      const mapped = map.blocksFor(`/pgdata${fields.name}`, header.fileSize, PAGE);
      assert.ok(mapped instanceof Uint32Array, fields.name);
      const fromWal = new Set(mapped);
      assert.deepEqual([...scanned].filter((blockNumber) => !fromWal.has(blockNumber)), [], `${fields.name}: pages the scan found that WAL does not name`);
      checked++;
    }
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  assert.ok(checked >= 3, `compared ${checked} increments`);
});

test('a missing sidecar makes the map unavailable (the first delta of the fixture had none for group 0)', async () => {
  const walFolder = new Folder(await openFileStorage(STORAGE)).subFolder('wal_005');
  const source = { walFolder, timeline: 1, segmentSize: 16 * 1024 * 1024, walPageSize: PAGE, blockSize: PAGE, lastSegmentWaitMs: 0 };
  await assert.rejects(loadWalDeltaMap(source, 0x2000028n, 0x280000d8n), /000000010000000000000000_delta/);
  await assert.rejects(loadWalDeltaMap(source, 0x2000028n, 0x5000028n), /no WAL group precedes/);
});
