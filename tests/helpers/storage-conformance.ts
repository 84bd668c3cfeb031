// The behaviour every storage driver must show, written once: call storageConformance() from a driver's test file.
//
// makeFolder must return a Folder over a fresh, empty place (a new temp directory, a new bucket sub-path, ...);
// the suite closes it after each test.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Folder, NotFoundError, ObjectExistsError, compareKeys } from '../../src/storage/driver.ts';
import type { ListEntry, ListOptions } from '../../src/storage/driver.ts';

export interface ConformanceOptions {
  /** Keys for the listing-pagination and delete-batching test; must exceed 1000 (S3's page and batch size). */
  manyKeys?: number;
  /** How far `modified` may be from the local clock (remote servers drift). */
  clockToleranceMs?: number;
}

export function bodyOf(...chunks: (string | Uint8Array)[]): Readable {
  return Readable.from(
    chunks.map((chunk) => (typeof chunk === 'string' ? Buffer.from(chunk) : chunk)),
    { objectMode: false },
  );
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

export async function collect(entries: AsyncIterable<ListEntry>): Promise<ListEntry[]> {
  const all: ListEntry[] = [];
  for await (const entry of entries) all.push(entry);
  return all;
}

/** Listed keys, folders marked by their trailing '/'. */
export async function listedKeys(folder: Folder, prefix = '', options: ListOptions = {}): Promise<string[]> {
  return (await collect(folder.list(prefix, options))).map((entry) => entry.key);
}

async function putText(folder: Folder, key: string, text: string): Promise<void> {
  await folder.put(key, bodyOf(text));
}

async function getText(folder: Folder, key: string, options?: { offset?: number; length?: number }): Promise<string> {
  return (await readAll(await folder.get(key, options))).toString();
}

/** Runs `work` on `items` with at most `limit` in flight. */
async function inParallel<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** A body the test feeds by hand, to look at the storage while a put is still running. */
function manualBody(): Readable {
  return new Readable({ read() {} });
}

/**
 * Gives the driver time to consume what was pushed so far: at least 50 ms, and until the body has been read
 * from (on a loaded machine the driver may take longer to start reading, and destroying the body before
 * anyone listens would raise the error as uncaught instead of through the put).
 */
async function letTheDriverWork(body?: Readable): Promise<void> {
  await sleep(50);
  for (let waited = 0; body !== undefined && body.readableLength > 0 && waited < 10_000; waited += 20) await sleep(20);
}

export function storageConformance(
  name: string,
  makeFolder: () => Promise<Folder>,
  options: ConformanceOptions = {},
): void {
  const manyKeys = options.manyKeys ?? 1010;
  const clockToleranceMs = options.clockToleranceMs ?? 5 * 60 * 1000;

  async function withFolder(work: (folder: Folder) => Promise<void>): Promise<void> {
    const folder = await makeFolder();
    try {
      await work(folder);
    } finally {
      await folder.close();
    }
  }

  describe(`${name} storage conformance`, () => {
    test('put then get returns the same bytes', () =>
      withFolder(async (folder) => {
        await putText(folder, 'wal_005/000000010000000000000001.lz4', 'segment bytes');
        assert.equal(await getText(folder, 'wal_005/000000010000000000000001.lz4'), 'segment bytes');
      }));

    test('a multi-megabyte binary object round-trips byte for byte', () =>
      withFolder(async (folder) => {
        const data = randomBytes(3 * 1024 * 1024 + 17);
        // Uneven chunks, so no driver can rely on chunk boundaries.
        await folder.put('big.bin', bodyOf(data.subarray(0, 1000), data.subarray(1000, 2_500_000), data.subarray(2_500_000)), {
          sizeHint: data.length,
        });
        assert.ok((await readAll(await folder.get('big.bin'))).equals(data));
      }));

    test('get returns a byte stream (not object mode), also for an empty range', () =>
      withFolder(async (folder) => {
        await putText(folder, 'bytes', 'abc');
        for (const options of [{}, { offset: 1, length: 1 }, { offset: 3 }, { length: 0 }]) {
          const stream = await folder.get('bytes', options);
          assert.equal(stream.readableObjectMode, false, JSON.stringify(options));
          await readAll(stream);
        }
      }));

    test('an empty object round-trips with size 0', () =>
      withFolder(async (folder) => {
        await folder.put('empty', bodyOf());
        assert.equal((await folder.stat('empty'))?.size, 0);
        assert.equal((await readAll(await folder.get('empty'))).length, 0);
      }));

    test('get of a missing key rejects with NotFoundError', () =>
      withFolder(async (folder) => {
        await putText(folder, 'present', 'x');
        await assert.rejects(folder.get('absent'), NotFoundError);
        await assert.rejects(folder.get('no/such/folder/absent'), NotFoundError);
        await assert.rejects(folder.get('absent', { offset: 1, length: 2 }), NotFoundError);
      }));

    test('stat reports size and modification time, and undefined for a missing key', () =>
      withFolder(async (folder) => {
        const before = Date.now();
        await putText(folder, 'a/b/object', 'twelve bytes');
        const after = Date.now();
        const info = await folder.stat('a/b/object');
        assert.ok(info);
        assert.equal(info.kind, 'object');
        assert.equal(info.key, 'a/b/object');
        assert.equal(info.size, 12);
        assert.ok(info.modified instanceof Date);
        assert.ok(info.modified.getTime() >= before - clockToleranceMs, `modified ${info.modified.toISOString()} too early`);
        assert.ok(info.modified.getTime() <= after + clockToleranceMs, `modified ${info.modified.toISOString()} too late`);
        assert.equal(await folder.stat('a/b/missing'), undefined);
        assert.equal(await folder.exists('a/b/object'), true);
        assert.equal(await folder.exists('a/b/missing'), false);
      }));

    test('a folder is not an object: stat and exists of a folder path say missing', () =>
      withFolder(async (folder) => {
        await putText(folder, 'dir/object', 'x');
        assert.equal(await folder.stat('dir'), undefined);
        assert.equal(await folder.exists('dir'), false);
      }));

    test('non-recursive list shows one level: objects and sub-folders in key order', () =>
      withFolder(async (folder) => {
        for (const key of ['b', 'a.txt', 'a/inner', 'a/deeper/x', 'c/y', 'a-b']) await putText(folder, key, key);
        assert.deepEqual(await listedKeys(folder), ['a-b', 'a.txt', 'a/', 'b', 'c/']);
        const entries = await collect(folder.list());
        assert.deepEqual(
          entries.map((entry) => entry.kind),
          ['object', 'object', 'folder', 'object', 'folder'],
        );
        assert.deepEqual(await listedKeys(folder, 'a'), ['a/deeper/', 'a/inner']);
      }));

    test('recursive list shows every object below the prefix, no folders, in key order', () =>
      withFolder(async (folder) => {
        for (const key of ['b', 'a.txt', 'a/inner', 'a/deeper/x', 'c/y', 'a-b']) await putText(folder, key, key);
        // '.' (0x2e) sorts before '/' (0x2f): a.txt comes before everything under a/.
        assert.deepEqual(await listedKeys(folder, '', { recursive: true }), ['a-b', 'a.txt', 'a/deeper/x', 'a/inner', 'b', 'c/y']);
        assert.deepEqual(await listedKeys(folder, 'a/', { recursive: true }), ['a/deeper/x', 'a/inner']);
      }));

    test('listed objects carry the same size and time as stat', () =>
      withFolder(async (folder) => {
        await putText(folder, 'x/one', '1');
        await putText(folder, 'x/three', '333');
        const listed = await collect(folder.list('x/'));
        for (const entry of listed) {
          assert.ok(entry.kind === 'object', `${entry.key} should be an object`);
          const info = await folder.stat(entry.key);
          assert.ok(info);
          assert.equal(entry.size, info.size);
          assert.equal(entry.modified.getTime(), info.modified.getTime());
        }
        assert.deepEqual(
          listed.map((entry) => (entry.kind === 'object' ? entry.size : -1)),
          [1, 3],
        );
      }));

    test('listing a missing folder yields nothing and no error', () =>
      withFolder(async (folder) => {
        assert.deepEqual(await listedKeys(folder), []);
        assert.deepEqual(await listedKeys(folder, 'basebackups_005/'), []);
        assert.deepEqual(await listedKeys(folder, 'basebackups_005/', { recursive: true }), []);
      }));

    test('the list prefix is a folder path: slashes around it do not matter and siblings are excluded', () =>
      withFolder(async (folder) => {
        await putText(folder, 'wal/one', '1');
        await putText(folder, 'wal_005/two', '2');
        await putText(folder, 'walrus', '3');
        for (const prefix of ['wal', 'wal/', '/wal/']) {
          assert.deepEqual(await listedKeys(folder, prefix), ['wal/one'], `prefix ${prefix}`);
        }
      }));

    test('a sub-folder uses keys relative to itself; its parent sees them with the path', () =>
      withFolder(async (folder) => {
        const backups = folder.subFolder('basebackups_005');
        assert.equal(backups.path, 'basebackups_005/');
        await putText(backups, 'base_1_backup_stop_sentinel.json', '{}');
        await putText(backups.subFolder('base_1'), 'metadata.json', '{"a":1}');
        assert.deepEqual(await listedKeys(backups), ['base_1/', 'base_1_backup_stop_sentinel.json']);
        assert.deepEqual(await listedKeys(backups, '', { recursive: true }), [
          'base_1/metadata.json',
          'base_1_backup_stop_sentinel.json',
        ]);
        assert.equal(await getText(folder, 'basebackups_005/base_1/metadata.json'), '{"a":1}');
        assert.equal((await backups.stat('base_1/metadata.json'))?.key, 'base_1/metadata.json');
        assert.equal(folder.subFolder('/basebackups_005//').path, 'basebackups_005/');
        assert.equal(await getText(folder.subFolder('/basebackups_005//'), 'base_1/metadata.json'), '{"a":1}');
        await backups.copy('base_1/metadata.json', 'base_2/metadata.json');
        assert.equal(await getText(folder, 'basebackups_005/base_2/metadata.json'), '{"a":1}');
        await backups.deleteMany(['base_1/metadata.json']);
        assert.equal(await folder.exists('basebackups_005/base_1/metadata.json'), false);
      }));

    test('ranged get returns the requested bytes and stops at the end of the object', () =>
      withFolder(async (folder) => {
        await putText(folder, 'range', '0123456789');
        assert.equal(await getText(folder, 'range', { offset: 3 }), '3456789');
        assert.equal(await getText(folder, 'range', { offset: 2, length: 4 }), '2345');
        assert.equal(await getText(folder, 'range', { length: 1 }), '0');
        assert.equal(await getText(folder, 'range', { offset: 8, length: 100 }), '89');
        assert.equal(await getText(folder, 'range', { offset: 10 }), '');
        assert.equal(await getText(folder, 'range', { offset: 25, length: 3 }), '');
        assert.equal(await getText(folder, 'range', { offset: 4, length: 0 }), '');
      }));

    test('ranged get of a multi-megabyte object returns exactly the slice asked for', () =>
      withFolder(async (folder) => {
        const data = randomBytes(2 * 1024 * 1024 + 5);
        await folder.put('big-range', bodyOf(data));
        const offset = 1024 * 1024 - 3;
        const length = 1024 * 1024 + 7;
        const slice = await readAll(await folder.get('big-range', { offset, length }));
        assert.ok(slice.equals(data.subarray(offset, offset + length)));
      }));

    test('put overwrites an existing object by default', () =>
      withFolder(async (folder) => {
        await putText(folder, 'key', 'old content');
        await putText(folder, 'key', 'new');
        assert.equal(await getText(folder, 'key'), 'new');
        assert.equal((await folder.stat('key'))?.size, 3);
      }));

    test('put with overwrite false refuses an existing key and keeps its content', () =>
      withFolder(async (folder) => {
        await putText(folder, 'key', 'original');
        await assert.rejects(folder.put('key', bodyOf('intruder'), { overwrite: false }), ObjectExistsError);
        assert.equal(await getText(folder, 'key'), 'original');
        assert.deepEqual(await listedKeys(folder), ['key']);
      }));

    test('put with overwrite false writes a new key', () =>
      withFolder(async (folder) => {
        await folder.put('fresh/key', bodyOf('content'), { overwrite: false });
        assert.equal(await getText(folder, 'fresh/key'), 'content');
      }));

    test('deleteMany removes the given keys, skips missing ones and leaves the rest', () =>
      withFolder(async (folder) => {
        for (const key of ['keep', 'drop1', 'dir/drop2', 'dir/keep2']) await putText(folder, key, key);
        await folder.deleteMany(['drop1', 'dir/drop2', 'never-existed', 'no/such/dir/key']);
        assert.deepEqual(await listedKeys(folder, '', { recursive: true }), ['dir/keep2', 'keep']);
        await folder.deleteMany([]);
        assert.deepEqual(await listedKeys(folder, '', { recursive: true }), ['dir/keep2', 'keep']);
      }));

    test(`listing and deleting ${manyKeys} keys crosses page and batch limits`, () =>
      withFolder(async (folder) => {
        const keys = Array.from({ length: manyKeys }, (_, i) => `many/${String(i).padStart(5, '0')}`);
        await inParallel(keys, 16, (key) => putText(folder, key, key));
        // Folders sitting between the objects, so pages mix objects and folders.
        await putText(folder, 'many/00500-folder/inside', 'x');
        await putText(folder, 'many/zz/inside', 'y');

        const flat = await listedKeys(folder, 'many/');
        assert.equal(flat.length, manyKeys + 2);
        assert.deepEqual(flat, [...flat].sort(compareKeys));
        assert.ok(flat.includes('many/00500-folder/'));
        assert.equal(flat.at(-1), 'many/zz/');
        assert.equal(new Set(flat).size, flat.length, 'no key listed twice');

        const recursive = await listedKeys(folder, 'many/', { recursive: true });
        assert.deepEqual(recursive, [...keys, 'many/00500-folder/inside', 'many/zz/inside'].sort(compareKeys));

        await folder.deleteMany(recursive);
        assert.deepEqual(await listedKeys(folder, 'many/', { recursive: true }), []);
      }));

    test('copy duplicates an object and keeps the source', () =>
      withFolder(async (folder) => {
        const data = randomBytes(1024 * 1024 + 3);
        await folder.put('source/object', bodyOf(data));
        await folder.copy('source/object', 'elsewhere/copy');
        assert.ok((await readAll(await folder.get('elsewhere/copy'))).equals(data));
        assert.ok((await readAll(await folder.get('source/object'))).equals(data));
      }));

    test('copy overwrites the destination', () =>
      withFolder(async (folder) => {
        await putText(folder, 'from', 'new');
        await putText(folder, 'to', 'old and longer');
        await folder.copy('from', 'to');
        assert.equal(await getText(folder, 'to'), 'new');
      }));

    test('copy of a missing source rejects with NotFoundError and creates nothing', () =>
      withFolder(async (folder) => {
        await assert.rejects(folder.copy('absent', 'target'), NotFoundError);
        assert.equal(await folder.exists('target'), false);
      }));

    test('a put whose body fails midway leaves nothing under the final name', () =>
      withFolder(async (folder) => {
        const body = manualBody();
        const putting = folder.put('wal_005/000000010000000000000002.lz4', body);
        body.push(randomBytes(256 * 1024));
        await letTheDriverWork(body);
        body.destroy(new Error('compression failed midway'));
        await assert.rejects(putting, /compression failed midway/);
        assert.equal(await folder.stat('wal_005/000000010000000000000002.lz4'), undefined);
        await assert.rejects(folder.get('wal_005/000000010000000000000002.lz4'), NotFoundError);
        assert.deepEqual(await listedKeys(folder, '', { recursive: true }), []);
      }));

    test('a failed overwrite keeps the previous content', () =>
      withFolder(async (folder) => {
        await putText(folder, 'sentinel.json', 'complete old object');
        const body = manualBody();
        const putting = folder.put('sentinel.json', body);
        body.push(Buffer.from('partial new'));
        await letTheDriverWork(body);
        body.destroy(new Error('upstream broke'));
        await assert.rejects(putting, /upstream broke/);
        assert.equal(await getText(folder, 'sentinel.json'), 'complete old object');
        assert.deepEqual(await listedKeys(folder, '', { recursive: true }), ['sentinel.json']);
      }));

    test('an object being written is invisible until its put completes, then whole', () =>
      withFolder(async (folder) => {
        await putText(folder, 'replaced', 'previous');
        const fresh = manualBody();
        const replacing = manualBody();
        const puttingFresh = folder.put('dir/fresh', fresh);
        const puttingReplacement = folder.put('replaced', replacing);
        fresh.push(Buffer.from('first half, '));
        replacing.push(Buffer.from('next '));
        await letTheDriverWork(fresh);
        await letTheDriverWork(replacing);

        assert.equal(await folder.stat('dir/fresh'), undefined);
        await assert.rejects(folder.get('dir/fresh'), NotFoundError);
        assert.deepEqual(await listedKeys(folder, '', { recursive: true }), ['replaced']);
        assert.equal(await getText(folder, 'replaced'), 'previous');

        fresh.push(Buffer.from('second half'));
        fresh.push(null);
        replacing.push(Buffer.from('version'));
        replacing.push(null);
        await puttingFresh;
        await puttingReplacement;
        assert.equal(await getText(folder, 'dir/fresh'), 'first half, second half');
        assert.equal(await getText(folder, 'replaced'), 'next version');
        assert.deepEqual(await listedKeys(folder, '', { recursive: true }), ['dir/fresh', 'replaced']);
      }));

    test('keys with spaces, plus and percent signs and non-ASCII letters round-trip', () =>
      withFolder(async (folder) => {
        const keys = ['odd names/a b+c%20d', 'odd names/żółw-é', 'odd names/x=y&z'];
        for (const key of keys) await putText(folder, key, key);
        for (const key of keys) assert.equal(await getText(folder, key), key);
        assert.deepEqual(await listedKeys(folder, 'odd names/'), [...keys].sort(compareKeys));
        await folder.deleteMany(keys);
        assert.deepEqual(await listedKeys(folder, 'odd names/'), []);
      }));
  });
}
