// backup-push --verify: PostgreSQL's page checksum against pages a real server wrote (initdb --data-checksums), and
// WAL-G's rules for which pages and files are checked and how corrupt blocks are recorded.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { corruptBlocksRecord, pageChecksum, pageChecksumScript, PageVerifier } from '../../src/backup-push/page-checksum.ts';

const PAGE = 8192;
/** Made by PostgreSQL 17 with data checksums: the first pages of a heap (500 rows) and of its btree index, checkpointed. */
const HEAP = readFileSync(join(import.meta.dirname, 'fixtures/pg17-checksummed-heap.bin'));
const BTREE = readFileSync(join(import.meta.dirname, 'fixtures/pg17-checksummed-btree.bin'));

function storedChecksum(file: Buffer, block: number): number {
  return file.readUInt16LE(block * PAGE + 8);
}

test('the checksum of every page PostgreSQL wrote matches the one it stored', () => {
  for (const file of [HEAP, BTREE]) {
    for (let block = 0; block < file.length / PAGE; block++) {
      assert.notEqual(storedChecksum(file, block), 0);
      assert.equal(pageChecksum(file, block * PAGE, PAGE, block), storedChecksum(file, block), `block ${block}`);
    }
  }
});

test('the native checksum and the TypeScript reference agree on real and random pages, any block number', () => {
  for (const file of [HEAP, BTREE]) {
    for (let block = 0; block < file.length / PAGE; block++) {
      assert.equal(pageChecksumScript(file, block * PAGE, PAGE, block), storedChecksum(file, block), `block ${block}`);
    }
  }
  for (let round = 0; round < 200; round++) {
    const page = randomBytes(PAGE);
    const block = round === 0 ? 0xffff_ffff : Math.floor(Math.random() * 2 ** 32);
    assert.equal(pageChecksum(page, 0, PAGE, block), pageChecksumScript(page, 0, PAGE, block), `round ${round}`);
  }
});

test('the page is left as it was (pd_checksum is only hashed as zero)', () => {
  const copy = Buffer.from(HEAP);
  pageChecksum(copy, PAGE, PAGE, 1);
  assert.deepEqual(copy, HEAP);
});

test('a flipped byte anywhere in the page, or the wrong block number, changes the checksum', () => {
  for (const position of [0, 20, 100, 4000, PAGE - 1]) {
    const copy = Buffer.from(HEAP.subarray(0, PAGE));
    copy[position] ^= 0x01;
    assert.notEqual(pageChecksum(copy, 0, PAGE, 0), storedChecksum(HEAP, 0), `byte ${position}`);
  }
  assert.notEqual(pageChecksum(HEAP, 0, PAGE, 131072), storedChecksum(HEAP, 0));
});

test('an unaligned page gives the same checksum', () => {
  const shifted = Buffer.alloc(PAGE + 1);
  HEAP.copy(shifted, 1, 0, PAGE);
  assert.equal(pageChecksum(shifted, 1, PAGE, 0), storedChecksum(HEAP, 0));
});

const verifier = new PageVerifier({ startLsn: 0xffff_ffff_0000_0000n, storeAllCorruptBlocks: false, pageSize: PAGE });

test('verification reports a corrupt data byte by its block number, and passes the rest', () => {
  const copy = Buffer.from(HEAP);
  copy[2 * PAGE + 5000] ^= 0xff;
  const check = verifier.startFile('/data/base/5/16384', copy.length);
  assert.ok(check);
  check.checkRun(copy, copy.length, 0);
  assert.deepEqual(check.finish(), { count: 1, someBlocks: [2] });
  const clean = verifier.startFile('/data/base/5/16384', HEAP.length)!;
  clean.checkRun(HEAP, HEAP.length, 0);
  assert.equal(clean.finish(), undefined);
});

test('blocks of a later segment are checked with their relation-wide number', () => {
  // The fixture's page 0 is block 0 of segment 0; as block 0 of segment 1 (131072) it no longer matches.
  const check = verifier.startFile('/data/base/5/16384.1', PAGE)!;
  check.checkRun(HEAP, PAGE, 0);
  assert.deepEqual(check.finish(), { count: 1, someBlocks: [0] });
});

test('new (all-zero) pages, pages without a checksum and pages written after the backup start are not checked', () => {
  const zero = Buffer.alloc(PAGE);
  const noChecksum = Buffer.from(HEAP.subarray(0, PAGE));
  noChecksum.writeUInt16LE(0, 8);
  noChecksum[5000] ^= 0xff;
  const check = verifier.startFile('/data/base/5/16384', 2 * PAGE)!;
  check.checkPage(zero, 0, 0);
  check.checkPage(noChecksum, 0, 1);
  assert.equal(check.finish(), undefined);

  const lsnHigh = HEAP.readUInt32LE(0);
  const lsnLow = HEAP.readUInt32LE(4);
  const startedBefore = new PageVerifier({ startLsn: (BigInt(lsnHigh) << 32n) | BigInt(lsnLow), storeAllCorruptBlocks: false, pageSize: PAGE });
  const corrupt = Buffer.from(HEAP.subarray(0, PAGE));
  corrupt[5000] ^= 0xff;
  const late = startedBefore.startFile('/data/base/5/16384', PAGE)!;
  late.checkPage(corrupt, 0, 0);
  assert.equal(late.finish(), undefined);
});

test('only relation segment files under base/ or pg_tblspc/ of whole pages are checked', () => {
  assert.equal(verifier.startFile('/data/global/1262', PAGE), undefined);
  assert.equal(verifier.startFile('/data/base/5/16384_fsm', PAGE), undefined);
  assert.equal(verifier.startFile('/data/base/5/16384_vm', PAGE), undefined);
  assert.equal(verifier.startFile('/data/base/5/pg_internal.init', PAGE), undefined);
  assert.equal(verifier.startFile('/data/base/5/16384', 0), undefined);
  assert.equal(verifier.startFile('/data/base/5/16384', PAGE + 1), undefined);
  assert.ok(verifier.startFile('/data/pg_tblspc/16390/PG_17_202406281/5/16391', PAGE));
  assert.ok(verifier.startFile('/data/base/5/16384.3', PAGE));
});

test('at most 10 corrupt block numbers are recorded, sorted, unless all are asked for', () => {
  const blocks = [15, 3, 14, 1, 2, 13, 4, 12, 5, 11, 6, 10];
  assert.deepEqual(corruptBlocksRecord(blocks, false), { count: 12, someBlocks: [1, 2, 3, 4, 5, 6, 10, 11, 12, 13] });
  assert.deepEqual(corruptBlocksRecord(blocks, true), { count: 12, someBlocks: [1, 2, 3, 4, 5, 6, 10, 11, 12, 13, 14, 15] });
  assert.equal(corruptBlocksRecord([], true), undefined);
});
