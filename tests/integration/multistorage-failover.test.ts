// Failover storages over real local directories and a real config file: dead storages are skipped, the aliveness
// cache files land in $HOME in WAL-G's format and are honoured (WAL-G's own included), --target-storage rules, and
// the network rate limit measured on a real upload.

import { after, afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadSettings, type Settings } from '../../src/config/settings.ts';
import { findObject } from '../../src/multistorage/lookup.ts';
import { openMultiStorage, openStoragesForRead, openStoragesForWrite } from '../../src/multistorage/multi-storage.ts';
import { storageConfigHash } from '../../src/multistorage/config-hash.ts';
import { decodeStatusFile, formatGoTime, resetSharedStatusCaches } from '../../src/multistorage/status-cache.ts';
import { Folder } from '../../src/storage/driver.ts';
import { openStorage } from '../../src/storage/open.ts';
import { clearRateLimits, installRateLimits, withNetworkRateLimit } from '../../src/storage/rate-limit.ts';
import { bodyOf, readAll } from '../helpers/storage-conformance.ts';
import { makeTempDir, removeTempDir } from '../helpers/tmp.ts';

const MiB = 1024 * 1024;
const directories: string[] = [];

afterEach(() => {
  // Each test plays a fresh process: no statuses carried over in memory.
  resetSharedStatusCaches();
  clearRateLimits();
});
after(() => {
  for (const directory of directories) removeTempDir(directory);
});

interface Layout {
  readonly root: string;
  readonly home: string;
  readonly primary: string;
  readonly spare: string;
  readonly configPath: string;
}

/** A primary storage directory and a failover called `spare`, a home directory and a config file naming them. */
function layout(extraConfig: Record<string, unknown> = {}, spareSettings: Record<string, unknown> = {}): Layout {
  const root = makeTempDir({ prefix: 'walnut-failover-' });
  directories.push(root);
  const home = join(root, 'home');
  const primary = join(root, 'primary');
  const spare = join(root, 'spare');
  for (const directory of [home, primary, spare]) mkdirSync(directory);
  const configPath = join(root, 'walg.json');
  writeFileSync(
    configPath,
    JSON.stringify({
      WALG_FILE_PREFIX: primary,
      WALG_FAILOVER_STORAGES: { spare: { WALG_FILE_PREFIX: spare, ...spareSettings } },
      ...extraConfig,
    }),
  );
  return { root, home, primary, spare, configPath };
}

function settingsOf(place: Layout, env: Record<string, string> = {}): Settings {
  return loadSettings({ flagValues: new Map(), configPath: place.configPath, env: { HOME: place.home, ...env }, warn: () => {} });
}

/** Makes a storage directory unusable for writes the way a full or read-only disk is: its root is a plain file. */
function breakStorage(directory: string): void {
  rmSync(directory, { recursive: true, force: true });
  writeFileSync(directory, 'not a directory');
}

function repairStorage(directory: string): void {
  rmSync(directory, { force: true });
  mkdirSync(directory);
}

function cachedVerdicts(place: Layout, file = '.walg_storage_rw_status_cache'): Record<string, boolean> {
  const statuses = decodeStatusFile(readFileSync(join(place.home, file), 'utf8'));
  return Object.fromEntries([...statuses].map(([key, status]) => [key, status.wasAlive]));
}

