// wal-fetch and wal-prefetch in process: the destination rules (O_EXCL, never partial), not-found, the prefetch
// cache with its size and magic checks, and the prefetcher's downloads and cleanup.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { EXIT_WAL_NOT_FOUND } from '../../src/errors.ts';
import { Folder } from '../../src/storage/driver.ts';
import { MemoryStorageDriver } from '../../src/storage/memory.ts';
import { downloadWal, fetchWal, hasWalMagic, WalNotFoundError, type WalFetchOptions } from '../../src/wal/fetch.ts';
import { prefetchCommandLine, prefetchFollowingWals } from '../../src/wal/prefetch.ts';
import { prefetchLocations } from '../../src/wal/prefetch-names.ts';
import { captureLog, fakeSegment, makeTestPusher, makeWalDirectory, SMALL_SEGMENT, writeSegment } from '../helpers/wal-fixtures.ts';

const S1 = '000000010000000000000001';
const S2 = '000000010000000000000002';
const S3 = '000000010000000000000003';
const S4 = '000000010000000000000004';

/** Pushes the named segments into fresh in-memory storage; returns the storage and each segment's bytes. */
async function archiveOf(names: string[]): Promise<{ driver: MemoryStorageDriver; walFolder: Folder; bytes: Map<string, Buffer> }> {
  const { walDir } = makeWalDirectory();
  const { pusher, driver } = makeTestPusher(walDir, { uploadConcurrency: () => 1 });
  const bytes = new Map<string, Buffer>();
  for (const name of names) {
    bytes.set(name, writeSegment(walDir, name));
    await pusher.push(join(walDir, name));
  }
  return { driver, walFolder: new Folder(driver).subFolder('wal_005'), bytes };
}

function fetchOptions(walFolder: Folder, walName: string, destination: string, prefetchDirSetting?: string): WalFetchOptions {
  return { walFolder, walName, destination, crypter: undefined, segmentSize: SMALL_SEGMENT, prefetchDirSetting };
}

/** Every name in a directory tree, for "nothing left behind" checks. */
function namesIn(directory: string): string[] {
  return readdirSync(directory, { recursive: true }).map(String).sort();
}

