// Timeline logic behind wal-show, wal-verify and wal-restore: go-pretty rendering, history parsing, the integrity
// scan across a timeline switch, and the divergence computation pg_rewind's helper uses.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { Folder } from '../../src/storage/driver.ts';
import { MemoryStorageDriver } from '../../src/storage/memory.ts';
import { numericText, renderPrettyTable } from '../../src/timeline/pretty-table.ts';
import { parseHistoryFile, timelineOfLsn } from '../../src/timeline/history.ts';
import { renderWalVerifyJson, renderWalVerifyText, runWalVerify } from '../../src/timeline/wal-verify.ts';
import { collectTimelineInfos, renderWalShowJson } from '../../src/timeline/wal-show.ts';
import { findLastCommonPoint, missingWalNames } from '../../src/timeline/wal-restore.ts';
import { segmentsFromNames } from '../../src/timeline/segment-names.ts';

const MiB16 = 16 * 1024 * 1024;

async function storageWith(objects: Record<string, string>): Promise<Folder> {
  const root = new Folder(new MemoryStorageDriver());
  for (const [key, body] of Object.entries(objects)) await root.put(key, Readable.from([Buffer.from(body)]));
  return root;
}

function segment(timeline: number, number: number): string {
  return `${timeline.toString(16).toUpperCase().padStart(8, '0')}00000000${number.toString(16).toUpperCase().padStart(8, '0')}`;
}

test('go-pretty tables right-align numeric columns (header included) and upper-case the header', () => {
  const text = renderPrettyTable({
    header: ['TLI', 'Start', 'Status'],
    rows: [
      [3, 'AAAA', numericText('MISSING_DELAYED')],
      [12, 'B', numericText('FOUND')],
    ],
  });
  assert.equal(
    text,
    '+-----+-------+-----------------+\n' +
      '| TLI | START |          STATUS |\n' +
      '+-----+-------+-----------------+\n' +
      '|   3 | AAAA  | MISSING_DELAYED |\n' +
      '|  12 | B     |           FOUND |\n' +
      '+-----+-------+-----------------+\n',
  );
  assert.equal(renderPrettyTable({ header: ['A'], rows: [] }), '+---+\n| A |\n+---+\n+---+\n');
});

test('history files: tab-separated records are parsed, comments and blank lines skipped, a bad LSN is an error', () => {
  const records = parseHistoryFile('1\t0/3000000\tno recovery target specified\n\n# comment\n2\t0/5000148\tat restore point "x"\n');
  assert.deepEqual(records, [
    { parentTimeline: 1, switchLsn: 0x3000000n, comment: 'no recovery target specified' },
    { parentTimeline: 2, switchLsn: 0x5000148n, comment: 'at restore point "x"' },
  ]);
  assert.throws(() => parseHistoryFile('1\tnot-an-lsn\treason\n'));
  assert.equal(timelineOfLsn(records, 3, 0x2000000n), 1);
  assert.equal(timelineOfLsn(records, 3, 0x4000000n), 2);
  assert.equal(timelineOfLsn(records, 3, 0x6000000n), 3);
});