describe('failover storages on local directories', () => {
  test('a dead primary is skipped for writes, and the verdicts are cached in $HOME under WAL-G keys', async () => {
    const place = layout();
    breakStorage(place.primary);
    const selection = await openStoragesForWrite(settingsOf(place));
    assert.equal(selection.name, 'spare');
    await selection.folder.put('wal_005/000000010000000000000001.lz4', bodyOf('segment'));
    await selection.close();
    assert.ok(existsSync(join(place.spare, 'wal_005', '000000010000000000000001.lz4')));
    // The write check cleaned up after itself.
    assert.deepEqual(readdirSync(place.spare), ['wal_005']);
    const defaultKey = `default#${storageConfigHash('file', place.primary, new Map())}`;
    const spareKey = `spare#${storageConfigHash('file', place.spare, new Map())}`;
    assert.deepEqual(cachedVerdicts(place), { [defaultKey]: false, [spareKey]: true });
  });

  test('a dead failover is skipped while the primary is alive; naming it gets "no alive storages"', async () => {
    const place = layout();
    breakStorage(place.spare);
    const first = await openStoragesForWrite(settingsOf(place));
    assert.equal(first.name, 'default');
    await first.close();
    await assert.rejects(openStoragesForWrite(settingsOf(place), 'spare'), { message: 'no alive storages' });
    await assert.rejects(openStoragesForWrite(settingsOf(place), 'elsewhere'), {
      message: 'select storage "elsewhere" in multistorage folder: read status cache: unknown storage "elsewhere"',
    });
    // A storage named explicitly is checked again when the cache calls it dead, as WAL-G does.
    resetSharedStatusCaches();
    repairStorage(place.spare);
    const named = await openStoragesForWrite(settingsOf(place), 'spare');
    assert.equal(named.name, 'spare');
    await named.close();
  });

  test('a later run trusts the cached verdicts until the cache lifetime has passed', async () => {
    const place = layout();
    breakStorage(place.primary);
    const first = await openStoragesForWrite(settingsOf(place));
    assert.equal(first.name, 'spare');
    await first.close();
    resetSharedStatusCaches();
    repairStorage(place.primary);
    const cached = await openStoragesForWrite(settingsOf(place));
    assert.equal(cached.name, 'spare', 'the repaired primary is still believed dead');
    await cached.close();
    resetSharedStatusCaches();
    const rechecked = await openStoragesForWrite(settingsOf(place, { WALG_FAILOVER_STORAGES_CACHE_LIFETIME: '1ms' }));
    assert.equal(rechecked.name, 'default');
    await rechecked.close();
  });

  test('a cache file written by WAL-G marking the primary dead sends writes to the failover without a check', async () => {
    const place = layout();
    const now = Date.now();
    const defaultKey = `default#${storageConfigHash('file', place.primary, new Map())}`;
    const spareKey = `spare#${storageConfigHash('file', place.spare, new Map())}`;
    // As Go writes it: nanoseconds and the local zone.
    const updated = formatGoTime(now).replace(/(\.\d+)?(Z|[+-]\d\d:\d\d)$/, '.123456789$2');
    writeFileSync(
      join(place.home, '.walg_storage_rw_status_cache'),
      `{"${defaultKey}":{"potential_aliveness":0,"actual_aliveness":0,"previous_aliveness":false,"updated":"${updated}"},` +
        `"${spareKey}":{"potential_aliveness":0,"actual_aliveness":0,"previous_aliveness":true,"updated":"${updated}"}}`,
    );
    const selection = await openStoragesForWrite(settingsOf(place));
    assert.equal(selection.name, 'spare');
    await selection.close();
    // No write check ran against the (healthy) primary.
    assert.deepEqual(readdirSync(place.primary), []);
  });

  test('read-only and read-write verdicts live in separate files', async () => {
    const place = layout();
    const read = await openStoragesForRead(settingsOf(place));
    assert.deepEqual(read.storages.map((storage) => storage.name), ['default', 'spare']);
    await read.close();
    assert.ok(existsSync(join(place.home, '.walg_storage_ro_status_cache')));
    assert.ok(!existsSync(join(place.home, '.walg_storage_rw_status_cache')));
    assert.deepEqual(Object.values(cachedVerdicts(place, '.walg_storage_ro_status_cache')), [true, true]);
  });

  test('reads find an object in whichever alive storage holds it', async () => {
    const place = layout();
    mkdirSync(join(place.spare, 'wal_005'));
    writeFileSync(join(place.spare, 'wal_005', '000000010000000000000002.lz4'), 'only in spare');
    const selection = await openStoragesForRead(settingsOf(place));
    const found = await findObject(selection.storages, 'wal_005/000000010000000000000002.lz4');
    assert.equal(found?.storage.name, 'spare');
    assert.equal((await readAll(await found!.storage.folder.get('wal_005/000000010000000000000002.lz4'))).toString(), 'only in spare');
    await selection.close();
  });

  test('WALG_STORAGE_PREFIX applies to every storage, checks included', async () => {
    const place = layout({ WALG_STORAGE_PREFIX: 'cluster1' });
    const selection = await openStoragesForWrite(settingsOf(place), 'spare');
    await selection.folder.put('x', bodyOf('y'));
    await selection.close();
    assert.deepEqual(readdirSync(place.spare), ['cluster1']);
    assert.deepEqual(readdirSync(join(place.spare, 'cluster1')), ['x']);
  });

  test('a failover directory that does not exist fails the configuration, as in WAL-G', async () => {
    const place = layout({}, { WALG_FILE_PREFIX: '/nonexistent/walnut/spare' });
    await assert.rejects(openStoragesForWrite(settingsOf(place), '', { configureErrorPrefix: 'Failed to configure multi-storage: ' }), {
      message:
        'Failed to configure multi-storage: configure failover storages: failover storage spare: configure storage with prefix ' +
        '"/nonexistent/walnut/spare": create FS storage: FS storage root directory doesn\'t exist or is inaccessible: ' +
        'stat /nonexistent/walnut/spare: no such file or directory',
    });
  });

  test('with checks turned off every storage is used as configured, dead or not', async () => {
    const place = layout({ WALG_FAILOVER_STORAGES_CHECK: false });
    breakStorage(place.primary);
    const selection = await openStoragesForWrite(settingsOf(place));
    assert.equal(selection.name, 'default');
    await assert.rejects(selection.folder.put('a', bodyOf('b')));
    await selection.close();
    assert.ok(!existsSync(join(place.home, '.walg_storage_rw_status_cache')));
  });

  test('a daemon choosing per request sees a storage die from its failed operations', async () => {
    const place = layout();
    const multiStorage = await openMultiStorage(settingsOf(place), { checkWrite: true });
    const first = await multiStorage.useFirstAlive();
    assert.equal(first.name, 'default');
    breakStorage(place.primary);
    await assert.rejects(first.folder.put('wal_005/a', bodyOf('a')));
    assert.equal((await multiStorage.useFirstAlive()).name, 'spare');
    await multiStorage.close();
    // The failed upload was saved with the statuses: the primary earned nothing of what it could have.
    const statuses = decodeStatusFile(readFileSync(join(place.home, '.walg_storage_rw_status_cache'), 'utf8'));
    const primaryStatus = statuses.get(`default#${storageConfigHash('file', place.primary, new Map())}`);
    assert.ok(primaryStatus !== undefined && primaryStatus.potentialAliveness > 0);
    assert.equal(primaryStatus.actualAliveness, 0);
  });
});