describe('wal-fetch', () => {
  test('writes the decoded segment to the destination', async () => {
    const { walFolder, bytes } = await archiveOf([S1]);
    const { walDir } = makeWalDirectory();
    const destination = join(walDir, 'RECOVERYXLOG');
    await fetchWal(fetchOptions(walFolder, S1, destination));
    assert.deepEqual(readFileSync(destination), bytes.get(S1));
  });

  test('segments fetched side by side are byte-exact while the decoder refills the slices each writer gives back', async (t) => {
    captureLog(t);
    // 4 MiB segments, different in every 8 KiB page: a slice refilled before its bytes were written would show.
    const names = [S1, S2, S3, S4];
    const { walDir } = makeWalDirectory();
    const { pusher, driver } = makeTestPusher(walDir, { uploadConcurrency: () => 1 });
    const segments = new Map<string, Buffer>();
    for (const [index, name] of names.entries()) {
      const data = Buffer.alloc(4 * SMALL_SEGMENT);
      data.writeUInt16LE(0xd07e, 0);
      for (let page = 1; page * 8192 < data.length; page++) data.write(`${index}:${page};`.repeat(64), page * 8192);
      segments.set(name, writeSegment(walDir, name, { data }));
      await pusher.push(join(walDir, name));
    }
    const walFolder = new Folder(driver).subFolder('wal_005');
    const { walDir: restoreDir } = makeWalDirectory();
    await Promise.all(names.map((name) => downloadWal(walFolder, name, join(restoreDir, `${name}.restored`), undefined)));
    for (const name of names) assert.ok(readFileSync(join(restoreDir, `${name}.restored`)).equals(segments.get(name)!), `${name} byte for byte`);
  });

  test('a missing WAL file is WalNotFoundError with exit code 74, and leaves no file behind', async () => {
    const { walFolder } = await archiveOf([S1]);
    const { walDir } = makeWalDirectory();
    await assert.rejects(fetchWal(fetchOptions(walFolder, S2, join(walDir, 'RECOVERYXLOG'))), (error: unknown) => {
      assert.ok(error instanceof WalNotFoundError);
      assert.equal(error.exitCode, EXIT_WAL_NOT_FOUND);
      assert.equal(error.message, `Archive '${S2}' does not exist.`);
      return true;
    });
    assert.deepEqual(namesIn(walDir), ['archive_status']);
  });

  test('an existing destination is an error (O_EXCL) and keeps its content', async () => {
    const { walFolder } = await archiveOf([S1]);
    const { walDir } = makeWalDirectory();
    const destination = join(walDir, 'RECOVERYXLOG');
    writeFileSync(destination, 'keep me');
    await assert.rejects(fetchWal(fetchOptions(walFolder, S1, destination)), { message: `open ${destination}: file exists` });
    assert.equal(readFileSync(destination, 'utf8'), 'keep me');
  });

  test('a destination directory that does not exist fails like WAL-G\'s open', async () => {
    const { walFolder } = await archiveOf([S1]);
    const { walDir } = makeWalDirectory();
    const destination = join(walDir, 'missing', 'RECOVERYXLOG');
    await assert.rejects(fetchWal(fetchOptions(walFolder, S1, destination)), { message: `open ${destination}: no such file or directory` });
  });

  test('a corrupt object fails and leaves neither the destination nor a temporary file', async () => {
    const { driver, walFolder } = await archiveOf([S1]);
    const stored = driver.objects.get(`wal_005/${S1}.lz4`)!;
    driver.objects.set(`wal_005/${S1}.lz4`, { data: stored.data.subarray(0, stored.data.length / 2), modified: new Date() });
    const { walDir } = makeWalDirectory();
    await assert.rejects(fetchWal(fetchOptions(walFolder, S1, join(walDir, 'RECOVERYXLOG'))));
    assert.deepEqual(namesIn(walDir), ['archive_status']);
  });

  test('objects stored uncompressed under the bare name are found too', async () => {
    const driver = new MemoryStorageDriver();
    const data = fakeSegment();
    driver.objects.set(`wal_005/${S3}`, { data, modified: new Date() });
    const { walDir } = makeWalDirectory();
    await downloadWal(new Folder(driver).subFolder('wal_005'), S3, join(walDir, 'x'), undefined);
    assert.deepEqual(readFileSync(join(walDir, 'x')), data);
  });

  test('a complete prefetched copy is moved into place without touching the storage', async () => {
    const { walDir } = makeWalDirectory();
    const { prefetchFolder, prefetchedFile } = prefetchLocations(walDir, S2, undefined);
    mkdirSync(prefetchFolder, { recursive: true });
    const data = fakeSegment();
    writeFileSync(prefetchedFile, data);
    const emptyStorage = new Folder(new MemoryStorageDriver()).subFolder('wal_005');
    await fetchWal(fetchOptions(emptyStorage, S2, join(walDir, 'RECOVERYXLOG')));
    assert.deepEqual(readFileSync(join(walDir, 'RECOVERYXLOG')), data);
    assert.equal(existsSync(prefetchedFile), false);
  });

  test('a prefetched copy of the wrong size or with a bad magic is dropped and the segment downloaded', async (t) => {
    const logged = captureLog(t);
    const { walFolder, bytes } = await archiveOf([S1, S2]);
    const { walDir } = makeWalDirectory();
    const short = prefetchLocations(walDir, S1, undefined);
    mkdirSync(short.prefetchFolder, { recursive: true });
    writeFileSync(short.prefetchedFile, fakeSegment(1000));
    await fetchWal(fetchOptions(walFolder, S1, join(walDir, 'A')));
    assert.deepEqual(readFileSync(join(walDir, 'A')), bytes.get(S1));
    assert.equal(existsSync(short.prefetchedFile), false);
    assert.match(logged(), /Prefetch error: wrong file size of prefetched file .*: 1000/);

    const badMagic = prefetchLocations(walDir, S2, undefined);
    writeFileSync(badMagic.prefetchedFile, Buffer.alloc(SMALL_SEGMENT));
    await fetchWal(fetchOptions(walFolder, S2, join(walDir, 'B')));
    assert.deepEqual(readFileSync(join(walDir, 'B')), bytes.get(S2));
    assert.match(logged(), /Prefetched file .*B contain errors: WAL-G: WAL file magic is invalid/);
  });

  test('WALG_PREFETCH_DIR is where wal-fetch looks for prefetched copies', async () => {
    const { walDir } = makeWalDirectory();
    const { dataDir: cacheDir } = makeWalDirectory();
    const { prefetchFolder, prefetchedFile } = prefetchLocations(walDir, S2, cacheDir);
    mkdirSync(prefetchFolder, { recursive: true });
    const data = fakeSegment();
    writeFileSync(prefetchedFile, data);
    await fetchWal(fetchOptions(new Folder(new MemoryStorageDriver()), S2, join(walDir, 'x'), cacheDir));
    assert.deepEqual(readFileSync(join(walDir, 'x')), data);
  });

  test('a prefetch still in progress is waited for while its file grows', async () => {
    const { walDir } = makeWalDirectory();
    const { runningFolder, runningFile, prefetchedFile } = prefetchLocations(walDir, S2, undefined);
    mkdirSync(runningFolder, { recursive: true });
    const data = fakeSegment();
    writeFileSync(runningFile, data.subarray(0, 1000));
    // The "prefetcher": grows the file every 20 ms (so wal-fetch never sees it stall, however loaded the machine
    // is), then publishes it, as prefetchOne does.
    let grown = 1000;
    const growing = setInterval(() => {
      grown += 5000;
      writeFileSync(runningFile, data.subarray(0, grown));
      if (grown < 50_000) return;
      clearInterval(growing);
      writeFileSync(prefetchedFile, data);
      writeFileSync(runningFile, '');
    }, 20);
    await fetchWal(fetchOptions(new Folder(new MemoryStorageDriver()), S2, join(walDir, 'x')));
    assert.deepEqual(readFileSync(join(walDir, 'x')), data);
  });

  test('the magic check wants 0xD061 or more, little-endian, in the first four bytes', () => {
    assert.equal(hasWalMagic(Buffer.from([0x61, 0xd0, 0, 0])), true);
    assert.equal(hasWalMagic(Buffer.from([0x10, 0xd1, 0x02, 0])), true);
    assert.equal(hasWalMagic(Buffer.from([0x60, 0xd0, 0, 0])), false);
    assert.equal(hasWalMagic(Buffer.from([0x61, 0xd0])), false);
  });
});

