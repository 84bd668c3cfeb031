// Failover storages: the aliveness score, the cache file format, the check/cache decisions, the explicit checks,
// opening and choosing storages, operation reports, and reads across storages.

process.env.TZ = 'UTC';

import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadSettings, type Settings } from '../../src/config/settings.ts';
import { Folder, NotFoundError } from '../../src/storage/driver.ts';
import type { GetOptions, ListEntry, ListOptions, ObjectInfo, PutOptions, StorageDriver } from '../../src/storage/driver.ts';
import { MemoryStorageDriver } from '../../src/storage/memory.ts';
import type { StoragePrefix } from '../../src/storage/open.ts';
import { CHECK_OBJECT_NAME, checkStoragesAlive } from '../../src/multistorage/alive-check.ts';
import { AlwaysAliveCollector, CheckingCollector } from '../../src/multistorage/collector.ts';
import { storageConfigHash } from '../../src/multistorage/config-hash.ts';
import { findObject, listMerged, listUnited } from '../../src/multistorage/lookup.ts';
import {
  describeStorageNames,
  openMultiStorage,
  openStoragesForRead,
  openStoragesForWrite,
  type NamedFolder,
} from '../../src/multistorage/multi-storage.ts';
import { OPERATION_WEIGHT, ReportingStorageDriver } from '../../src/multistorage/reporting-driver.ts';
import {
  DEFAULT_EMA_PARAMS,
  FILE_FLUSH_INTERVAL_MS,
  SharedStatusMemory,
  StatusCache,
  StatusCacheFile,
  applyCheckResult,
  applyOperationResult,
  decodeStatusFile,
  encodeStatusFile,
  formatGoTime,
  isAlive,
  mergeByRelevance,
  parseGoTime,
  resetSharedStatusCaches,
  type AliveMap,
  type StorageStatus,
} from '../../src/multistorage/status-cache.ts';
import { bodyOf, collect, readAll, storageConformance } from '../helpers/storage-conformance.ts';

const temporaryDirectories: string[] = [];

function temporaryDirectory(): string {
  const directory = mkdtempSync(join(tmpdir(), 'walnut-multistorage-'));
  temporaryDirectories.push(directory);
  return directory;
}

