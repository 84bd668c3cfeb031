// The `wi1` increment format and the paged-file rules shared by backup-push and backup-fetch.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  encodeIncrementHeader,
  incrementSize,
  isMissingPageHeader,
  isOrioledbDataPath,
  isPagedFile,
  parseBlockNumbers,
  parseIncrementHeader,
} from '../../src/backup/increment.ts';

test('an increment header round-trips: magic, file size, block count and block list, little-endian', () => {
  const header = encodeIncrementHeader(3 * 8192, [0, 2]);
  assert.deepEqual([...header.subarray(0, 4)], [0x77, 0x69, 0x31, 0x55]);
  assert.equal(header.length, 16 + 8);
  assert.equal(header.readBigUInt64LE(4), 24576n);
  const parsed = parseIncrementHeader(header.subarray(0, 16), 8192);
  assert.deepEqual(parsed, { fileSize: 24576, pageSize: 8192, blockCount: 2 });
  assert.deepEqual([...parseBlockNumbers(header.subarray(16), 2)], [0, 2]);
  assert.equal(incrementSize(2, 8192), 16 + 2 * 4 + 2 * 8192);
});

test('a wrong magic is "Invalid increment file header", another version "Unknown increment file header"', () => {
  const header = encodeIncrementHeader(8192, [0]);
  const wrongMagic = Buffer.from(header);
  wrongMagic[3] = 0x56;
  assert.throws(() => parseIncrementHeader(wrongMagic.subarray(0, 16), 8192), /^WalgError: Invalid increment file header$/);
  const otherVersion = Buffer.from(header);
  otherVersion[2] = 0x32;
  assert.throws(() => parseIncrementHeader(otherVersion.subarray(0, 16), 8192), /Unknown increment file header/);
});

test('OrioleDB increments carry their own page size', () => {
  const header = encodeIncrementHeader(4 * 512, [1, 3], 512);
  const parsed = parseIncrementHeader(header.subarray(0, 18), 8192, true);
  assert.deepEqual(parsed, { fileSize: 2048, pageSize: 512, blockCount: 2 });
  assert.equal(isOrioledbDataPath('/orioledb_data/1/2'), true);
  assert.equal(isOrioledbDataPath('/base/1/2'), false);
});

test('paged files are main-fork relation segments under base or pg_tblspc with whole pages', () => {
  assert.equal(isPagedFile('/data/base/16384/16385', 8192 * 3, false, 8192), true);
  assert.equal(isPagedFile('/data/base/16384/16385.1', 8192, false, 8192), true);
  assert.equal(isPagedFile('/data/pg_tblspc/16384/PG_16/5/16390', 8192, false, 8192), true);
  assert.equal(isPagedFile('/data/base/16384/16385_fsm', 8192, false, 8192), false);
  assert.equal(isPagedFile('/data/base/16384/16385', 8000, false, 8192), false);
  assert.equal(isPagedFile('/data/base/16384/16385', 0, false, 8192), false);
  assert.equal(isPagedFile('/data/global/1262', 8192, false, 8192), false);
  assert.equal(isPagedFile('/data/pg_xact/0000', 8192, false, 8192), false);
});

test('a page is missing when its 24 header bytes are zero', () => {
  const page = Buffer.alloc(8192);
  assert.equal(isMissingPageHeader(page), true);
  page[23] = 1;
  assert.equal(isMissingPageHeader(page), false);
  page[23] = 0;
  page[100] = 1;
  assert.equal(isMissingPageHeader(page), true);
});
