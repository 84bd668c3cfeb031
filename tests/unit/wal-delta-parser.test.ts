// The WAL record parser on synthetic PostgreSQL pages: records spanning pages, full-page images in the PG 13/14
// and PG 15+ `bimg_info` layouts, SAME_REL blocks, the WAL-switch record, zero pages and parser seeds.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BlockLocationList } from '../../src/wal-delta/block-locations.ts';
import { WalParseError, WalRecordParser } from '../../src/wal-delta/wal-record-parser.ts';

const PAGE = 8192;
const MAGIC_PG14 = 0xd10d;
const MAGIC_PG17 = 0xd116;

interface BlockSpec {
  readonly rel: [number, number, number];
  readonly blockNo: number;
  readonly sameRel?: boolean;
  readonly data?: number;
  /** Image: [length, holeOffset, info, holeLength when compressed with a hole]. */
  readonly image?: [number, number, number, number?];
}

/** One XLogRecord: header, block headers, short main-data header, then the payload bytes. */
function record(blocks: readonly BlockSpec[], options: { resourceManager?: number; info?: number; mainData?: number } = {}): Buffer {
  const headers: Buffer[] = [];
  let payload = 0;
  blocks.forEach((block, id) => {
    const flags = (block.data ? 0x20 : 0) | (block.image ? 0x10 : 0) | (block.sameRel ? 0x80 : 0);
    const parts = [Buffer.from([id, flags, (block.data ?? 0) & 0xff, (block.data ?? 0) >> 8])];
    payload += block.data ?? 0;
    if (block.image) {
      const [length, holeOffset, info, holeLength] = block.image;
      const image = Buffer.alloc(5);
      image.writeUInt16LE(length, 0);
      image.writeUInt16LE(holeOffset, 2);
      image.writeUInt8(info, 4);
      parts.push(image);
      if (holeLength !== undefined) parts.push(Buffer.from([holeLength & 0xff, holeLength >> 8]));
      payload += length;
    }
    if (!block.sameRel) {
      const rel = Buffer.alloc(12);
      block.rel.forEach((value, index) => rel.writeUInt32LE(value, index * 4));
      parts.push(rel);
    }
    const blockNo = Buffer.alloc(4);
    blockNo.writeUInt32LE(block.blockNo);
    parts.push(blockNo);
    headers.push(...parts);
  });
  const mainData = options.mainData ?? 0;
  if (mainData > 0) headers.push(Buffer.from([255, mainData]));
  const body = Buffer.concat([...headers, Buffer.alloc(payload + mainData, 0xab)]);
  const header = Buffer.alloc(24);
  header.writeUInt32LE(24 + body.length, 0);
  header.writeUInt8(options.info ?? 0, 16);
  header.writeUInt8(options.resourceManager ?? 10, 17);
  return Buffer.concat([header, body]);
}

/** Lays records out on WAL pages as PostgreSQL does (long header first, continuation records, MAXALIGN). */
function pages(records: readonly Buffer[], magic: number, pageCount: number): Buffer {
  const wal = Buffer.alloc(PAGE * pageCount);
  let page = 0;
  let position = 40;
  const startPage = (remaining: number): void => {
    const at = page * PAGE;
    wal.writeUInt16LE(magic, at);
    wal.writeUInt16LE((page === 0 ? 2 : 0) | (remaining > 0 ? 1 : 0), at + 2);
    wal.writeUInt32LE(1, at + 4);
    wal.writeUInt32LE(remaining, at + 16);
    position = page === 0 ? 40 : 24;
  };
  startPage(0);
  for (const data of records) {
    let offset = 0;
    while (offset < data.length) {
      const room = PAGE - position;
      const take = Math.min(room, data.length - offset);
      data.copy(wal, page * PAGE + position, offset, offset + take);
      offset += take;
      position += take;
      if (position >= PAGE) {
        page++;
        startPage(data.length - offset);
      }
    }
    position = (position + 7) & ~7;
    if (position >= PAGE) {
      page++;
      startPage(0);
    }
  }
  for (page++; page < pageCount; page++) startPage(0);
  return wal;
}

function parseAll(wal: Buffer, parser = new WalRecordParser()): { locations: string[]; parser: WalRecordParser } {
  const list = new BlockLocationList();
  for (let at = 0; at < wal.length; at += PAGE) parser.parsePage(wal.subarray(at, at + PAGE), list);
  return { locations: list.toArray().map((l) => `${l.spcNode}/${l.dbNode}/${l.relNode}/${l.blockNo}`), parser };
}

