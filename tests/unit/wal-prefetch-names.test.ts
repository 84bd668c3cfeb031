// Prefetch naming: where prefetched files go, which names come next, which are stale, when WAL-G prefetches.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { followingWalNames, isOlderWal, prefetchLocations, prefetchNeeded, queuedMarkerPid, shouldPrefetch } from '../../src/wal/prefetch-names.ts';

const MIB = 1024 * 1024;

describe('prefetch names', () => {
  test('files go to <destination dir>/.wal-g/prefetch, in-progress ones to running/, walnut\'s queued markers to queued/', () => {
    assert.deepEqual(prefetchLocations('/data/pg_wal', '000000010000000000000002', undefined), {
      prefetchFolder: '/data/pg_wal/.wal-g/prefetch',
      runningFolder: '/data/pg_wal/.wal-g/prefetch/running',
      runningFile: '/data/pg_wal/.wal-g/prefetch/running/000000010000000000000002',
      prefetchedFile: '/data/pg_wal/.wal-g/prefetch/000000010000000000000002',
      queuedFolder: '/data/pg_wal/.wal-g/prefetch/queued',
      queuedFile: '/data/pg_wal/.wal-g/prefetch/queued/000000010000000000000002',
    });
  });

  test('a queued marker holds a process id; anything else names no process', () => {
    assert.equal(queuedMarkerPid('1234\n'), 1234);
    assert.equal(queuedMarkerPid(''), undefined);
    assert.equal(queuedMarkerPid('0'), undefined);
    assert.equal(queuedMarkerPid('-5'), undefined);
    assert.equal(queuedMarkerPid('12ab'), undefined);
  });

  test('WALG_PREFETCH_DIR replaces the destination directory, and an empty one means the current directory', () => {
    assert.equal(prefetchLocations('/data/pg_wal', 'X', '/var/cache/walg').prefetchedFile, '/var/cache/walg/.wal-g/prefetch/X');
    assert.equal(prefetchLocations('/data/pg_wal', 'X', '').prefetchedFile, '.wal-g/prefetch/X');
  });

  test('no prefetch after history or partial files, or with a download concurrency of 1', () => {
    assert.equal(shouldPrefetch('000000010000000000000002', 10), true);
    assert.equal(shouldPrefetch('00000002.history', 10), false);
    assert.equal(shouldPrefetch('000000010000000000000002.partial', 10), false);
    assert.equal(shouldPrefetch('000000010000000000000002', 1), false);
  });

  test('the following names stay on the timeline and roll over the log id by segment size', () => {
    assert.deepEqual(followingWalNames('0000000100000000000000FE', 3, 16 * MIB), [
      '0000000100000000000000FF',
      '000000010000000100000000',
      '000000010000000100000001',
    ]);
    assert.deepEqual(followingWalNames('000000020000000000000FFF', 1, 1 * MIB), ['000000020000000100000000']);
    assert.throws(() => followingWalNames('00000002.history', 1, 16 * MIB), /get next filename/);
  });

  test('cleanup counts lower timelines and lower segments as older, and leaves other names alone', () => {
    assert.equal(isOlderWal('000000010000000000000005', '000000010000000000000006', 16 * MIB), true);
    assert.equal(isOlderWal('000000010000000000000009', '000000020000000000000006', 16 * MIB), true);
    assert.equal(isOlderWal('000000010000000000000006', '000000010000000000000006', 16 * MIB), false);
    assert.equal(isOlderWal('000000020000000000000001', '000000010000000000000006', 16 * MIB), false);
    assert.equal(isOlderWal('running', '000000010000000000000006', 16 * MIB), false);
  });
});

describe('when a wal-fetch starts a prefetch child', () => {
  test('always when the next segment is neither prefetched nor in progress', () => {
    assert.equal(prefetchNeeded([false, true, true, true]), true);
  });
  test('when half of the window or more is missing, even if the next one is there', () => {
    assert.equal(prefetchNeeded([true, true, false, false]), true);
    assert.equal(prefetchNeeded([true, false, false, false, false, true]), true);
  });
  test('not when the next one is there and less than half is missing (steady replay)', () => {
    assert.equal(prefetchNeeded([true, true, true, false]), false);
    assert.equal(prefetchNeeded([true, true, true, true, true, true, true, true, true, false]), false);
    assert.equal(prefetchNeeded([]), false);
  });
});
