// wal-push in process: object names, markers, overwrite protection, the background uploader and failures that must
// leave nothing stored.

import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { WalgError } from '../../src/errors.ts';
import type { PutOptions } from '../../src/storage/driver.ts';
import { MemoryStorageDriver } from '../../src/storage/memory.ts';
import {
  DiskArchiveStatusMarkers,
  markerFolderOf,
  markerNameOf,
  NoArchiveStatusMarkers,
  openArchiveStatusMarkers,
  PostgresArchiveStatus,
  walFolderOf,
} from '../../src/wal/archive-status.ts';
import { streamEqualsFile } from '../../src/wal/push.ts';
import { captureLog, fakeSegment, makeTestPusher, makeWalDirectory, storedPlainBytes, writeSegment } from '../helpers/wal-fixtures.ts';

/** In-memory storage whose puts wait first: the uploads take time, as over a network. */
function slowStorage(delayMs: number): MemoryStorageDriver {
  return new (class extends MemoryStorageDriver {
    override async put(key: string, body: Readable, options?: PutOptions): Promise<void> {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      return super.put(key, body, options);
    }
  })();
}

const S1 = '000000010000000000000001';
const S2 = '000000010000000000000002';
const S3 = '000000010000000000000003';
const S4 = '000000010000000000000004';

describe('archive status markers', () => {
  test('a marker is named after the file without its last extension, as WAL-G names them', () => {
    assert.equal(markerNameOf(`/x/pg_wal/${S1}`), S1);
    assert.equal(markerNameOf('/x/pg_wal/00000002.history'), '00000002');
    assert.equal(markerNameOf(`${S1}.ready`), S1);
    assert.equal(markerNameOf(`${S1}.00000028.backup`), `${S1}.00000028`);
  });

  test('the WAL folder is pg_wal, else pg_xlog, else the temp directory', () => {
    const { dataDir } = makeWalDirectory();
    assert.equal(walFolderOf(dataDir), join(dataDir, 'pg_wal'));
    assert.equal(walFolderOf(join(dataDir, 'nothing'), { TMPDIR: '/var/tmp' }), '/var/tmp');
    assert.equal(walFolderOf(join(dataDir, 'nothing'), {}), '/tmp');
  });

  test('mark, check and unmark round-trip through empty files in walg_data/walg_archive_status', async () => {
    const { walDir } = makeWalDirectory();
    const markers = await openArchiveStatusMarkers(walDir);
    assert.ok(markers instanceof DiskArchiveStatusMarkers);
    assert.equal(markers.isUploaded(S2), false);
    await markers.mark(S2);
    assert.deepEqual(readdirSync(markerFolderOf(walDir)), [S2]);
    assert.equal(markers.isUploaded(join(walDir, S2)), true);
    await markers.unmark(`${S2}.ready`);
    assert.equal(markers.isUploaded(S2), false);
  });

  test('an uncreatable marker folder logs an error and turns markers off instead of failing the push', async (t) => {
    const logged = captureLog(t);
    const { walDir } = makeWalDirectory();
    writeFileSync(join(walDir, 'walg_data'), 'a file where the folder should be');
    const markers = await openArchiveStatusMarkers(walDir);
    assert.ok(markers instanceof NoArchiveStatusMarkers);
    assert.match(logged(), /ERROR: .* mkdir .*walg_data\/walg_archive_status: (not a directory|file exists)/);
  });

  test('PG_READY_RENAME turns <wal>.ready into <wal>.done', async () => {
    const { walDir, statusDir } = makeWalDirectory();
    writeFileSync(join(statusDir, `${S3}.ready`), '');
    await new PostgresArchiveStatus(walDir).renameReadyToDone(S3);
    assert.deepEqual(readdirSync(statusDir), [`${S3}.done`]);
    await assert.rejects(new PostgresArchiveStatus(walDir).renameReadyToDone(S4), /rename .*\.ready .*\.done: no such file or directory/);
  });
});

