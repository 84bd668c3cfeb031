// The documents that finish a push, against WAL-G's own: sentinel and metadata.json built from a fixture backup's
// facts come out byte for byte as WAL-G wrote them, deltas name their chain, and files_metadata.json streams from
// its spool in encoding/json/v2's shape.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseFilesMetadata } from '../../src/backup/files-metadata.ts';
import { parseGoTime } from '../../src/backup/go-time.ts';
import { encodeMetadata } from '../../src/backup/metadata.ts';
import { encodeSentinelV2, parseSentinel } from '../../src/backup/sentinel.ts';
import { backupDocuments, backupTimeNow, uploadBackupDocuments, type PushedBackup } from '../../src/backup-push/backup-documents.ts';
import { encodeFileDescription, FilesMetadataSpool } from '../../src/backup-push/metadata-spool.ts';
import { encodeDatabaseObjects, tablesOf } from '../../src/backup-push/partial-restore.ts';
import { Folder } from '../../src/storage/driver.ts';
import { MemoryStorageDriver } from '../../src/storage/memory.ts';
import { makeTempDir } from '../helpers/tmp.ts';

const BACKUPS = join(import.meta.dirname, '../../compat-fixtures/pg15-lz4-delta/storage/basebackups_005');
const FULL = 'base_000000010000000000000002';
const DELTA_1 = 'base_000000010000000000000004_D_000000010000000000000002';
const DELTA_2 = 'base_000000010000000000000006_D_000000010000000000000004';

function sentinelText(name: string): string {
  return readFileSync(join(BACKUPS, `${name}_backup_stop_sentinel.json`), 'utf8');
}

/** The facts of a fixture backup as a push would have gathered them. */
function pushedFrom(name: string, parent?: string): PushedBackup {
  const sentinel = parseSentinel(sentinelText(name));
  const parentSentinel = parent === undefined ? undefined : parseSentinel(sentinelText(parent));
  return {
    name,
    startLsn: sentinel.startLsn!,
    finishLsn: sentinel.finishLsn!,
    pgVersion: sentinel.pgVersion,
    systemIdentifier: sentinel.systemIdentifier,
    uncompressedSize: sentinel.uncompressedSize,
    compressedSize: sentinel.compressedSize,
    dataCatalogSize: sentinel.dataCatalogSize,
    filesMetadataDisabled: false,
    isPermanent: false,
    dataDir: sentinel.dataDir!,
    startTime: sentinel.startTime!,
    parent: parent === undefined ? undefined : { name: parent, sentinel: parentSentinel!, incrementCount: (parentSentinel!.deltaCount ?? 0) + 1 },
  };
}

test('a full backup\'s sentinel and metadata.json come out as WAL-G wrote them', () => {
  const original = parseSentinel(sentinelText(FULL));
  const documents = backupDocuments(pushedFrom(FULL), original.finishTime!);
  assert.equal(encodeSentinelV2({ ...documents.sentinel, hostname: original.hostname! }), sentinelText(FULL));
  const metadata = JSON.parse(readFileSync(join(BACKUPS, FULL, 'metadata.json'), 'utf8')) as { is_permanent: boolean };
  // The fixture's first backup was marked permanent afterwards (backup-mark rewrites metadata.json only).
  assert.equal(metadata.is_permanent, true);
  assert.equal(
    encodeMetadata({ ...documents.metadata, hostname: original.hostname!, isPermanent: true }),
    readFileSync(join(BACKUPS, FULL, 'metadata.json'), 'utf8'),
  );
});

test('a delta of a delta names its parent, the chain\'s full backup and its count', () => {
  for (const [name, parent] of [[DELTA_1, FULL], [DELTA_2, DELTA_1]] as const) {
    const original = parseSentinel(sentinelText(name));
    const documents = backupDocuments(pushedFrom(name, parent), original.finishTime!);
    assert.equal(encodeSentinelV2({ ...documents.sentinel, hostname: original.hostname! }), sentinelText(name));
    assert.equal(documents.sentinel.deltaFullName, FULL);
  }
});

test('backup times are UTC, rounded up to whole microseconds', () => {
  assert.deepEqual(backupTimeNow(1_741_083_072_123_456_001n), { seconds: 1_741_083_072, nanoseconds: 123_457_000, offsetSeconds: 0, zoneName: 'UTC' });
  assert.deepEqual(backupTimeNow(1_741_083_072_123_456_000n).nanoseconds, 123_456_000);
});

