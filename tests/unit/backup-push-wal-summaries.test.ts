// Walnut-only deltas from PostgreSQL 17+ WAL summaries: whether the summaries cover the range since the parent, the
// blocks each segment file's increment takes (modified runs plus everything from a truncation's limit block on), and
// the fallbacks when summaries cannot be used.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { firstUncoveredLsn, loadWalSummaryDeltaMap, parseLsn, WalSummaryDeltaMap, type SummaryQueries } from '../../src/backup-push/wal-summaries.ts';

const PAGE = 8192;
const SEGMENT_BLOCKS = 131072;

test('summaries cover a range when they chain without a gap on its timeline', () => {
  const ranges = [
    { timeline: 1, start: 0x100n, end: 0x200n },
    { timeline: 1, start: 0x200n, end: 0x300n },
    { timeline: 2, start: 0x300n, end: 0x400n },
  ];
  assert.equal(firstUncoveredLsn(ranges, 1, 0x150n, 0x300n), undefined);
  assert.equal(firstUncoveredLsn(ranges, 1, 0x150n, 0x301n), 0x300n);
  assert.equal(firstUncoveredLsn(ranges, 1, 0x50n, 0x200n), 0x50n);
  assert.equal(firstUncoveredLsn([ranges[0], { timeline: 1, start: 0x210n, end: 0x300n }], 1, 0x100n, 0x300n), 0x200n);
  assert.equal(firstUncoveredLsn(ranges, 2, 0x300n, 0x400n), undefined);
});

test('LSN text parses as PostgreSQL prints it', () => {
  assert.equal(parseLsn('0/3000028'), 0x3000028n);
  assert.equal(parseLsn('1A/FF'), (0x1an << 32n) | 0xffn);
});

test('a segment file takes its modified blocks, within the file and relative to the segment', () => {
  const map = new WalSummaryDeltaMap();
  map.addRow([1663, 5, 16384, null, `0-2,10-10,${SEGMENT_BLOCKS + 3}-${SEGMENT_BLOCKS + 4}`]);
  assert.deepEqual([...(map.blocksFor('/data/base/5/16384', 8 * PAGE, PAGE) as Uint32Array)], [0, 1, 2]);
  assert.deepEqual([...(map.blocksFor('/data/base/5/16384', 20 * PAGE, PAGE) as Uint32Array)], [0, 1, 2, 10]);
  assert.deepEqual([...(map.blocksFor('/data/base/5/16384.1', 10 * PAGE, PAGE) as Uint32Array)], [3, 4]);
});

test('after a truncation every block from the limit block to the end of the file is taken', () => {
  const map = new WalSummaryDeltaMap();
  map.addRow(['1663', '5', '16384', '4', '1-1']);
  assert.deepEqual([...(map.blocksFor('/data/base/5/16384', 7 * PAGE, PAGE) as Uint32Array)], [1, 4, 5, 6]);
  // A relation created (or re-created) in the range has limit block 0: the whole file.
  map.addRow(['16390', '5', '16400', '0', null]);
  assert.deepEqual([...(map.blocksFor('/data/pg_tblspc/16390/PG_17_202406281/5/16400', 3 * PAGE, PAGE) as Uint32Array)], [0, 1, 2]);
});

test('a relation the summaries do not mention has an empty increment; a non-relation path is scanned', () => {
  const map = new WalSummaryDeltaMap();
  assert.deepEqual([...(map.blocksFor('/data/base/5/16384', 4 * PAGE, PAGE) as Uint32Array)], []);
  assert.equal(map.blocksFor('/data/global/1262', 4 * PAGE, PAGE), 'unknown');
});

function fakeSession(version: number, answers: Record<string, (string | null)[][]>): SummaryQueries & { asked: string[] } {
  const asked: string[] = [];
  return {
    version,
    asked,
    async rows(text: string) {
      asked.push(text);
      for (const [key, rows] of Object.entries(answers)) if (text.includes(key)) return rows;
      throw new Error(`unexpected query ${text}`);
    },
  };
}

const REQUEST = { parentStartLsn: 0x3000028n, parentTimeline: 1, startLsn: 0x5000028n, timeline: 1, waitMs: 0 };

test('summaries are not used before PostgreSQL 17, with summarize_wal off, across a timeline switch or a gap', async () => {
  assert.equal(await loadWalSummaryDeltaMap(fakeSession(160004, {}), REQUEST), undefined);
  assert.equal(await loadWalSummaryDeltaMap(fakeSession(170002, { summarize_wal: [['off']] }), REQUEST), undefined);
  assert.equal(await loadWalSummaryDeltaMap(fakeSession(170002, { summarize_wal: [['on']] }), { ...REQUEST, parentTimeline: 2, timeline: 3 }), undefined);
  const gap = fakeSession(170002, {
    summarize_wal: [['on']],
    pg_get_wal_summarizer_state: [['1', '0/5000028']],
    'from pg_available_wal_summaries() order by': [['1', '0/1000000', '0/4000000']],
  });
  assert.equal(await loadWalSummaryDeltaMap(gap, REQUEST), undefined);
  assert.ok(!gap.asked.some((text) => text.includes('pg_wal_summary_contents')));
});

test('covered summaries give the map of their contents', async () => {
  const session = fakeSession(180000, {
    summarize_wal: [['on']],
    pg_get_wal_summarizer_state: [['1', '0/5000028']],
    'from pg_available_wal_summaries() order by': [
      ['1', '0/1000000', '0/4000000'],
      ['1', '0/4000000', '0/5000028'],
    ],
    pg_wal_summary_contents: [['1663', '5', '16384', null, '3-5']],
  });
  const map = await loadWalSummaryDeltaMap(session, REQUEST);
  assert.ok(map);
  assert.deepEqual([...(map.blocksFor('/data/base/5/16384', 10 * PAGE, PAGE) as Uint32Array)], [3, 4, 5]);
});
