// The library under the `st` commands: Go's path.Match and time format, the tabwriter table, prefix listings,
// and st transfer's ordering of a backup's files (sentinel copied last, deleted first).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Folder, type GetOptions, type PutOptions } from '../../src/storage/driver.ts';
import { MemoryStorageDriver } from '../../src/storage/memory.ts';
import { goPathBase, goPathClean, goPathDir, goPathExt, goPathMatch } from '../../src/st/go-path.ts';
import { goTimeString } from '../../src/st/go-time.ts';
import { alignTabs } from '../../src/st/tabwriter.ts';
import { globFolder, listByPrefix, listRecursively } from '../../src/st/listing.ts';
import { storedKeyFor } from '../../src/st/put.ts';
import { getObject, looksLikeOpenPgp } from '../../src/st/get.ts';
import { categoriseBackupFile, listMissingFiles, planBackups, planSeparateFiles, runTransfer } from '../../src/st/transfer.ts';

function memoryFolder(keys: Record<string, string>): Folder {
  const driver = new MemoryStorageDriver();
  for (const [key, value] of Object.entries(keys)) driver.objects.set(key, { data: Buffer.from(value), modified: new Date(0) });
  return new Folder(driver);
}

test('goPathMatch follows Go path.Match: stars stop at slashes, classes, escapes, bad patterns', () => {
  assert.equal(goPathMatch('base_*', 'base_0001'), true);
  assert.equal(goPathMatch('*', 'a/b'), false);
  assert.equal(goPathMatch('?', '/'), false);
  assert.equal(goPathMatch('part_00[1-3].tar.*', 'part_002.tar.lz4'), true);
  assert.equal(goPathMatch('part_00[^1-3].tar.*', 'part_002.tar.lz4'), false);
  assert.equal(goPathMatch('\\*', '*'), true);
  assert.equal(goPathMatch('\\*', 'x'), false);
  assert.equal(goPathMatch('a*b*c', 'aXbYbc'), true);
  assert.equal(goPathMatch('[z-a]', 'm'), false);
  for (const bad of ['[', '[]', '[a', 'a\\', '[a-]', '[-a]']) {
    assert.throws(() => goPathMatch(bad, 'a'), /syntax error in pattern/, bad);
  }
});

test('Go path helpers treat trailing slashes and dots as Go does', () => {
  assert.equal(goPathBase('a/b/'), 'b');
  assert.equal(goPathBase(''), '.');
  assert.equal(goPathBase('///'), '/');
  assert.equal(goPathExt('x/part_001.tar.lz4'), '.lz4');
  assert.equal(goPathExt('a.b/c'), '');
  assert.equal(goPathExt('seg.'), '.');
  assert.equal(goPathDir('a'), '.');
  assert.equal(goPathDir('/a/b'), '/a');
  assert.equal(goPathClean('a//b/../c/'), 'a/c');
  assert.equal(storedKeyFor('/dir/sub/name', 'lz4'), 'dir/sub/name.lz4');
  assert.equal(storedKeyFor('name', ''), 'name.');
  assert.equal(storedKeyFor('name', undefined), 'name');
});

test('goTimeString prints Go Time.String(): nanoseconds without trailing zeros, zone last', () => {
  const second = BigInt(Date.UTC(2024, 0, 31, 12, 0, 0)) * 1_000_000n;
  assert.equal(goTimeString(second, 'UTC'), '2024-01-31 12:00:00 +0000 UTC');
  assert.equal(goTimeString(second + 120_000_000n, 'UTC'), '2024-01-31 12:00:00.12 +0000 UTC');
  assert.equal(goTimeString(second + 1n, 'UTC'), '2024-01-31 12:00:00.000000001 +0000 UTC');
  assert.equal(goTimeString(new Date(Date.UTC(2024, 0, 31, 12, 0, 0, 5)), 'UTC'), '2024-01-31 12:00:00.005 +0000 UTC');
});

test('alignTabs pads tab-terminated cells per column block and leaves the last cell unpadded', () => {
  assert.equal(alignTabs('a\tbb\tc\nddd\te\tf\n'), 'a   bb c\nddd e  f\n');
  // The header's last text is not a cell, so the name column is as wide as the names plus one.
  assert.equal(alignTabs('h1\th2\nx\tname\t\nyy\tn\t\n'), 'h1 h2\nx  name \nyy n    \n');
  // A line without tabs ends the block: alignment restarts below it.
  assert.equal(alignTabs('a\tb\nline\nlonger\tc\n'), 'a b\nline\nlonger c\n');
});

