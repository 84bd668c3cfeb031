// delete's choice of target and objects on an in-memory storage: retain/before/target/everything/garbage with their
// modifiers, permanent backups and their WAL kept, dry runs deleting nothing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { DeleteSession, garbagePredicate, isPermanentObject, oldestNonPermanentBackup, timelineAndSegmentOrder } from '../../src/backup/delete.ts';
import { StorageSet } from '../../src/backup/storage-set.ts';
import { Folder } from '../../src/storage/driver.ts';
import { MemoryStorageDriver } from '../../src/storage/memory.ts';

const SEGMENT = 16 * 1024 * 1024;

function hex24(segment: number): string {
  return `00000001${'0'.repeat(8)}${segment.toString(16).toUpperCase().padStart(8, '0')}`;
}

interface BackupSpec {
  readonly segment: number;
  readonly parent?: number;
  readonly full?: number;
  readonly permanent?: boolean;
  /** Sentinel modification time, minutes after 2025-01-01 00:00 UTC. */
  readonly minute: number;
}

function nameOf(spec: { segment: number; parent?: number }): string {
  return spec.parent === undefined ? `base_${hex24(spec.segment)}` : `base_${hex24(spec.segment)}_D_${hex24(spec.parent)}`;
}

const BACKUPS: BackupSpec[] = [
  { segment: 2, minute: 10, permanent: true },
  { segment: 4, parent: 2, full: 2, minute: 20 },
  { segment: 6, minute: 30 },
  { segment: 8, parent: 6, full: 6, minute: 40 },
  { segment: 10, parent: 8, full: 6, minute: 50 },
];

async function put(driver: MemoryStorageDriver, key: string, text: string, minute = 0): Promise<void> {
  await new Folder(driver).put(key, Readable.from([Buffer.from(text)]));
  driver.objects.get(key)!.modified = new Date(Date.UTC(2025, 0, 1, 0, minute));
}

async function fixtureStorage(): Promise<{ driver: MemoryStorageDriver; storages: StorageSet }> {
  const driver = new MemoryStorageDriver();
  for (const spec of BACKUPS) {
    const name = nameOf(spec);
    const lsn = spec.segment * SEGMENT + 40;
    const delta =
      spec.parent === undefined
        ? ''
        : `"DeltaLSN":${spec.parent * SEGMENT + 40},"DeltaFrom":"${nameOf({ segment: spec.parent, parent: BACKUPS.find((b) => b.segment === spec.parent)!.parent })}","DeltaFullName":"${nameOf({ segment: spec.full! })}","DeltaCount":1,`;
    await put(driver, `basebackups_005/${name}/metadata.json`, `{"start_time":"2025-01-01T00:${String(spec.minute - 1).padStart(2, '0')}:00Z","finish_time":"2025-01-01T00:${spec.minute}:00Z","date_fmt":"","hostname":"h","data_dir":"/d","pg_version":150000,"start_lsn":${lsn},"finish_lsn":${lsn + 200},"is_permanent":${spec.permanent === true},"system_identifier":1,"uncompressed_size":1,"compressed_size":1}`);
    await put(driver, `basebackups_005/${name}/tar_partitions/part_001.tar.lz4`, 'tar');
    await put(driver, `basebackups_005/${name}_backup_stop_sentinel.json`, `{"LSN":${lsn},${delta}"PgVersion":150000,"FinishLSN":${lsn + 200},"UncompressedSize":1,"CompressedSize":1,"ChkpNum":null}`, spec.minute);
  }
  for (let segment = 1; segment <= 11; segment++) await put(driver, `wal_005/${hex24(segment)}.lz4`, 'wal');
  await put(driver, 'wal_005/00000002.history.lz4', 'history');
  // A leftover of a backup that never finished: no sentinel.
  await put(driver, `basebackups_005/base_${hex24(3)}/tar_partitions/part_001.tar.lz4`, 'tar');
  return { driver, storages: new StorageSet([{ name: 'default', root: new Folder(driver) }]) };
}

async function session(options: { confirm?: boolean; useSentinelTime?: boolean } = {}): Promise<{ driver: MemoryStorageDriver; session: DeleteSession }> {
  const { driver, storages } = await fixtureStorage();
  return { driver, session: await DeleteSession.open(storages, { confirm: options.confirm ?? true, useSentinelTime: options.useSentinelTime ?? false, segmentSize: SEGMENT }) };
}

