// Choosing a delta's parent as WAL-G does, on a storage WAL-G wrote (pg15-lz4-delta: a full backup marked permanent
// and two deltas): LATEST and its count, WALG_DELTA_MAX_STEPS, WALG_DELTA_ORIGIN=LATEST_FULL, by name, by user
// data, and the falls back to a full backup.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { StorageSet } from '../../src/backup/storage-set.ts';
import { Folder } from '../../src/storage/driver.ts';
import { openFileStorage } from '../../src/storage/file.ts';
import { MemoryStorageDriver } from '../../src/storage/memory.ts';
import { chooseDeltaParent, deltaOriginFromFull, deltaSelector } from '../../src/backup-push/delta-base.ts';

const STORAGE = join(import.meta.dirname, '../../compat-fixtures/pg15-lz4-delta/storage');
const FULL = 'base_000000010000000000000002';
const DELTA_2 = 'base_000000010000000000000006_D_000000010000000000000004';

async function fixtureStorages(): Promise<StorageSet> {
  return new StorageSet([{ name: 'default', root: new Folder(await openFileStorage(STORAGE)) }]);
}

test('LATEST is the newest sentinel; the new delta counts one more than it', async () => {
  const parent = await chooseDeltaParent(await fixtureStorages(), { kind: 'latest' }, { maxSteps: 6, fromFull: false }, false);
  assert.equal(parent?.name, DELTA_2);
  assert.equal(parent?.incrementCount, 3);
  assert.equal(parent?.sentinel.startLsn, 100663336n);
  // The parent's files with their recorded mtimes, for the skip-by-mtime rule.
  assert.ok(parent!.modificationTimes.size > 900);
  assert.ok(parent!.modificationTimes.get('/PG_VERSION'));
});

test('past WALG_DELTA_MAX_STEPS (or with it at 0) the backup is full', async () => {
  assert.equal(await chooseDeltaParent(await fixtureStorages(), { kind: 'latest' }, { maxSteps: 2, fromFull: false }, false), undefined);
  assert.equal(await chooseDeltaParent(await fixtureStorages(), { kind: 'latest' }, { maxSteps: 0, fromFull: false }, false), undefined);
});

test('LATEST_FULL increments from the chain\'s full backup but keeps LATEST\'s count', async () => {
  const parent = await chooseDeltaParent(await fixtureStorages(), { kind: 'latest' }, { maxSteps: 6, fromFull: true }, false);
  assert.equal(parent?.name, FULL);
  assert.equal(parent?.incrementCount, 3);
});

test('a permanent parent only takes a permanent delta (the fixture\'s full backup is permanent)', async () => {
  const byName = { kind: 'name', name: FULL } as const;
  assert.equal(await chooseDeltaParent(await fixtureStorages(), byName, { maxSteps: 6, fromFull: false }, false), undefined);
  const permanent = await chooseDeltaParent(await fixtureStorages(), byName, { maxSteps: 6, fromFull: false }, true);
  assert.equal(permanent?.name, FULL);
  assert.equal(permanent?.incrementCount, 1);
});

test('no backup at all means a full backup; a missing named parent is an error', async () => {
  const empty = new StorageSet([{ name: 'default', root: new Folder(new MemoryStorageDriver()) }]);
  assert.equal(await chooseDeltaParent(empty, { kind: 'latest' }, { maxSteps: 3, fromFull: false }, false), undefined);
  await assert.rejects(chooseDeltaParent(await fixtureStorages(), { kind: 'name', name: 'base_000000010000000000000009' }, { maxSteps: 3, fromFull: false }, false), /does not exist/);
});

test('the selectors and WALG_DELTA_ORIGIN are checked as WAL-G checks them', () => {
  assert.throws(() => deltaSelector('base_x', { a: 1 }, true), /only one delta target should be specified/);
  assert.deepEqual(deltaSelector('', undefined, false), { kind: 'latest' });
  assert.deepEqual(deltaSelector('base_x', undefined, false), { kind: 'name', name: 'base_x' });
  assert.equal(deltaOriginFromFull(undefined), false);
  assert.equal(deltaOriginFromFull('LATEST_FULL'), true);
  assert.throws(() => deltaOriginFromFull('OLDEST'), /Unknown WALG_DELTA_ORIGIN: OLDEST/);
});