test('listRecursively walks breadth first and listByPrefix prefers an exact object', async () => {
  const folder = memoryFolder({ 'a/x': '1', 'a/b/y': '2', 'a/c/z': '3', 'a/b/d/w': '4', 'a/x.more': '5', top: '6' });
  assert.deepEqual((await listRecursively(folder, 'a')).map((object) => object.key), ['a/x', 'a/x.more', 'a/b/y', 'a/c/z', 'a/b/d/w']);
  assert.deepEqual((await listByPrefix(folder, 'a/x')).map((object) => object.key), ['a/x']);
  assert.deepEqual((await listByPrefix(folder, 'a/b')).map((object) => object.key), ['a/b/y', 'a/b/d/w']);
  assert.deepEqual((await listByPrefix(folder, '/')).length, 6);
  assert.deepEqual(await listByPrefix(folder, 'nothing'), []);
});

test('globFolder matches one segment at a time; the last segment matches objects and folders', async () => {
  const folder = memoryFolder({ 'b/base_1/m': '', 'b/base_2/m': '', 'b/base_3.json': '', 'b/other/m': '', 'c/base_9/m': '' });
  assert.deepEqual(await globFolder(folder, '/b/base_*'), { objectPaths: ['b/base_3.json'], folderPaths: ['b/base_1/', 'b/base_2/'] });
  assert.deepEqual(await globFolder(folder, '*/base_?/'), { objectPaths: [], folderPaths: ['b/base_1/', 'b/base_2/', 'c/base_9/'] });
  assert.deepEqual(await globFolder(folder, '/'), { objectPaths: [], folderPaths: ['/'] });
});

test('categoriseBackupFile tells sentinels from data files by their place under basebackups_005/', () => {
  assert.deepEqual(categoriseBackupFile('basebackups_005/base_1_backup_stop_sentinel.json'), { kind: 'sentinel', backup: 'base_1' });
  assert.deepEqual(categoriseBackupFile('basebackups_005/base_1/tar_partitions/part_001.tar.lz4'), { kind: 'data', backup: 'base_1' });
  assert.equal(categoriseBackupFile('basebackups_005/other.json'), undefined);
});

/** A memory driver that records puts and deletes in the order they complete. */
class RecordingDriver extends MemoryStorageDriver {
  readonly events: string[];
  readonly failingGets: Set<string>;
  readonly label: string;
  constructor(label: string, events: string[], failingGets: Set<string> = new Set()) {
    super();
    this.label = label;
    this.events = events;
    this.failingGets = failingGets;
  }
  override async get(key: string, options?: GetOptions): Promise<Readable> {
    if (this.failingGets.has(key)) throw new Error('disk on fire');
    return super.get(key, options);
  }
  override async put(key: string, body: Readable, options?: PutOptions): Promise<void> {
    await super.put(key, body, options);
    this.events.push(`${this.label} put ${key}`);
  }
  override async deleteMany(keys: string[]): Promise<void> {
    await super.deleteMany(keys);
    for (const key of keys) this.events.push(`${this.label} delete ${key}`);
  }
}

const BACKUP_A = {
  'basebackups_005/base_A/metadata.json': 'm',
  'basebackups_005/base_A/tar_partitions/part_001.tar.lz4': 'p1',
  'basebackups_005/base_A/tar_partitions/part_002.tar.lz4': 'p2',
  'basebackups_005/base_A_backup_stop_sentinel.json': 's',
};