describe('wal-prefetch', () => {
  test('downloads the following segments into the prefetch folder and skips what is missing or already there', async (t) => {
    captureLog(t);
    const { walFolder, bytes } = await archiveOf([S1, S2, S3]);
    const { walDir } = makeWalDirectory();
    const cached = prefetchLocations(walDir, S3, undefined);
    mkdirSync(cached.prefetchFolder, { recursive: true });
    writeFileSync(cached.prefetchedFile, 'already here');
    await prefetchFollowingWals({
      walFolder,
      walName: S1,
      destination: join(walDir, 'RECOVERYXLOG'),
      concurrency: 3,
      segmentSize: SMALL_SEGMENT,
      prefetchDirSetting: undefined,
      crypter: undefined,
    });
    assert.deepEqual(readFileSync(prefetchLocations(walDir, S2, undefined).prefetchedFile), bytes.get(S2));
    assert.equal(readFileSync(cached.prefetchedFile, 'utf8'), 'already here');
    // S4 is not archived: nothing is left for it, in running/ or finished.
    assert.deepEqual(namesIn(cached.prefetchFolder), [S2, S3, 'running']);
  });

  test('from a file storage the following segments come one at a time, next first; other storages side by side', async (t) => {
    captureLog(t);
    for (const kind of ['file', 'memory']) {
      const { driver, walFolder, bytes } = await archiveOf([S1, S2, S3, S4]);
      Object.defineProperty(driver, 'kind', { value: kind });
      const started: string[] = [];
      let inFlight = 0;
      let mostInFlight = 0;
      const get = driver.get.bind(driver);
      driver.get = async (key, options) => {
        started.push(key);
        mostInFlight = Math.max(mostInFlight, ++inFlight);
        // Slow enough that downloads started side by side overlap.
        await new Promise((resolve) => setTimeout(resolve, 30));
        const body = await get(key, options);
        body.once('close', () => inFlight--);
        return body;
      };
      const { walDir } = makeWalDirectory();
      await prefetchFollowingWals({
        walFolder,
        walName: S1,
        destination: join(walDir, 'RECOVERYXLOG'),
        concurrency: 3,
        segmentSize: SMALL_SEGMENT,
        prefetchDirSetting: undefined,
        crypter: undefined,
      });
      for (const name of [S2, S3, S4]) assert.deepEqual(readFileSync(prefetchLocations(walDir, name, undefined).prefetchedFile), bytes.get(name), `${kind}: ${name}`);
      if (kind === 'file') {
        assert.equal(mostInFlight, 1, 'file storage: one download at a time');
        assert.deepEqual(started.map((key) => key.replace(/^wal_005\//, '').replace(/\..*$/, '')), [S2, S3, S4], 'next first');
      } else {
        assert.ok(mostInFlight > 1, `${kind}: side by side (${mostInFlight})`);
      }
    }
  });

  test('from a file storage the names still to download are queued with this process id; a live queuer\'s are left to it', async (t) => {
    captureLog(t);
    const { driver, walFolder, bytes } = await archiveOf([S1, S2, S3, S4]);
    Object.defineProperty(driver, 'kind', { value: 'file' });
    const { walDir } = makeWalDirectory();
    const { queuedFolder } = prefetchLocations(walDir, S1, undefined);
    mkdirSync(queuedFolder, { recursive: true });
    const liveOther = process.ppid;
    const exited = spawnSync('true').pid!;
    writeFileSync(join(queuedFolder, S3), `${liveOther}\n`);
    writeFileSync(join(queuedFolder, S4), `${exited}\n`);
    const markersAtFirstGet: Record<string, string>[] = [];
    const get = driver.get.bind(driver);
    driver.get = async (key, options) => {
      markersAtFirstGet.push(Object.fromEntries(readdirSync(queuedFolder).map((name) => [name, readFileSync(join(queuedFolder, name), 'utf8').trim()])));
      return get(key, options);
    };
    await prefetchFollowingWals({
      walFolder,
      walName: S1,
      destination: join(walDir, 'RECOVERYXLOG'),
      concurrency: 3,
      segmentSize: SMALL_SEGMENT,
      prefetchDirSetting: undefined,
      crypter: undefined,
    });
    assert.deepEqual(markersAtFirstGet[0], { [S2]: String(process.pid), [S3]: String(liveOther), [S4]: String(process.pid) }, 'ours queued, the dead queuer\'s taken over');
    assert.equal(markersAtFirstGet.length, 2, 'S3 is left to its live queuer');
    for (const name of [S2, S4]) assert.deepEqual(readFileSync(prefetchLocations(walDir, name, undefined).prefetchedFile), bytes.get(name));
    assert.equal(existsSync(prefetchLocations(walDir, S3, undefined).prefetchedFile), false);
    assert.deepEqual(readdirSync(queuedFolder), [S3], 'our markers are gone; the other\'s stays');
  });

  test('cleanup removes cached files older than the fetched name from both folders', async (t) => {
    captureLog(t);
    const { walDir } = makeWalDirectory();
    const { prefetchFolder, runningFolder } = prefetchLocations(walDir, S1, undefined);
    mkdirSync(runningFolder, { recursive: true });
    for (const name of [S1, S2, '00000002.history']) writeFileSync(join(prefetchFolder, name), 'x');
    writeFileSync(join(runningFolder, S1), 'x');
    await prefetchFollowingWals({
      walFolder: new Folder(new MemoryStorageDriver()),
      walName: S3,
      destination: join(walDir, 'RECOVERYXLOG'),
      concurrency: 1,
      segmentSize: SMALL_SEGMENT,
      prefetchDirSetting: undefined,
      crypter: undefined,
    });
    assert.deepEqual(namesIn(prefetchFolder), ['00000002.history', 'running']);
    assert.equal(existsSync(join(prefetchFolder, S4)), false);
  });

  test('the prefetch child is this same program with wal-prefetch, the name, the destination, --config and the storage prefix', () => {
    const { command, args } = prefetchCommandLine(S1, '/data/pg_wal/RECOVERYXLOG', { configFile: '/etc/walg.json', storagePrefix: 'cluster-a' });
    // From source (these tests) that is node plus the entry script; the single binary runs itself (process.execPath).
    assert.equal(command, process.execPath);
    assert.deepEqual(args.slice(-7), ['wal-prefetch', S1, '/data/pg_wal/RECOVERYXLOG', '--config', '/etc/walg.json', '--walg-storage-prefix', 'cluster-a']);
    assert.equal(args[args.length - 8], process.argv[1]);
    assert.deepEqual(prefetchCommandLine(S1, '/d', { configFile: undefined, storagePrefix: undefined }).args.slice(-3), ['wal-prefetch', S1, '/d']);
  });
});