test('the documents are uploaded metadata first and the sentinel last', async () => {
  const driver = new MemoryStorageDriver();
  const order: string[] = [];
  const put = driver.put.bind(driver);
  driver.put = async (key, body, options) => {
    await put(key, body, options);
    order.push(key);
  };
  const documents = backupDocuments(pushedFrom(FULL));
  await uploadBackupDocuments(new Folder(driver, 'basebackups_005'), FULL, documents, () => (async function* () {
    yield '{}';
  })() as never);
  assert.deepEqual(order, [`basebackups_005/${FULL}/metadata.json`, `basebackups_005/${FULL}/files_metadata.json`, `basebackups_005/${FULL}_backup_stop_sentinel.json`]);
  order.length = 0;
  await uploadBackupDocuments(new Folder(driver, 'basebackups_005'), 'base_x', documents, undefined);
  assert.deepEqual(order, ['basebackups_005/base_x/metadata.json', 'basebackups_005/base_x_backup_stop_sentinel.json']);
});

test('files_metadata.json streams from the spool: empty members left out, v2 escaping, readable by the restorer', async () => {
  const spool = await FilesMetadataSpool.create(makeTempDir());
  try {
    assert.equal(await text(spool), '{}');
    await spool.addFile('/base/1/<&>', { isIncremented: true, isSkipped: false, modificationTime: '2025-03-04T13:11:12.123456789+03:00', updatesCount: 0 });
    await spool.addFile('/', { isIncremented: false, isSkipped: true, modificationTime: '2025-03-04T13:11:12Z', updatesCount: 0 });
    assert.equal(
      await text(spool),
      '{"Files":{"/base/1/<&>":{"IsIncremented":true,"IsSkipped":false,"MTime":"2025-03-04T13:11:12.123456789+03:00","UpdatesCount":0},' +
        '"/":{"IsIncremented":false,"IsSkipped":true,"MTime":"2025-03-04T13:11:12Z","UpdatesCount":0}}}',
    );
    await spool.addTarMember('part_001.tar.lz4', '/');
    await spool.addTarMember('part_001.tar.lz4', '/base/1/<&>');
    await spool.addTarMember('backup_label.tar.lz4', 'tablespace_map');
    await spool.addDatabase('postgres', encodeDatabaseObjects(5, tablesOf([])));
    const parsed = parseFilesMetadata(await text(spool));
    assert.deepEqual(parsed.tarFileSets.get('part_001.tar.lz4'), ['/', '/base/1/<&>']);
    assert.deepEqual(parsed.tarFileSets.get('backup_label.tar.lz4'), ['tablespace_map']);
    assert.equal(parsed.databasesByNames.get('postgres')?.oid, 5);
    assert.ok(parseGoTime(parsed.files.get('/base/1/<&>')!.modificationTime));
  } finally {
    await spool.dispose();
  }
  assert.equal(
    encodeFileDescription({ isIncremented: false, isSkipped: false, modificationTime: 'T', updatesCount: 0, corruptBlocks: { count: 2, someBlocks: [1, 9] } }),
    '{"IsIncremented":false,"IsSkipped":false,"MTime":"T","CorruptBlocks":{"CorruptBlocksCount":2,"SomeCorruptBlocks":[1,9]},"UpdatesCount":0}',
  );
});

test('partial-restore names fold partitions under their top table and take mapped catalogs\' filenode from the path', () => {
  const tables = tablesOf([
    { relfilenode: 0, oid: 1259, path: 'base/5/16001', name: 'pg_class', namespace: 'pg_catalog', kind: 'r', parent: null },
    { relfilenode: 0, oid: 16400, path: null, name: 'measurements', namespace: 'public', kind: 'p', parent: null },
    { relfilenode: 16410, oid: 16405, path: 'base/5/16410', name: 'm_2024', namespace: 'public', kind: 'r', parent: 'measurements' },
    { relfilenode: 0, oid: 16500, path: '', name: 'a_view', namespace: 'public', kind: 'v', parent: null },
  ]);
  assert.deepEqual([...tables.keys()], ['pg_catalog.pg_class', 'public.measurements']);
  assert.equal(tables.get('pg_catalog.pg_class')?.relfilenode, 16001);
  assert.deepEqual([...tables.get('public.measurements')!.subTables], [['public.m_2024', { oid: 16405, relfilenode: 16410 }]]);
  assert.equal(
    encodeDatabaseObjects(5, tables),
    '{"oid":5,"tables_new":{"pg_catalog.pg_class":{"oid":1259,"relfilenode":16001},' +
      '"public.measurements":{"oid":16400,"relfilenode":0,"subtables":{"public.m_2024":{"oid":16405,"relfilenode":16410}}}}}',
  );
});

async function text(spool: FilesMetadataSpool): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of spool.documentStream()) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
  return Buffer.concat(chunks).toString('utf8');
}
