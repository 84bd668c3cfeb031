// backup-list's output shapes (Go tabwriter, go-pretty table, json.Encoder) and its order: sentinel modification
// time, ties kept in listing order, --detail by start time unless a backup has none.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { backupListOutput } from '../../src/backup/backup-list.ts';
import { latestBackup, listBackups, NoBackupsFoundError } from '../../src/backup/catalog.ts';
import { parseGoTime } from '../../src/backup/go-time.ts';
import { renderPrettyTable, renderTabbedTable } from '../../src/backup/list-output.ts';
import { StorageSet } from '../../src/backup/storage-set.ts';
import { Folder } from '../../src/storage/driver.ts';
import { MemoryStorageDriver } from '../../src/storage/memory.ts';

const FIELDS = (name: string, modified: string) => [
  { name: 'backup_name', prettyName: 'Backup name', value: name },
  { name: 'modified', prettyName: 'Modified', value: modified, prettyValue: `pretty ${modified}` },
];

test('the plain table pads every column but the last to its widest cell plus one space', () => {
  assert.equal(renderTabbedTable([FIELDS('base_a', 't1'), FIELDS('base_longer_name', 't2')]), 'backup_name      modified\nbase_a           t1\nbase_longer_name t2\n');
});

test('the pretty table has borders, an upper-case header and a right-aligned row number', () => {
  const rows = Array.from({ length: 11 }, (_, index) => FIELDS(`b${index}`, 'x'));
  const lines = renderPrettyTable(rows).split('\n');
  assert.equal(lines[0], '+----+-------------+----------+');
  assert.equal(lines[1], '|  # | BACKUP NAME | MODIFIED |');
  assert.equal(lines[3], '|  0 | b0          | pretty x |');
  assert.equal(lines[13], '| 10 | b10         | pretty x |');
  assert.equal(lines[14], '+----+-------------+----------+');
  assert.equal(lines[15], '');
});

async function storageWith(sentinels: Array<{ name: string; minute: number; start?: string }>): Promise<StorageSet> {
  const driver = new MemoryStorageDriver();
  const folder = new Folder(driver);
  for (const { name, minute, start } of sentinels) {
    await folder.put(`basebackups_005/${name}_backup_stop_sentinel.json`, Readable.from([Buffer.from('{}')]));
    driver.objects.get(`basebackups_005/${name}_backup_stop_sentinel.json`)!.modified = new Date(Date.UTC(2025, 0, 1, 0, minute));
    const metadata = `{"start_time":"${start ?? '2025-01-01T00:00:00Z'}","finish_time":"2025-01-01T01:00:00Z","date_fmt":"%Y-%m-%dT%H:%M:%S.%fZ","hostname":"h","data_dir":"/d","pg_version":150000,"start_lsn":33554472,"finish_lsn":33554688,"is_permanent":false,"system_identifier":7711495078079548915,"uncompressed_size":1,"compressed_size":2}`;
    await folder.put(`basebackups_005/${name}/metadata.json`, Readable.from([Buffer.from(metadata)]));
  }
  return new StorageSet([{ name: 'default', root: folder }]);
}

test('backups are listed oldest sentinel first and LATEST is the newest sentinel, not the highest name', async () => {
  const storages = await storageWith([
    { name: 'base_000000010000000000000002', minute: 30 },
    { name: 'base_000000010000000000000004', minute: 10 },
    { name: 'base_000000010000000000000006', minute: 20 },
  ]);
  assert.deepEqual((await listBackups(storages)).map((backup) => backup.backupName), ['base_000000010000000000000004', 'base_000000010000000000000006', 'base_000000010000000000000002']);
  assert.equal((await latestBackup(storages)).name, 'base_000000010000000000000002');
  await assert.rejects(latestBackup(new StorageSet([{ name: 'default', root: new Folder(new MemoryStorageDriver()) }])), NoBackupsFoundError);
});

test('plain and --json output of a listing; nothing but [] for an empty one in JSON', async () => {
  const storages = await storageWith([{ name: 'base_000000010000000000000002', minute: 5 }]);
  assert.equal(
    await backupListOutput(storages, { pretty: false, json: false, detail: false }),
    'backup_name                   modified             wal_file_name            storage_name\nbase_000000010000000000000002 2025-01-01T00:05:00Z 000000010000000000000002 default\n',
  );
  assert.equal(
    await backupListOutput(storages, { pretty: false, json: true, detail: false }),
    '[{"backup_name":"base_000000010000000000000002","time":"2025-01-01T00:05:00Z","wal_file_name":"000000010000000000000002","storage_name":"default"}]\n',
  );
  const empty = new StorageSet([{ name: 'default', root: new Folder(new MemoryStorageDriver()) }]);
  assert.equal(await backupListOutput(empty, { pretty: false, json: true, detail: true }), '[]\n');
  assert.equal(await backupListOutput(empty, { pretty: true, json: false, detail: false }), '');
});

test('--detail orders by start time and shows LSNs as X/X', async () => {
  const storages = await storageWith([
    { name: 'base_000000010000000000000002', minute: 30, start: '2025-01-01T00:00:02Z' },
    { name: 'base_000000010000000000000004', minute: 10, start: '2025-01-01T00:00:04Z' },
  ]);
  const output = await backupListOutput(storages, { pretty: false, json: false, detail: true });
  const lines = output.trimEnd().split('\n');
  assert.match(lines[0], /^backup_name +modified +wal_file_name +storage_name +start_time +finish_time +hostname +data_dir +pg_version +start_lsn +finish_lsn +is_permanent$/);
  assert.match(lines[1], /^base_000000010000000000000002 .* 0\/2000028 +0\/2000100 +false$/);
  assert.match(lines[2], /^base_000000010000000000000004 /);
  const json = JSON.parse(await backupListOutput(storages, { pretty: true, json: true, detail: true }));
  assert.equal(json[0].start_time, '2025-01-01T00:00:02Z');
  assert.ok((await backupListOutput(storages, { pretty: true, json: true, detail: true })).includes('"system_identifier": 7711495078079548915'));
  assert.equal(parseGoTime(json[1].time)?.seconds, Date.UTC(2025, 0, 1, 0, 10) / 1000);
});