afterEach(() => {
  resetSharedStatusCaches();
  for (const directory of temporaryDirectories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

const status = (potential: number, actual: number, wasAlive: boolean, updated = 0): StorageStatus => ({
  potentialAliveness: potential,
  actualAliveness: actual,
  wasAlive,
  updated,
});

describe('aliveness score', () => {
  test('alive storages stay alive down to the dead limit, dead ones need the alive limit', () => {
    const cases: Array<[number, number, boolean, boolean]> = [
      [88, 100, true, true],
      [99, 100, false, true],
      [87, 100, true, false],
      [98, 100, false, false],
      [0, 0, true, true],
      [0, 0, false, false],
    ];
    for (const [actual, potential, wasAlive, expected] of cases) {
      assert.equal(isAlive(status(potential, actual, wasAlive), DEFAULT_EMA_PARAMS), expected, `${actual}/${potential} ${wasAlive}`);
    }
  });

  test('an explicit check makes a storage fully alive or fully dead', () => {
    assert.deepEqual(applyCheckResult(status(100, 0, false), true, 5), status(100, 100, true, 5));
    assert.deepEqual(applyCheckResult(status(100, 100, true), false, 6), status(100, 0, false, 6));
  });

  test("a dead storage comes back after 28 successes and an alive one dies after 6 failures, as in WAL-G's tests", () => {
    let dead = status(100, 0, false);
    let successes = 0;
    while (!isAlive(dead, DEFAULT_EMA_PARAMS)) {
      dead = applyOperationResult(dead, DEFAULT_EMA_PARAMS, true, 100, 1);
      successes++;
    }
    assert.equal(successes, 28);
    let alive = status(100, 100, true);
    let failures = 0;
    while (isAlive(alive, DEFAULT_EMA_PARAMS)) {
      alive = applyOperationResult(alive, DEFAULT_EMA_PARAMS, false, 100, 1);
      failures++;
    }
    assert.equal(failures, 6);
  });

  test('one failure in ten keeps a storage alive, one in eight kills it', () => {
    let tenth = status(100, 100, true);
    for (let i = 1; i <= 1000; i++) {
      tenth = applyOperationResult(tenth, DEFAULT_EMA_PARAMS, i % 10 !== 0, 100, i);
      assert.ok(isAlive(tenth, DEFAULT_EMA_PARAMS), `died at operation ${i}`);
    }
    let eighth = status(100, 100, true);
    let died = false;
    for (let i = 1; i <= 1000 && !died; i++) {
      eighth = applyOperationResult(eighth, DEFAULT_EMA_PARAMS, i % 8 !== 0, 100, i);
      died = !isAlive(eighth, DEFAULT_EMA_PARAMS);
    }
    assert.ok(died);
  });

  test('invalid EMA parameters are refused with WAL-G’s messages', () => {
    const cache = (ema: typeof DEFAULT_EMA_PARAMS) =>
      new StatusCache({ keys: new Map(), ttlMs: 1, ema, memory: new SharedStatusMemory() });
    assert.throws(() => cache({ ...DEFAULT_EMA_PARAMS, aliveLimit: 1 }), { message: 'alive limit is expected to be in range (0, 1)' });
    assert.throws(() => cache({ ...DEFAULT_EMA_PARAMS, aliveLimit: 0.5, deadLimit: 0.6 }), {
      message: 'alive limit must be greater than dead limit',
    });
    assert.throws(() => cache({ ...DEFAULT_EMA_PARAMS, alphaDead: { min: 0.6, max: 0.5 } }), {
      message: 'max EMA alpha must be greater than min EMA alpha for dead storage',
    });
  });
});

describe('status cache file format', () => {
  test('statuses are written as Go’s json.Marshal writes them: sorted keys, RFC 3339 times', () => {
    const statuses = new Map([
      ['failover#b1', status(0, 0, false, Date.UTC(2024, 0, 31, 12, 0, 0, 250))],
      ['default#a0', status(2000.5, 1000, true, Date.UTC(2024, 0, 31, 12, 0, 1))],
    ]);
    assert.equal(
      encodeStatusFile(statuses),
      '{"default#a0":{"potential_aliveness":2000.5,"actual_aliveness":1000,"previous_aliveness":true,"updated":"2024-01-31T12:00:01Z"},' +
        '"failover#b1":{"potential_aliveness":0,"actual_aliveness":0,"previous_aliveness":false,"updated":"2024-01-31T12:00:00.25Z"}}',
    );
    assert.deepEqual(decodeStatusFile(encodeStatusFile(statuses)), statuses);
  });

  test('a file written by WAL-G, with nanoseconds and a zone offset, is read', () => {
    const text =
      '{"default#0a1b":{"potential_aliveness":1000,"actual_aliveness":0,"previous_aliveness":false,' +
      '"updated":"2024-01-31T15:00:00.123456789+03:00"},"no hash here":{}}';
    const statuses = decodeStatusFile(text);
    assert.deepEqual([...statuses.keys()], ['default#0a1b']);
    assert.deepEqual(statuses.get('default#0a1b'), status(1000, 0, false, Date.UTC(2024, 0, 31, 12, 0, 0, 123)));
  });

  test('Go’s zero time means never, and times format back the way Go prints them', () => {
    assert.equal(parseGoTime('0001-01-01T00:00:00Z'), 0);
    assert.equal(formatGoTime(0), '0001-01-01T00:00:00Z');
    assert.equal(parseGoTime('2024-01-31T12:00:00.5-01:30'), Date.UTC(2024, 0, 31, 13, 30, 0, 500));
    assert.throws(() => parseGoTime('yesterday'));
  });

  test('merging keeps every key and the newer status of each', () => {
    const merged = mergeByRelevance(
      new Map([['a#1', status(1, 1, true, 10)], ['b#1', status(1, 1, true, 30)]]),
      new Map([['a#1', status(2, 0, false, 20)], ['b#1', status(2, 0, false, 20)], ['c#1', status(3, 3, true, 5)]]),
    );
    assert.equal(merged.get('a#1')?.updated, 20);
    assert.equal(merged.get('b#1')?.updated, 30);
    assert.equal(merged.get('c#1')?.potentialAliveness, 3);
  });

  test('a local directory gets WAL-G’s own config hash, md5 of "fs" and its JSON config', () => {
    // md5('fs{"RootPath":"/backups"}')
    assert.equal(storageConfigHash('file', '/backups', new Map()), '563c7af7d15ba38b50622654e1b79303');
    assert.equal(storageConfigHash('file', 'file://localhost/backups', new Map()), storageConfigHash('file', '/backups', new Map()));
    const withKey = storageConfigHash('s3', 's3://b/p', new Map([['AWS_ACCESS_KEY_ID', 'one'], ['AWS_REGION', 'r']]));
    const otherKey = storageConfigHash('s3', 's3://b/p', new Map([['AWS_ACCESS_KEY_ID', 'two'], ['AWS_REGION', 'r']]));
    assert.equal(withKey, otherKey, 'secrets do not enter the hash');
    assert.notEqual(withKey, storageConfigHash('s3', 's3://b/other', new Map([['AWS_REGION', 'r']])));
  });
});

describe('status cache', () => {
  const keys = new Map([
    ['default', 'default#h0'],
    ['failover', 'failover#h1'],
  ]);

  function cacheIn(directory: string, now: () => number, memory = new SharedStatusMemory(), ttlMs = 60_000) {
    return new StatusCache({ keys, ttlMs, ema: DEFAULT_EMA_PARAMS, memory, file: new StatusCacheFile(join(directory, 'cache')), now });
  }

  test('unknown storages are outdated, check results are cached and written to a missing file', () => {
    const directory = temporaryDirectory();
    const now = Date.now();
    const cache = cacheIn(directory, () => now);
    const { relevant, outdated } = cache.read(['default', 'failover']);
    assert.equal(relevant.size, 0);
    assert.deepEqual([...outdated.keys()], ['default', 'failover']);
    const after = cache.applyCheckResult(new Map([['default', false], ['failover', true]]), now, ['default', 'failover']);
    assert.deepEqual(after, new Map([['default', false], ['failover', true]]));
    const written = decodeStatusFile(readFileSync(join(directory, 'cache'), 'utf8'));
    assert.equal(written.get('default#h0')?.wasAlive, false);
    assert.equal(written.get('failover#h1')?.wasAlive, true);
  });

  test('another process reads the verdicts from the file while they are fresh, and not after the lifetime', () => {
    const directory = temporaryDirectory();
    const now = Date.now();
    cacheIn(directory, () => now).applyCheckResult(new Map([['default', false]]), now, ['default']);
    const fresh = cacheIn(directory, () => now + 30_000).read(['default']);
    assert.deepEqual(fresh.relevant, new Map([['default', false]]));
    const stale = cacheIn(directory, () => now + 61_000).read(['default']);
    assert.equal(stale.relevant.size, 0);
    assert.deepEqual([...stale.outdated.keys()], ['default']);
  });

  test('a file younger than five minutes is not rewritten for each result, but is at close', () => {
    const directory = temporaryDirectory();
    const path = join(directory, 'cache');
    writeFileSync(path, '{"other#x":{"potential_aliveness":1,"actual_aliveness":1,"previous_aliveness":true,"updated":"2024-01-01T00:00:00Z"}}');
    const now = Date.now();
    const cache = cacheIn(directory, () => now);
    cache.applyCheckResult(new Map([['default', true]]), now, ['default']);
    cache.applyOperationResult('default', false, 1000);
    assert.equal(decodeStatusFile(readFileSync(path, 'utf8')).has('default#h0'), false);
    cache.flush();
    const written = decodeStatusFile(readFileSync(path, 'utf8'));
    assert.ok(written.has('default#h0'));
    assert.ok(written.has('other#x'), 'entries of other configurations are kept');
  });

  test('a file older than five minutes is merged and rewritten at the next result', () => {
    const directory = temporaryDirectory();
    const path = join(directory, 'cache');
    writeFileSync(path, '{}');
    const old = (Date.now() - FILE_FLUSH_INTERVAL_MS - 1000) / 1000;
    utimesSync(path, old, old);
    const cache = cacheIn(directory, () => Date.now());
    cache.applyOperationResult('failover', true, 1000);
    assert.ok(decodeStatusFile(readFileSync(path, 'utf8')).has('failover#h1'));
  });

  test('memory alone answers when every asked status is fresh there', () => {
    const directory = temporaryDirectory();
    const memory = new SharedStatusMemory();
    const now = Date.now();
    memory.statuses.set('default#h0', status(0, 0, true, now));
    const cache = cacheIn(directory, () => now, memory);
    // A damaged file would be reported if it were read.
    writeFileSync(join(directory, 'cache'), 'not json');
    assert.deepEqual(cache.read(['default']), { relevant: new Map([['default', true]]), outdated: new Map() });
  });

  test('asking about a storage the cache does not know is an error', () => {
    const cache = cacheIn(temporaryDirectory(), () => Date.now());
    assert.throws(() => cache.read(['nope']), { message: 'unknown storage "nope"' });
  });
});

describe('choosing alive storages', () => {
  const order = ['default', 'a', 'b'];

  function collectorWith(cached: Record<string, boolean>, truth: Record<string, boolean>) {
    const memory = new SharedStatusMemory();
    const now = Date.now();
    for (const [name, alive] of Object.entries(cached)) memory.statuses.set(`${name}#h`, status(0, 0, alive, now));
    const cache = new StatusCache({
      keys: new Map(order.map((name) => [name, `${name}#h`])),
      ttlMs: 60_000,
      ema: DEFAULT_EMA_PARAMS,
      memory,
    });
    const checked: string[][] = [];
    const collector = new CheckingCollector(order, cache, async (names) => {
      checked.push([...names].sort());
      return new Map(names.map((name) => [name, truth[name] ?? false])) as AliveMap;
    });
    return { collector, checked };
  }

  test('a fresh cache answers without checking', async () => {
    const { collector, checked } = collectorWith({ default: false, a: true, b: true }, {});
    assert.equal(await collector.firstAlive(), 'a');
    assert.deepEqual(await collector.allAlive(), ['a', 'b']);
    assert.deepEqual(checked, []);
  });

  test('storages without a fresh status are checked; fresh ones are trusted', async () => {
    const { collector, checked } = collectorWith({ default: false }, { a: true, b: true });
    assert.equal(await collector.firstAlive(), 'a');
    assert.deepEqual(checked, [['a', 'b']]);
  });

  test('when every storage seems dead the fresh verdicts are checked again', async () => {
    const { collector, checked } = collectorWith({ default: false, a: false }, { default: true, b: false });
    assert.equal(await collector.firstAlive(), 'default');
    assert.deepEqual(checked, [['b'], ['a', 'default']]);
  });

  test('all alive: nothing alive after both rounds is an empty list', async () => {
    const { collector, checked } = collectorWith({}, {});
    assert.deepEqual(await collector.allAlive(), []);
    assert.deepEqual(checked, [['a', 'b', 'default'], []]);
  });

  test('a specific storage is trusted when cached alive, checked otherwise', async () => {
    const { collector, checked } = collectorWith({ a: true, b: false }, { b: true });
    assert.equal(await collector.specific('a'), true);
    assert.equal(await collector.specific('b'), true);
    assert.deepEqual(checked, [['b']]);
    await assert.rejects(collector.specific('zzz'), { message: 'read status cache: unknown storage "zzz"' });
  });

  test('without checks every storage is alive and only unknown names fail', async () => {
    const collector = new AlwaysAliveCollector(order);
    assert.equal(await collector.firstAlive(), 'default');
    assert.deepEqual(await collector.allAlive(), order);
    assert.equal(await collector.specific('b'), true);
    await assert.rejects(collector.specific('x'), { message: 'unknown storage "x"' });
  });
});

/** A memory driver whose operations can be made to fail or hang. */
class BrokenDriver implements StorageDriver {
  readonly kind = 'broken';
  readonly inner = new MemoryStorageDriver();
  failList: Error | undefined;
  failPut: Error | undefined;
  hangList = false;
  puts: string[] = [];

  async *list(prefix: string, options?: ListOptions): AsyncIterable<ListEntry> {
    if (this.hangList) await new Promise(() => {});
    if (this.failList) throw this.failList;
    yield* this.inner.list(prefix, options);
  }

  stat(key: string): Promise<ObjectInfo | undefined> {
    return this.inner.stat(key);
  }

  get(key: string, options?: GetOptions): Promise<Readable> {
    return this.inner.get(key, options);
  }

  async put(key: string, body: Readable, options?: PutOptions): Promise<void> {
    this.puts.push(key);
    if (this.failPut) {
      body.destroy();
      throw this.failPut;
    }
    return this.inner.put(key, body, options);
  }

  deleteMany(keys: string[]): Promise<void> {
    return this.inner.deleteMany(keys);
  }

  copy(sourceKey: string, destinationKey: string): Promise<void> {
    return this.inner.copy(sourceKey, destinationKey);
  }

  async close(): Promise<void> {}
}

describe('explicit checks', () => {
  test('a listable, writable storage is alive and the check object is gone afterwards', async () => {
    const driver = new BrokenDriver();
    const folders = new Map([['default', new Folder(driver, 'prefix')]]);
    const result = await checkStoragesAlive(folders, ['default'], { timeoutMs: 5000, writeBytes: 200_000 });
    assert.deepEqual(result, new Map([['default', true]]));
    assert.deepEqual(driver.puts, [`prefix/${CHECK_OBJECT_NAME}`]);
    assert.equal(driver.inner.objects.size, 0);
  });

  test('a failing listing makes a storage dead; a failing upload only for write checks', async () => {
    const unlistable = new BrokenDriver();
    unlistable.failList = new Error('permission denied');
    const readOnly = new BrokenDriver();
    readOnly.failPut = new Error('no space left on device');
    const folders = new Map([
      ['unlistable', new Folder(unlistable)],
      ['readonly', new Folder(readOnly)],
    ]);
    const names = ['unlistable', 'readonly'];
    assert.deepEqual(
      await checkStoragesAlive(folders, names, { timeoutMs: 5000 }),
      new Map([['unlistable', false], ['readonly', true]]),
    );
    assert.deepEqual(
      await checkStoragesAlive(folders, names, { timeoutMs: 5000, writeBytes: 10 }),
      new Map([['unlistable', false], ['readonly', false]]),
    );
  });

  test('a storage that does not answer in time is dead when the deadline passes', async () => {
    const hanging = new BrokenDriver();
    hanging.hangList = true;
    const started = performance.now();
    const result = await checkStoragesAlive(
      new Map([['slow', new Folder(hanging)], ['quick', new Folder(new BrokenDriver())]]),
      ['slow', 'quick'],
      { timeoutMs: 150 },
    );
    assert.deepEqual(result, new Map([['slow', false], ['quick', true]]));
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 140 && elapsed < 2000, `took ${elapsed} ms`);
  });
});

function settingsFromFile(config: Record<string, unknown>, env: Record<string, string> = {}): Settings {
  const directory = temporaryDirectory();
  const path = join(directory, 'walg.json');
  writeFileSync(path, JSON.stringify(config));
  return loadSettings({ flagValues: new Map(), configPath: path, env, homeDir: directory, warn: () => {} });
}

/** Opens storages by prefix value from a table of drivers, as openStorage would from real prefixes. */
function openerFor(drivers: Record<string, StorageDriver>) {
  return async (prefix: StoragePrefix, getSetting: (name: string) => string | undefined): Promise<Folder> => {
    const driver = drivers[prefix.value];
    if (driver === undefined) throw new Error(`no test driver for ${prefix.value}`);
    const root = new Folder(driver);
    const storagePrefix = getSetting('WALG_STORAGE_PREFIX');
    return storagePrefix ? root.subFolder(storagePrefix) : root;
  };
}

describe('opening and choosing storages', () => {
  function twoFailovers() {
    const drivers = { '/primary': new BrokenDriver(), '/zeta': new BrokenDriver(), '/alpha': new BrokenDriver() };
    const settings = settingsFromFile({
      WALG_FILE_PREFIX: '/primary',
      WALG_STORAGE_PREFIX: 'sub',
      WALG_FAILOVER_STORAGES: { Zeta: { WALG_FILE_PREFIX: '/zeta' }, alpha: { WALE_FILE_PREFIX: '/alpha' } },
    });
    return { drivers, settings, options: { openFolder: openerFor(drivers), cacheDirectory: temporaryDirectory() } };
  }

  test('the primary comes first as "default", then the failovers by name, all under WALG_STORAGE_PREFIX', async () => {
    const { settings, options } = twoFailovers();
    const multiStorage = await openMultiStorage(settings, { ...options, checkWrite: false });
    assert.deepEqual(multiStorage.names(), ['default', 'alpha', 'zeta']);
    assert.ok(multiStorage.storages.every((storage) => storage.folder.path === 'sub/'));
    assert.equal(multiStorage.config.aliveChecks, true);
    await multiStorage.close();
    assert.equal(describeStorageNames(multiStorage.names()), '[default alpha zeta]');
  });

  test('writes go to the first alive storage, and a dead primary is skipped', async () => {
    const { drivers, settings, options } = twoFailovers();
    drivers['/primary'].failPut = new Error('read-only file system');
    const selection = await openStoragesForWrite(settings, '', options);
    assert.equal(selection.name, 'alpha');
    await selection.folder.put('wal_005/x', bodyOf('wal'));
    assert.ok(drivers['/alpha'].inner.objects.has('sub/wal_005/x'));
    await selection.close();
    const written = decodeStatusFile(readFileSync(join(options.cacheDirectory, '.walg_storage_rw_status_cache'), 'utf8'));
    const verdicts = Object.fromEntries([...written].map(([key, value]) => [key.split('#')[0], value.wasAlive]));
    assert.deepEqual(verdicts, { default: false, alpha: true, zeta: true });
  });

  test('--target-storage must name an alive storage', async () => {
    const { drivers, settings, options } = twoFailovers();
    drivers['/zeta'].failPut = new Error('disk full');
    await assert.rejects(openStoragesForWrite(settings, 'zeta', options), { message: 'no alive storages' });
    await assert.rejects(openStoragesForWrite(settings, 'nope', options), {
      message: 'select storage "nope" in multistorage folder: read status cache: unknown storage "nope"',
    });
    const selection = await openStoragesForWrite(settings, 'default', options);
    assert.equal(selection.name, 'default');
    await selection.close();
  });

  test('reads use every alive storage in order, or only the target', async () => {
    const { drivers, settings, options } = twoFailovers();
    drivers['/alpha'].failList = new Error('unreachable');
    const all = await openStoragesForRead(settings, '', options);
    assert.deepEqual(
      all.storages.map((storage) => storage.name),
      ['default', 'zeta'],
    );
    await all.close();
    const one = await openStoragesForRead(settings, 'zeta', options);
    assert.deepEqual(one.storages.map((storage) => storage.name), ['zeta']);
    await one.close();
  });

  test('no alive storage at all is "no alive storages"', async () => {
    const { drivers, settings, options } = twoFailovers();
    for (const driver of Object.values(drivers)) driver.failList = new Error('down');
    await assert.rejects(openStoragesForRead(settings, '', options), { message: 'no alive storages' });
  });

  test('without failover storages nothing is checked and every name but default is unknown', async () => {
    const primary = new BrokenDriver();
    primary.failList = new Error('would fail a check');
    const settings = settingsFromFile({ WALG_FILE_PREFIX: '/primary' });
    const options = { openFolder: openerFor({ '/primary': primary }), cacheDirectory: temporaryDirectory() };
    const selection = await openStoragesForWrite(settings, '', options);
    assert.equal(selection.name, 'default');
    assert.equal(selection.multiStorage.config.aliveChecks, false);
    await selection.close();
    await assert.rejects(openStoragesForWrite(settings, 'other', options), {
      message: 'select storage "other" in multistorage folder: unknown storage "other"',
    });
  });

  test('configuration errors carry WAL-G’s wording', async () => {
    const open = openerFor({ '/p': new BrokenDriver(), '/f': new BrokenDriver() });
    const cacheDirectory = temporaryDirectory();
    const reserved = settingsFromFile({ WALG_FILE_PREFIX: '/p', WALG_FAILOVER_STORAGES: { DEFAULT: { WALG_FILE_PREFIX: '/f' } } });
    await assert.rejects(openMultiStorage(reserved, { checkWrite: true, openFolder: open, cacheDirectory }), {
      message: "configure failover storages: 'default' storage name is reserved",
    });
    const noPrefix = settingsFromFile({ WALG_FILE_PREFIX: '/p', WALG_FAILOVER_STORAGES: { spare: { AWS_REGION: 'x' } } });
    await assert.rejects(openMultiStorage(noPrefix, { checkWrite: true, openFolder: open, cacheDirectory }), {
      message: /^configure failover storages: failover storage spare: No storage is configured now, please set one of following settings: \[WALG_OSS_PREFIX /,
    });
    const badCheck = settingsFromFile({ WALG_FILE_PREFIX: '/p' }, { WALG_FAILOVER_STORAGES_CHECK: 'maybe' });
    await assert.rejects(
      openStoragesForWrite(badCheck, '', { openFolder: open, cacheDirectory, configureErrorPrefix: 'Failed to configure multi-storage: ' }),
      { message: 'Failed to configure multi-storage: get failover storage check setting: strconv.ParseBool: parsing "maybe": invalid syntax' },
    );
    const badEma = settingsFromFile(
      { WALG_FILE_PREFIX: '/p', WALG_FAILOVER_STORAGES: { f: { WALG_FILE_PREFIX: '/f' } } },
      { WALG_FAILOVER_STORAGES_CACHE_EMA_ALIVE_LIMIT: '1.5' },
    );
    await assert.rejects(openMultiStorage(badEma, { checkWrite: false, openFolder: open, cacheDirectory }), {
      message: 'configure stats collector: init storage status cache: invalid EMA params: alive limit is expected to be in range (0, 1)',
    });
    const badFloat = settingsFromFile(
      { WALG_FILE_PREFIX: '/p', WALG_FAILOVER_STORAGES: { f: { WALG_FILE_PREFIX: '/f' } } },
      { WALG_FAILOVER_STORAGES_CACHE_EMA_DEAD_LIMIT: 'low' },
    );
    await assert.rejects(openMultiStorage(badFloat, { checkWrite: false, openFolder: open, cacheDirectory }), {
      message: 'configure failover storages status cache: get EMA dead limit setting: strconv.ParseFloat: parsing "low": invalid syntax',
    });
  });

  test('failing operations on the chosen storage make it dead for the next choice in the same process', async () => {
    const { drivers, settings, options } = twoFailovers();
    const first = await openStoragesForWrite(settings, '', options);
    assert.equal(first.name, 'default');
    drivers['/primary'].failPut = new Error('quota exceeded');
    for (let attempt = 0; attempt < 6; attempt++) {
      await assert.rejects(first.folder.put(`wal_005/${attempt}`, bodyOf('x')), { message: 'quota exceeded' });
    }
    assert.equal((await first.multiStorage.useFirstAlive()).name, 'alpha');
    await first.close();
  });
});

storageConformance('reporting decorator over memory', async () => new Folder(new ReportingStorageDriver(new MemoryStorageDriver(), () => {})));

describe('operation reports', () => {
  test('each operation reports its WAL-G weight and whether the storage did its part', async () => {
    const reports: Array<[number, boolean]> = [];
    const inner = new MemoryStorageDriver();
    const folder = new Folder(new ReportingStorageDriver(inner, (weight, success) => reports.push([weight, success])));
    await folder.put('big', bodyOf(Buffer.alloc(3 * 1024 * 1024)));
    await collect(folder.list(''));
    await folder.exists('big');
    await readAll(await folder.get('big'));
    await assert.rejects(folder.get('missing'), NotFoundError);
    await assert.rejects(folder.copy('missing', 'x'), NotFoundError);
    await folder.deleteMany(['a', 'b', 'c']);
    const transfer = 1000 * (1 + Math.log10(3));
    assert.deepEqual(reports, [
      [transfer, true],
      [2000, true],
      [1000, true],
      [transfer, true],
      [1000, true],
      [2000, true],
      [500 * (1 + Math.log10(3)), true],
    ]);
    assert.equal(OPERATION_WEIGHT.transfer(1024 * 1024), 1000);
  });

  test('a broken read and a failed write count against the storage; a failing source does not', async () => {
    const reports: boolean[] = [];
    const driver = new BrokenDriver();
    await driver.inner.put('k', bodyOf('data'));
    const originalGet = driver.get.bind(driver);
    driver.get = async (key: string, options?: GetOptions) => {
      await originalGet(key, options);
      return new Readable({
        read() {
          this.destroy(Object.assign(new Error('reset'), { code: 'ECONNRESET' }));
        },
      });
    };
    const folder = new Folder(new ReportingStorageDriver(driver, (_weight, success) => reports.push(success)));
    await assert.rejects(readAll(await folder.get('k')), { code: 'ECONNRESET' });
    await sleep(10);
    const sourceError = new Error('local read failed');
    await assert.rejects(
      folder.put(
        'x',
        new Readable({
          read() {
            this.destroy(sourceError);
          },
        }),
      ),
      (error) => error === sourceError,
    );
    driver.failPut = new Error('denied');
    await assert.rejects(folder.put('y', bodyOf('z')), { message: 'denied' });
    assert.deepEqual(reports, [false, false]);
  });
});

describe('reading across storages', () => {
  async function storagesWith(contents: Record<string, Record<string, string>>): Promise<NamedFolder[]> {
    const storages: NamedFolder[] = [];
    for (const [name, objects] of Object.entries(contents)) {
      const folder = new Folder(new MemoryStorageDriver());
      for (const [key, text] of Object.entries(objects)) await folder.put(key, bodyOf(text));
      storages.push({ name, folder });
    }
    return storages;
  }

  test('an object is taken from the first storage that has it', async () => {
    const storages = await storagesWith({ default: { a: '1' }, spare: { a: '22', b: '333' } });
    assert.equal((await findObject(storages, 'a'))?.storage.name, 'default');
    const found = await findObject(storages, 'b');
    assert.equal(found?.storage.name, 'spare');
    assert.equal(found?.info.size, 3);
    assert.equal(await findObject(storages, 'c'), undefined);
  });

  test('a storage that cannot answer stops the search with its name', async () => {
    const broken = new BrokenDriver();
    broken.inner.stat = async () => {
      throw new Error('timeout');
    };
    const storages = [{ name: 'default', folder: new Folder(broken) }, ...(await storagesWith({ spare: { a: '1' } }))];
    await assert.rejects(findObject(storages, 'a'), { message: 'check file for existence in "default": timeout' });
  });

  test('united listings keep each storage’s copy; merged listings keep the first', async () => {
    const storages = await storagesWith({ default: { 'x/a': '1', 'x/b': '1' }, spare: { 'x/a': '1', 'x/c': '1', 'y/d': '1' } });
    const united = [];
    for await (const item of listUnited(storages)) united.push(`${item.storageName}:${item.entry.key}`);
    assert.deepEqual(united, ['default:x/', 'spare:y/']);
    const unitedObjects = [];
    for await (const item of listUnited(storages, 'x/')) unitedObjects.push(`${item.storageName}:${item.entry.key}`);
    assert.deepEqual(unitedObjects, ['default:x/a', 'default:x/b', 'spare:x/a', 'spare:x/c']);
    const merged = [];
    for await (const item of listMerged(storages, 'x/')) merged.push(`${item.storageName}:${item.entry.key}`);
    assert.deepEqual(merged, ['default:x/a', 'default:x/b', 'spare:x/c']);
  });
});