describe('network rate limit on a local storage', () => {
  async function timedUpload(turbo: boolean): Promise<number> {
    const place = layout({}, {});
    const settings = settingsOf(place, { WALG_NETWORK_RATE_LIMIT: String(MiB) });
    installRateLimits(settings, turbo);
    const prefix = settings.storagePrefix()!;
    const plain = await openStorage(prefix, (name) => settings.storageSetting(name));
    // What open.ts does once wired: the installed limit wraps the driver.
    const folder = new Folder(withNetworkRateLimit(plain.driver), plain.path);
    const started = performance.now();
    await folder.put('basebackups_005/part_1.tar', bodyOf(Buffer.alloc(2 * MiB, 1)));
    const elapsed = performance.now() - started;
    assert.equal(readFileSync(join(place.primary, 'basebackups_005', 'part_1.tar')).length, 2 * MiB);
    await folder.close();
    return elapsed;
  }

  test('2 MiB at 1 MiB/s take about a second (one second of burst is free)', async () => {
    const elapsed = await timedUpload(false);
    assert.ok(elapsed >= 850 && elapsed < 4000, `took ${Math.round(elapsed)} ms`);
  });

  test('--turbo removes the limit', async () => {
    const elapsed = await timedUpload(true);
    // Under the limit the same upload cannot take less than about 0.9 s.
    assert.ok(elapsed < 850, `took ${Math.round(elapsed)} ms`);
  });
});