test('wal-verify integrity follows the timeline switch and marks the newest gaps uploading, older ones lost', async () => {
  // Timeline 1 holds segments 1..4 (switch at 0/5000100, i.e. in segment 5), timeline 2 holds 5..10 minus 6 and 9.
  const objects: Record<string, string> = { 'wal_005/00000002.history.br': '', 'basebackups_005/base_000000010000000000000002_backup_stop_sentinel.json': '{}' };
  for (const number of [1, 2, 3, 4]) objects[`wal_005/${segment(1, number)}.lz4`] = 'x';
  for (const number of [5, 7, 8, 10]) objects[`wal_005/${segment(2, number)}.lz4`] = 'x';
  objects['basebackups_005/base_000000010000000000000002/metadata.json'] = '{"start_lsn":33554472,"finish_lsn":33554720,"is_permanent":false}';
  delete objects['wal_005/00000002.history.br'];
  objects['wal_005/00000002.history'] = '1\t0/5000100\tno recovery target specified\n';
  const root = await storageWith(objects);
  const results = await runWalVerify(root, {
    checks: ['integrity', 'timeline'],
    currentSegment: { timeline: 2, segmentNumber: 11n },
    segmentSize: MiB16,
    uploadingRange: 2,
    delayedRange: 0,
    crypter: undefined,
  });
  assert.equal(
    renderWalVerifyJson(results),
    '{"integrity":{"status":"FAILURE","details":[' +
      '{"timeline_id":1,"start_segment":"000000010000000000000002","end_segment":"000000010000000000000004","segments_count":3,"status":"FOUND"},' +
      '{"timeline_id":2,"start_segment":"000000020000000000000005","end_segment":"000000020000000000000005","segments_count":1,"status":"FOUND"},' +
      '{"timeline_id":2,"start_segment":"000000020000000000000006","end_segment":"000000020000000000000006","segments_count":1,"status":"MISSING_LOST"},' +
      '{"timeline_id":2,"start_segment":"000000020000000000000007","end_segment":"000000020000000000000008","segments_count":2,"status":"FOUND"},' +
      '{"timeline_id":2,"start_segment":"000000020000000000000009","end_segment":"000000020000000000000009","segments_count":1,"status":"MISSING_UPLOADING"},' +
      '{"timeline_id":2,"start_segment":"00000002000000000000000A","end_segment":"00000002000000000000000A","segments_count":1,"status":"FOUND"}]},' +
      '"timeline":{"status":"OK","details":{"current_timeline_id":2,"highest_storage_timeline_id":2}}}',
  );
  assert.match(renderWalVerifyText(results), /^\[wal-verify\] integrity check status: FAILURE\n\[wal-verify\] integrity check details:\n\+-----\+/);
  assert.match(renderWalVerifyText(results), /\|   2 \| 000000020000000000000009 \| 000000020000000000000009 \|              1 \| MISSING_UPLOADING \|/);

  const infos = await collectTimelineInfos(root, { showBackups: false, segmentSize: MiB16, crypter: undefined });
  assert.equal(
    renderWalShowJson(infos),
    '[{"id":1,"parent_id":0,"switch_point_lsn":0,"start_segment":"000000010000000000000001","end_segment":"000000010000000000000004","segments_count":4,"missing_segments":[],"segment_range_size":4,"status":"OK"},' +
      '{"id":2,"parent_id":1,"switch_point_lsn":83886336,"start_segment":"000000020000000000000005","end_segment":"00000002000000000000000A","segments_count":4,"missing_segments":["000000020000000000000009","000000020000000000000006"],"segment_range_size":6,"status":"LOST_SEGMENTS"}]',
  );
});

test('wal-verify without backups scans to segment 1 and a leading gap is only a warning', async () => {
  const root = await storageWith({ [`wal_005/${segment(1, 3)}.lz4`]: 'x', [`wal_005/${segment(1, 4)}.lz4`]: 'x' });
  const results = await runWalVerify(root, {
    checks: ['integrity'],
    currentSegment: { timeline: 1, segmentNumber: 5n },
    segmentSize: MiB16,
    uploadingRange: 1,
    delayedRange: 0,
    crypter: undefined,
  });
  assert.equal(results.integrity?.status, 'WARNING');
  assert.deepEqual(results.integrity?.details?.map((sequence) => [sequence.startSegment, sequence.status]), [
    ['000000010000000000000001', 'MISSING_LOST'],
    ['000000010000000000000003', 'FOUND'],
  ]);
});

test('wal-restore divergence: the last common point and the source segments missing since it', () => {
  const target = parseHistoryFile('1\t0/3000100\tx\n');
  const source = parseHistoryFile('1\t0/3000100\tx\n2\t0/6000200\ty\n');
  assert.deepEqual(findLastCommonPoint(target, source), { lsn: 0x3000100n, timeline: 1 });
  assert.throws(() => findLastCommonPoint(target, target), /two clusters on the same timeline/);
  const diverged = parseHistoryFile('1\t0/2800000\tz\n');
  assert.deepEqual(findLastCommonPoint(diverged, source), { lsn: 0x2800000n, timeline: 1 });

  // Source is on timeline 3 with segments 6..9 locally, but lacks 7 on timeline 3 and 4..5 on timeline 2.
  const local = segmentsFromNames([segment(3, 6), segment(3, 8), segment(3, 9), segment(2, 3), 'archive_status', '00000003.history'], MiB16);
  assert.deepEqual(missingWalNames(3n, 1, 3, source, local, MiB16), [segment(3, 7), segment(2, 5), segment(2, 4)]);
});