async function transferBackups(failingGets: Set<string> = new Set(), failFast = false) {
  const events: string[] = [];
  const sourceDriver = new RecordingDriver('source', events, failingGets);
  for (const [key, value] of Object.entries({ ...BACKUP_A, 'basebackups_005/base_B/metadata.json': 'm', 'basebackups_005/base_B_backup_stop_sentinel.json': 's' })) {
    sourceDriver.objects.set(key, { data: Buffer.from(value), modified: new Date(0) });
  }
  const source = new Folder(sourceDriver);
  const target = new Folder(new RecordingDriver('target', events));
  const missing = await listMissingFiles(source, target, 'basebackups_005/', false);
  const plan = planBackups(missing, '', Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  const outcome = await runTransfer(source, target, plan, {
    preserveInSource: false,
    failFast,
    concurrency: 10,
    appearanceChecks: 3,
    appearanceChecksIntervalMs: 1,
  }).then(
    () => undefined,
    (error: Error) => error,
  );
  return { events, outcome, sourceDriver };
}

test('st transfer copies a sentinel only after its data files and deletes the data only after the sentinel', async () => {
  const { events, outcome, sourceDriver } = await transferBackups();
  assert.equal(outcome, undefined);
  const sentinel = 'basebackups_005/base_A_backup_stop_sentinel.json';
  const dataFiles = Object.keys(BACKUP_A).filter((key) => key !== sentinel);
  const at = (event: string): number => {
    const index = events.indexOf(event);
    assert.notEqual(index, -1, `${event} did not happen`);
    return index;
  };
  for (const data of dataFiles) {
    assert.ok(at(`target put ${data}`) < at(`target put ${sentinel}`), `${data} is copied before the sentinel`);
    assert.ok(at(`source delete ${sentinel}`) < at(`source delete ${data}`), `${data} is deleted after the sentinel`);
  }
  assert.equal(sourceDriver.objects.size, 0);
});

test('st transfer fails the sentinel when a data file fails, instead of waiting forever', async () => {
  const broken = 'basebackups_005/base_A/tar_partitions/part_002.tar.lz4';
  const { events, outcome, sourceDriver } = await transferBackups(new Set([broken]));
  assert.ok(outcome instanceof Error);
  assert.equal(outcome.message, 'finished with 4 errors');
  // Backup A: its sentinel never reaches the target and nothing of it leaves the source.
  assert.equal(events.includes('target put basebackups_005/base_A_backup_stop_sentinel.json'), false);
  for (const key of Object.keys(BACKUP_A)) assert.ok(sourceDriver.objects.has(key), `${key} stays in the source`);
  // Backup B moves completely.
  assert.equal(sourceDriver.objects.has('basebackups_005/base_B_backup_stop_sentinel.json'), false);

  const fast = await transferBackups(new Set([broken]), true);
  assert.ok(fast.outcome instanceof Error);
  assert.equal(fast.outcome.message, `error with file "${broken}": copy failed: read file from the source storage: disk on fire`);
});

test('planSeparateFiles and planBackups respect --max-files and --max-backups', async () => {
  const source = memoryFolder({ ...BACKUP_A, 'basebackups_005/base_B/m': '', 'basebackups_005/base_B_backup_stop_sentinel.json': '' });
  const target = memoryFolder({ 'basebackups_005/base_A/metadata.json': 'm' });
  const missing = await listMissingFiles(source, target, 'basebackups_005/', false);
  assert.equal(missing.has('basebackups_005/base_A/metadata.json'), false);
  assert.equal(planSeparateFiles(missing, 2).groups.length, 2);
  assert.deepEqual(planBackups(missing, '', 100, 1).groups.map((group) => group.at(-1)?.path), ['basebackups_005/base_A_backup_stop_sentinel.json']);
  // base_A needs 3 files (its metadata is already there); a limit of 2 stops before it.
  assert.equal(planBackups(missing, '', 2, 100).fileCount, 0);
  assert.deepEqual(planBackups(missing, 'base_B', 100, 100).groups.map((group) => group.length), [2]);
});

test('looksLikeOpenPgp recognises a PKESK packet and almost never a random libsodium header', () => {
  // The first bytes of an object written by st put with the pg14 fixture key: new-format tag 1, v3, RSA.
  assert.equal(looksLikeOpenPgp(Buffer.from('c1c04c035f932568a5b902f90107fe3e', 'hex')), true);
  // Old-format tag 1 with a one-byte length, and a v4 SKESK.
  assert.equal(looksLikeOpenPgp(Buffer.from('848c030102030405060708011200', 'hex')), true);
  assert.equal(looksLikeOpenPgp(Buffer.from('c30d04090302', 'hex')), true);
  assert.equal(looksLikeOpenPgp(Buffer.from('c30d04ff0302', 'hex')), false);
  let falsePositives = 0;
  for (let index = 0; index < 100_000; index++) if (looksLikeOpenPgp(randomBytes(16))) falsePositives++;
  assert.ok(falsePositives <= 5, `${falsePositives} random headers looked like OpenPGP`);
});

test('st get adds the "no key configured" hint to decoder errors only, not to storage errors naming the object', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'walnut-st-get-'));
  try {
    const driver = new (class extends MemoryStorageDriver {
      override async get(key: string, options?: GetOptions): Promise<Readable> {
        if (key === 'a/broken.lz4') throw new Error(`download blob "x/a/broken.lz4": HTTP 400 OutOfRangeInput`);
        return super.get(key, options);
      }
    })();
    driver.objects.set('a/sealed.lz4', { data: randomBytes(64), modified: new Date(0) });
    const folder = new Folder(driver);
    const choice = { crypter: undefined, decompress: true };
    await assert.rejects(getObject(folder, 'a/broken.lz4', join(directory, 'one'), choice), (error: Error) => {
      assert.equal(error.message, 'download the file: a/broken.lz4: download blob "x/a/broken.lz4": HTTP 400 OutOfRangeInput');
      return true;
    });
    await assert.rejects(getObject(folder, 'a/sealed.lz4', join(directory, 'two'), choice), { message: /^download the file: (.+: )?lz4: .* — it is not lz4 data: probably it is encrypted/ });
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});