describe('wal-push', () => {
  test('uploads wal_005/<name>.lz4 whose decoded bytes are the file, and logs its FILE PATH', async (t) => {
    const logged = captureLog(t);
    const { walDir } = makeWalDirectory();
    const data = writeSegment(walDir, S1);
    const { pusher, driver } = makeTestPusher(walDir);
    await pusher.push(join(walDir, S1));
    assert.deepEqual([...driver.objects.keys()], [`wal_005/${S1}.lz4`]);
    assert.deepEqual(await storedPlainBytes(driver, `wal_005/${S1}.lz4`), data);
    assert.match(logged(), new RegExp(`INFO: \\d{4}/\\d\\d/\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{6} FILE PATH: ${S1}\\.lz4\\n`));
  });

  test('a file a background upload already stored is not uploaded again; its marker is removed', async () => {
    const { walDir } = makeWalDirectory();
    writeSegment(walDir, S2);
    const { pusher, driver } = makeTestPusher(walDir);
    await pusher.markers.mark(S2);
    await pusher.push(join(walDir, S2));
    assert.equal(driver.objects.size, 0);
    assert.equal(pusher.markers.isUploaded(S2), false);
  });

  test('a missing file fails with WAL-G\'s message and stores nothing', async () => {
    const { walDir } = makeWalDirectory();
    const { pusher, driver } = makeTestPusher(walDir);
    const path = join(walDir, S1);
    await assert.rejects(pusher.push(path), {
      message: `upload: could not open '${path}'\n: open ${path}: no such file or directory`,
    });
    assert.equal(driver.objects.size, 0);
  });

  test('with overwrite protection an identical file is skipped with WAL-G\'s INFO line', async (t) => {
    const logged = captureLog(t);
    const { walDir } = makeWalDirectory();
    writeSegment(walDir, S1);
    const { pusher, driver } = makeTestPusher(walDir, { preventOverwrite: true });
    await pusher.push(join(walDir, S1));
    const stored = driver.objects.get(`wal_005/${S1}.lz4`)!.modified;
    await pusher.push(join(walDir, S1));
    assert.equal(driver.objects.get(`wal_005/${S1}.lz4`)!.modified, stored);
    assert.match(logged(), new RegExp(`INFO: .* WAL file '${join(walDir, S1)}' already archived with equal content, skipping\\n`));
  });

  test('with overwrite protection different content under the same name is an error and the archive keeps the old bytes', async () => {
    const { walDir } = makeWalDirectory();
    const original = writeSegment(walDir, S1);
    const { pusher, driver } = makeTestPusher(walDir, { preventOverwrite: true });
    await pusher.push(join(walDir, S1));
    writeSegment(walDir, S1);
    await assert.rejects(pusher.push(join(walDir, S1)), {
      message: `WAL file '${join(walDir, S1)}' already archived, contents differ, unable to overwrite`,
    });
    assert.deepEqual(await storedPlainBytes(driver, `wal_005/${S1}.lz4`), original);
  });

  test('history files are always protected, even with WALG_PREVENT_WAL_OVERWRITE off', async () => {
    const { walDir } = makeWalDirectory();
    writeFileSync(join(walDir, '00000002.history'), '1\t0/3000000\tno recovery target specified\n');
    const { pusher } = makeTestPusher(walDir, { preventOverwrite: false });
    await pusher.push(join(walDir, '00000002.history'));
    await pusher.push(join(walDir, '00000002.history'));
    writeFileSync(join(walDir, '00000002.history'), '1\t0/4000000\tsomething else\n');
    await assert.rejects(pusher.push(join(walDir, '00000002.history')), /already archived, contents differ, unable to overwrite/);
  });

  test('without protection a plain segment is overwritten', async () => {
    const { walDir } = makeWalDirectory();
    writeSegment(walDir, S1);
    const { pusher, driver } = makeTestPusher(walDir);
    await pusher.push(join(walDir, S1));
    const second = writeSegment(walDir, S1);
    await pusher.push(join(walDir, S1));
    assert.deepEqual(await storedPlainBytes(driver, `wal_005/${S1}.lz4`), second);
  });

  test('overwrite protection finds an archived copy under another compression extension', async () => {
    const { walDir } = makeWalDirectory();
    const data = writeSegment(walDir, S1);
    const driver = new MemoryStorageDriver();
    driver.objects.set(`wal_005/${S1}.`, { data, modified: new Date() });
    const { pusher } = makeTestPusher(walDir, { preventOverwrite: true }, driver);
    await pusher.push(join(walDir, S1));
    assert.deepEqual([...driver.objects.keys()], [`wal_005/${S1}.`]);
  });

  test('the background uploader pushes the following .ready segments and other .ready files, and marks them', async () => {
    const { walDir, statusDir } = makeWalDirectory();
    writeSegment(walDir, S1, { ready: true });
    const second = writeSegment(walDir, S2, { ready: true });
    writeSegment(walDir, S3, { ready: true });
    writeFileSync(join(walDir, '00000002.history'), 'history\n');
    writeFileSync(join(statusDir, '00000002.history.ready'), '');
    writeSegment(walDir, S4); // not ready yet: must be left alone
    // A slow storage keeps the foreground busy long enough for the uploader to find everything (as on a real network).
    const { pusher, driver } = makeTestPusher(walDir, {}, slowStorage(100));
    await pusher.push(join(walDir, S1));
    assert.deepEqual([...driver.objects.keys()].sort(), [`wal_005/${S1}.lz4`, `wal_005/${S2}.lz4`, `wal_005/${S3}.lz4`, `wal_005/00000002.history.lz4`]);
    assert.deepEqual(await storedPlainBytes(driver, `wal_005/${S2}.lz4`), second);
    assert.deepEqual(readdirSync(markerFolderOf(walDir)).sort(), [S2, S3, '00000002']);
    // PostgreSQL still owns the .ready files (PG_READY_RENAME is off).
    assert.ok(existsSync(join(statusDir, `${S2}.ready`)));
    // PostgreSQL's own call for S2 then finds the marker and uploads nothing.
    driver.objects.delete(`wal_005/${S2}.lz4`);
    await pusher.push(join(walDir, S2));
    assert.equal(driver.objects.has(`wal_005/${S2}.lz4`), false);
    assert.equal(pusher.markers.isUploaded(S2), false);
  });

  test('PG_READY_RENAME renames the background-uploaded .ready files to .done', async () => {
    const { walDir, statusDir } = makeWalDirectory();
    writeSegment(walDir, S1, { ready: true });
    writeSegment(walDir, S2, { ready: true });
    const { pusher } = makeTestPusher(walDir, { readyRename: true });
    await pusher.push(join(walDir, S1));
    assert.deepEqual(readdirSync(statusDir).sort(), [`${S1}.ready`, `${S2}.done`]);
  });

  test('TOTAL_BG_UPLOADED_LIMIT and WALG_UPLOAD_CONCURRENCY of 1 turn the background uploader off', async () => {
    for (const overrides of [{ totalBackgroundLimit: 1 }, { uploadConcurrency: () => 1 }]) {
      const { walDir } = makeWalDirectory();
      writeSegment(walDir, S1, { ready: true });
      writeSegment(walDir, S2, { ready: true });
      const { pusher, driver } = makeTestPusher(walDir, overrides);
      await pusher.push(join(walDir, S1));
      assert.deepEqual([...driver.objects.keys()], [`wal_005/${S1}.lz4`]);
    }
  });

  test('TOTAL_BG_UPLOADED_LIMIT caps how many files one push sends in the background', async () => {
    const { walDir } = makeWalDirectory();
    for (const name of [S1, S2, S3, S4]) writeSegment(walDir, name, { ready: true });
    // One worker, at most one background file: after S2 the uploader stops looking.
    const { pusher, driver } = makeTestPusher(walDir, { totalBackgroundLimit: 2, uploadConcurrency: () => 2 }, slowStorage(100));
    await pusher.push(join(walDir, S1));
    assert.deepEqual([...driver.objects.keys()].sort(), [`wal_005/${S1}.lz4`, `wal_005/${S2}.lz4`]);
  });

  test('a failed background upload is logged and leaves no marker; the foreground push still succeeds', async (t) => {
    const logged = captureLog(t);
    const { walDir, statusDir } = makeWalDirectory();
    writeSegment(walDir, S1, { ready: true });
    writeFileSync(join(statusDir, `${S2}.ready`), ''); // .ready without its segment
    const { pusher, driver } = makeTestPusher(walDir);
    await pusher.push(join(walDir, S1));
    assert.deepEqual([...driver.objects.keys()], [`wal_005/${S1}.lz4`]);
    assert.equal(pusher.markers.isUploaded(S2), false);
    assert.match(logged(), new RegExp(`ERROR: .* Error of background uploader: upload: could not open '${join(walDir, S2)}'`));
  });

  test('an aborted upload (the daemon\'s timeout) rejects and stores nothing', async () => {
    const { walDir } = makeWalDirectory();
    writeSegment(walDir, S1);
    const slow = slowStorage(200);
    const { pusher } = makeTestPusher(walDir, {}, slow);
    await assert.rejects(pusher.push(join(walDir, S1), { signal: AbortSignal.timeout(20), background: false }), WalgError);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(slow.objects.size, 0);
  });

  test('a storage failure half-way leaves no object and names the file', async () => {
    const { walDir } = makeWalDirectory();
    writeSegment(walDir, S1);
    const failing = new (class extends MemoryStorageDriver {
      override async put(key: string, body: Readable): Promise<void> {
        let seen = 0;
        for await (const chunk of body) {
          seen += (chunk as Buffer).length;
          if (seen > 1000) throw new Error('connection reset by peer');
        }
        throw new Error('unreachable');
      }
    })();
    const { pusher } = makeTestPusher(walDir, {}, failing);
    await assert.rejects(pusher.push(join(walDir, S1)), (error: Error) => {
      assert.match(error.message, new RegExp(`^upload: could not Upload '${join(walDir, S1)}'\\n: .*connection reset by peer`));
      return true;
    });
    assert.equal(failing.objects.size, 0);
  });
});

describe('streamEqualsFile', () => {
  test('equal only for exactly the same bytes: a shorter, longer or different stream is not', async () => {
    const { walDir } = makeWalDirectory();
    const data = fakeSegment(100_000);
    const path = join(walDir, 'file');
    writeFileSync(path, data);
    const chunks = (buffer: Buffer): Readable => Readable.from([buffer.subarray(0, 30_000), buffer.subarray(30_000)]);
    assert.equal(await streamEqualsFile(chunks(data), path), true);
    assert.equal(await streamEqualsFile(chunks(data.subarray(0, 99_999)), path), false);
    assert.equal(await streamEqualsFile(chunks(Buffer.concat([data, Buffer.from([1])])), path), false);
    const changed = Buffer.from(data);
    changed[70_000] ^= 1;
    assert.equal(await streamEqualsFile(chunks(changed), path), false);
  });
});