function keys(driver: MemoryStorageDriver): string[] {
  return [...driver.objects.keys()].sort();
}

function walLeft(driver: MemoryStorageDriver): number[] {
  return keys(driver)
    .filter((key) => /^wal_005\/0{8}1/.test(key) || /^wal_005\/00000001/.test(key))
    .map((key) => parseInt(key.slice(8 + 16, 8 + 24), 16));
}

function backupsLeft(driver: MemoryStorageDriver): string[] {
  return keys(driver)
    .filter((key) => key.endsWith('_backup_stop_sentinel.json'))
    .map((key) => key.slice('basebackups_005/'.length, -'_backup_stop_sentinel.json'.length));
}

test('retain N targets the N-th newest backup and refuses a delta target', async () => {
  const { session: planned } = await session();
  const target = planned.findRetainTarget(2, 'none');
  assert.equal(target?.backupName, nameOf({ segment: 8, parent: 6 }));
  await assert.rejects(planned.deleteBeforeTarget(target!), /_backup_stop_sentinel.json is incremental and it's predecessors cannot be deleted. Consider FIND_FULL option./);
});

test('retain FULL 1 deletes everything older than the newest full backup except the permanent one and its WAL', async () => {
  const { driver, session: planned } = await session();
  const target = planned.findRetainTarget(1, 'FULL');
  assert.equal(target?.backupName, nameOf({ segment: 6 }));
  await planned.deleteBeforeTarget(target!);
  assert.deepEqual(backupsLeft(driver), [nameOf({ segment: 2 }), nameOf({ segment: 6 }), nameOf({ segment: 8, parent: 6 }), nameOf({ segment: 10, parent: 8 })]);
  // WAL 2 belongs to the permanent backup; the leftover base_..03 and WAL 1, 3, 4, 5 go; history has no segment.
  assert.deepEqual(walLeft(driver), [2, 6, 7, 8, 9, 10, 11]);
  assert.ok(keys(driver).includes('wal_005/00000002.history.lz4'));
  assert.ok(!keys(driver).some((key) => key.includes(`base_${hex24(3)}`)));
  assert.ok(!keys(driver).some((key) => key.includes(`base_${hex24(4)}`)));
});

test('retain FIND_FULL 2 goes back from the 2nd newest to its full backup', async () => {
  const { session: planned } = await session();
  assert.equal(planned.findRetainTarget(2, 'FIND_FULL')?.backupName, nameOf({ segment: 6 }));
  assert.equal(planned.findRetainTarget(9, 'none'), undefined);
});

test('retain --after keeps backups made after a name or a time, whichever reaches further back', async () => {
  const { session: planned } = await session();
  assert.equal(planned.findRetainAfterTarget(1, nameOf({ segment: 2 }), 'none')?.backupName, nameOf({ segment: 2 }));
  assert.equal(planned.findRetainAfterTarget(1, '2025-01-01T00:25:00Z', 'FULL')?.backupName, nameOf({ segment: 6 }));
  assert.equal(planned.findRetainAfterTarget(3, '2025-01-01T00:45:00Z', 'none')?.backupName, nameOf({ segment: 6 }));
});

test('before a name or a time; FIND_FULL walks back to a full backup; an unknown name is "not found"', async () => {
  const { session: planned } = await session();
  assert.equal(planned.findBeforeTarget(nameOf({ segment: 6 }), 'none')?.backupName, nameOf({ segment: 6 }));
  assert.equal(planned.findBeforeTarget(`base_${hex24(8)}`, 'FIND_FULL')?.backupName, nameOf({ segment: 6 }));
  assert.equal(planned.findBeforeTarget('2025-01-01T00:35:00Z', 'FIND_FULL')?.backupName, nameOf({ segment: 6 }));
  assert.equal(planned.findBeforeTarget('2025-01-01T01:00:00Z', 'none'), undefined);
  assert.throws(() => planned.findBeforeTarget('base_nothing', 'none'), /^WalgError: not found$/);
});

test('a dry run lists but deletes nothing', async () => {
  const { driver, session: planned } = await session({ confirm: false });
  const before = keys(driver);
  await planned.deleteBeforeTarget(planned.findRetainTarget(1, 'FULL')!);
  await planned.deleteEverything();
  assert.deepEqual(keys(driver), before);
});

test('delete target removes the backup and the deltas depending on it, never WAL', async () => {
  const { driver, session: planned } = await session();
  const target = await planned.findBySelector({ kind: 'name', name: nameOf({ segment: 8, parent: 6 }) });
  await planned.deleteTarget(target!, false);
  assert.deepEqual(backupsLeft(driver), [nameOf({ segment: 2 }), nameOf({ segment: 4, parent: 2 }), nameOf({ segment: 6 })]);
  assert.equal(walLeft(driver).length, 11);
  assert.ok(!keys(driver).some((key) => key.includes(`base_${hex24(10)}`)));
});

test('delete target FIND_FULL removes the whole family of the full backup', async () => {
  const { driver, session: planned } = await session();
  await planned.deleteTarget((await planned.findBySelector({ kind: 'name', name: nameOf({ segment: 8, parent: 6 }) }))!, true);
  assert.deepEqual(backupsLeft(driver), [nameOf({ segment: 2 }), nameOf({ segment: 4, parent: 2 })]);
});

test('delete target refuses a permanent backup and finds nothing for unknown user data', async () => {
  const { driver, session: planned } = await session();
  const before = keys(driver);
  await assert.rejects(planned.deleteTarget((await planned.findBySelector({ kind: 'name', name: nameOf({ segment: 2 }) }))!, false), /Unable to delete permanent backup base_000000010000000000000002_backup_stop_sentinel.json/);
  assert.equal(await planned.findBySelector({ kind: 'userData', userData: { x: 1 } }), undefined);
  await assert.rejects(planned.findBySelector({ kind: 'name', name: 'base_nope' }), /Backup 'base_nope' does not exist./);
  assert.deepEqual(keys(driver), before);
});

test('permanent objects: the backup and WAL from segment(start-1) to segment(finish-1) on its storage', async () => {
  const { session: planned } = await session();
  assert.equal(isPermanentObject(`wal_005/${hex24(2)}.lz4`, 'default', planned.permanent), true);
  assert.equal(isPermanentObject(`wal_005/${hex24(2)}.00000028.backup.lz4`, 'default', planned.permanent), true);
  assert.equal(isPermanentObject(`wal_005/${hex24(3)}.lz4`, 'default', planned.permanent), false);
  assert.equal(isPermanentObject(`wal_005/${hex24(2)}.lz4`, 'other', planned.permanent), false);
  assert.equal(isPermanentObject(`basebackups_005/${nameOf({ segment: 2 })}/metadata.json`, 'default', planned.permanent), true);
});

test('everything deletes every object, the permanent ones too', async () => {
  const { driver, session: planned } = await session();
  await planned.deleteEverything();
  assert.deepEqual(keys(driver), []);
});

test('garbage: the oldest non-permanent backup by start time, and ARCHIVES touches only WAL', async () => {
  const { driver, storages } = await fixtureStorage();
  assert.equal(await oldestNonPermanentBackup(storages), nameOf({ segment: 4, parent: 2 }));
  // Make the delta permanent too: the oldest non-permanent backup is then the full one at segment 6.
  await put(driver, `basebackups_005/${nameOf({ segment: 4, parent: 2 })}/metadata.json`, new TextDecoder().decode(driver.objects.get(`basebackups_005/${nameOf({ segment: 4, parent: 2 })}/metadata.json`)!.data).replace('"is_permanent":false', '"is_permanent":true'));
  const planned = await DeleteSession.open(storages, { confirm: true, useSentinelTime: false, segmentSize: SEGMENT });
  const oldest = await oldestNonPermanentBackup(storages);
  assert.equal(oldest, nameOf({ segment: 6 }));
  await planned.deleteBeforeTarget(planned.findByName(oldest!)!, garbagePredicate(['ARCHIVES']));
  assert.deepEqual(walLeft(driver), [2, 4, 6, 7, 8, 9, 10, 11]);
  assert.ok(keys(driver).some((key) => key.includes(`base_${hex24(3)}`)));
});

test('--use-sentinel-time orders backups by metadata start time', async () => {
  const { session: planned } = await session({ useSentinelTime: true });
  assert.equal(planned.findRetainTarget(1, 'FULL')?.backupName, nameOf({ segment: 6 }));
  const order = timelineAndSegmentOrder(SEGMENT);
  assert.equal(order(`wal_005/${hex24(1)}.lz4`, `base_${hex24(2)}_backup_stop_sentinel.json`), true);
  assert.equal(order('wal_005/00000002.history.lz4', `base_${hex24(2)}_backup_stop_sentinel.json`), false);
});