test('block references of records inside a page and of records spanning pages are all found', () => {
  const big = record([{ rel: [1663, 5, 16384], blockNo: 9, data: 20000 }]);
  const wal = pages([record([{ rel: [1663, 5, 16384], blockNo: 1 }]), big, record([{ rel: [1663, 5, 16385], blockNo: 2, data: 10 }, { rel: [0, 0, 0], blockNo: 3, sameRel: true }])], MAGIC_PG17, 5);
  assert.deepEqual(parseAll(wal).locations, ['1663/5/16384/1', '1663/5/16384/9', '1663/5/16385/2', '1663/5/16385/3']);
});

test('a full-page image marked APPLY parses with the PG 15+ layout and fails with the PG 14 one', () => {
  // bimg_info 0x02 is BKPIMAGE_APPLY on PG 15+, BKPIMAGE_IS_COMPRESSED on PG 13/14.
  const withImage = record([{ rel: [1663, 5, 16384], blockNo: 4, image: [8192, 0, 0x02] }]);
  assert.deepEqual(parseAll(pages([withImage], MAGIC_PG17, 3)).locations, ['1663/5/16384/4']);
  assert.throws(() => parseAll(pages([withImage], MAGIC_PG14, 3)), WalParseError);
  // The PG 14 spelling of an applied image with a hole parses on PG 14.
  const pg14Image = record([{ rel: [1663, 5, 16384], blockNo: 6, image: [8000, 100, 0x01 | 0x04] }]);
  assert.deepEqual(parseAll(pages([pg14Image], MAGIC_PG14, 3)).locations, ['1663/5/16384/6']);
  // PG 15+ compressed image with a hole carries its hole length.
  const compressed = record([{ rel: [1663, 5, 16384], blockNo: 8, image: [300, 100, 0x01 | 0x02 | 0x08, 4000] }]);
  assert.deepEqual(parseAll(pages([compressed], MAGIC_PG17, 3)).locations, ['1663/5/16384/8']);
});

test('nothing after a WAL-switch record is parsed and zero pages are skipped', () => {
  const switchRecord = record([], { resourceManager: 0, info: 0x40 });
  const wal = pages([record([{ rel: [1663, 5, 1], blockNo: 1 }]), switchRecord], MAGIC_PG17, 4);
  // Garbage after the switch record on the same page must be ignored.
  wal.fill(0x5a, 200, 400);
  wal.fill(0, PAGE * 3);
  assert.deepEqual(parseAll(wal).locations, ['1663/5/1/1']);
});

test('a parser seeded with a record head completes the record the next segment continues', () => {
  const spanning = record([{ rel: [1663, 5, 77], blockNo: 5, data: 9000 }]);
  const wal = pages([record([{ rel: [1663, 5, 1], blockNo: 1 }]), spanning], MAGIC_PG17, 4);
  // Split after the first page: the first parser ends with the head, a seeded one finishes it.
  const first = parseAll(wal.subarray(0, PAGE));
  assert.deepEqual(first.locations, ['1663/5/1/1']);
  const head = first.parser.currentRecordHead();
  assert.ok(head.length > 0);
  assert.deepEqual(parseAll(wal.subarray(PAGE), new WalRecordParser({}, head)).locations, ['1663/5/77/5']);
  // A fresh parser discards the continuation instead (it becomes the segment's tail).
  const fresh = new WalRecordParser();
  const result = fresh.parsePage(wal.subarray(PAGE, 2 * PAGE), new BlockLocationList());
  assert.equal(result.discardedTail?.length, spanning.length - head.length);
});

test('malformed records are parse errors: out-of-order block ids and SAME_REL without a relation', () => {
  const bad = record([{ rel: [1663, 5, 1], blockNo: 1 }]);
  bad.writeUInt8(0x80, 25); // first block claims SAME_REL
  assert.throws(() => parseAll(pages([bad], MAGIC_PG17, 2)), /previous rel file node/);
  const outOfOrder = record([{ rel: [1663, 5, 1], blockNo: 1 }, { rel: [1663, 5, 2], blockNo: 2 }]);
  outOfOrder.writeUInt8(0, 24 + 4 + 12 + 4); // second block id 1 → 0
  assert.throws(() => parseAll(pages([outOfOrder], MAGIC_PG17, 2)), /out of order block id/);
});
