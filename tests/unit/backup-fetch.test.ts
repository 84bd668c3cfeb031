// backup-fetch end to end on an in-memory storage: a full backup, a delta chain forward and in reverse (increments
// applied, deleted files not restored), `none`-compressed parts with a trailing dot, retries of a failed part, a
// non-empty destination refused, and tablespace links inside the restore directory.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import tarStream from 'tar-stream';
import { BackupRef } from '../../src/backup/catalog.ts';
import { encodeFilesMetadata, type BackupFileDescription, type FilesMetadata } from '../../src/backup/files-metadata.ts';
import { parseGoTime } from '../../src/backup/go-time.ts';
import { encodeIncrementHeader } from '../../src/backup/increment.ts';
import { fetchBackup, type FetchOptions } from '../../src/backup/restore.ts';
import { encodeSentinelV2, METADATA_DATE_FORMAT } from '../../src/backup/sentinel.ts';
import { encodeTablespaceSpec, tablespaceSpecOf } from '../../src/backup/tablespace-spec.ts';
import { lz4Codec } from '../../src/compression/lz4.ts';
import type { Codec } from '../../src/compression/codec.ts';
import { Folder, type GetOptions, type StorageDriver } from '../../src/storage/driver.ts';
import { MemoryStorageDriver } from '../../src/storage/memory.ts';
import { makeTempDir, removeTempDir } from '../helpers/tmp.ts';

const PAGE = 8192;
const TIME = parseGoTime('2025-01-01T00:00:00Z')!;

interface Member {
  readonly name: string;
  readonly body?: Buffer | string;
  readonly directory?: boolean;
}

async function tarBytes(members: readonly Member[], codec?: Codec): Promise<Buffer> {
  const pack = tarStream.pack();
  for (const member of members) {
    if (member.directory) pack.entry({ name: member.name, type: 'directory', mode: 0o700 });
    else pack.entry({ name: member.name, mode: 0o600 }, Buffer.from(member.body ?? ''));
  }
  pack.finalize();
  const raw: Buffer[] = [];
  for await (const chunk of pack) raw.push(chunk as Buffer);
  const tar = Buffer.concat(raw);
  if (codec === undefined) return tar;
  const compressed: Buffer[] = [];
  for await (const chunk of Readable.from([tar]).pipe(codec.compressor())) compressed.push(chunk as Buffer);
  return Buffer.concat(compressed);
}

function described(flags: Partial<BackupFileDescription> = {}): BackupFileDescription {
  return { isIncremented: false, isSkipped: false, modificationTime: '2025-01-01T00:00:00Z', updatesCount: 0, ...flags };
}

interface BackupContent {
  readonly name: string;
  readonly startLsn: bigint;
  readonly parent?: { name: string; lsn: bigint; full: string };
  readonly files: Record<string, Partial<BackupFileDescription>>;
  readonly parts: ReadonlyArray<readonly Member[]>;
  readonly extension: string;
  readonly codec?: Codec;
  readonly spec?: string;
}

async function putObject(folder: Folder, key: string, body: Buffer | string): Promise<void> {
  await folder.put(key, Readable.from([Buffer.from(body)]));
}

async function storeBackup(root: Folder, backup: BackupContent, databases: FilesMetadata['databasesByNames'] = new Map()): Promise<void> {
  const base = root.subFolder('basebackups_005');
  const tars = new Map<string, string[]>();
  for (let index = 0; index < backup.parts.length; index++) {
    const tarName = `part_${String(index + 1).padStart(3, '0')}.tar.${backup.extension}`;
    await putObject(base, `${backup.name}/tar_partitions/${tarName}`, await tarBytes(backup.parts[index], backup.codec));
    tars.set(tarName, backup.parts[index].map((member) => member.name));
  }
  await putObject(base, `${backup.name}/tar_partitions/backup_label.tar.${backup.extension}`, await tarBytes([{ name: 'backup_label', body: `label of ${backup.name}` }, { name: 'tablespace_map', body: 'map' }], backup.codec));
  await putObject(base, `${backup.name}/tar_partitions/pg_control.tar.${backup.extension}`, await tarBytes([{ name: '/global/pg_control', body: `control of ${backup.name}` }], backup.codec));
  const files = new Map(Object.entries(backup.files).map(([name, flags]) => [name, described(flags)]));
  await putObject(base, `${backup.name}/files_metadata.json`, encodeFilesMetadata({ files, tarFileSets: tars, databasesByNames: databases }));
  const sentinel = encodeSentinelV2({
    startLsn: backup.startLsn,
    deltaLsn: backup.parent?.lsn,
    deltaFrom: backup.parent?.name,
    deltaFullName: backup.parent?.full,
    deltaCount: backup.parent === undefined ? undefined : 1,
    pgVersion: 150000,
    finishLsn: backup.startLsn + 100n,
    uncompressedSize: 0,
    compressedSize: 0,
    dataCatalogSize: 0,
    filesMetadataDisabled: false,
    version: 2,
    startTime: TIME,
    finishTime: TIME,
    dateFormat: METADATA_DATE_FORMAT,
    hostname: 'h',
    dataDir: '/original/pgdata',
    isPermanent: false,
  });
  const withSpec = backup.spec === undefined ? sentinel : sentinel.replace('"ChkpNum"', `"Spec":${backup.spec},"ChkpNum"`);
  await putObject(base, `${backup.name}_backup_stop_sentinel.json`, withSpec);
}

function page(fill: number): Buffer {
  return Buffer.alloc(PAGE, fill);
}

const FULL = 'base_000000010000000000000002';
const DELTA = 'base_000000010000000000000004_D_000000010000000000000002';

/** A full backup and a delta: one relation incremented, one file deleted, one skipped (unchanged), one rewritten. */
async function chainStorage(compression: 'lz4' | 'none' = 'lz4'): Promise<MemoryStorageDriver> {
  const extension = compression === 'lz4' ? 'lz4' : '';
  const codec: Codec | undefined = compression === 'lz4' ? lz4Codec : undefined;
  const driver = new MemoryStorageDriver();
  const root = new Folder(driver);
  await storeBackup(root, {
    name: FULL,
    startLsn: 0x2000028n,
    files: { '/': {}, '/base': {}, '/base/5': {}, '/base/5/16384': {}, '/base/5/dropped': {}, '/PG_VERSION': {}, '/postgresql.conf': {} },
    parts: [
      [{ name: '/', directory: true }, { name: '/base', directory: true }, { name: '/base/5', directory: true }, { name: '/base/5/16384', body: Buffer.concat([page(1), page(1), page(1)]) }],
      [{ name: '/base/5/dropped', body: 'old table' }, { name: '/PG_VERSION', body: '15\n' }, { name: '/postgresql.conf', body: 'old conf' }],
    ],
    extension,
    codec,
  });
  const increment = Buffer.concat([encodeIncrementHeader(4 * PAGE, [1, 3]), page(8), page(9)]);
  await storeBackup(root, {
    name: DELTA,
    startLsn: 0x4000028n,
    parent: { name: FULL, lsn: 0x2000028n, full: FULL },
    files: { '/': {}, '/base': {}, '/base/5': {}, '/base/5/16384': { isIncremented: true }, '/PG_VERSION': { isSkipped: true }, '/postgresql.conf': {} },
    parts: [[{ name: '/', directory: true }, { name: '/base', directory: true }, { name: '/base/5', directory: true }, { name: '/base/5/16384', body: increment }, { name: '/postgresql.conf', body: 'new conf' }]],
    extension,
    codec,
  });
  return driver;
}

function options(destination: string, overrides: Partial<FetchOptions> = {}): FetchOptions {
  return { destination, mask: '', restoreSpecPath: '', reverseUnpack: false, skipRedundantTars: false, concurrency: 4, retries: 2, fsync: true, pageSize: PAGE, ...overrides };
}

function backupIn(driver: StorageDriver, name: string): BackupRef {
  return new BackupRef(name, { name: 'default', root: new Folder(driver) });
}

function workspace(t: { after(fn: () => void): void }): string {
  const directory = makeTempDir({ prefix: 'walnut-fetch-' });
  t.after(() => removeTempDir(directory));
  return directory;
}

function checkDeltaRestore(target: string): void {
  assert.deepEqual(readFileSync(join(target, 'base/5/16384')), Buffer.concat([page(1), page(8), page(1), page(9)]));
  assert.equal(readFileSync(join(target, 'PG_VERSION'), 'utf8'), '15\n');
  assert.equal(readFileSync(join(target, 'postgresql.conf'), 'utf8'), 'new conf');
  assert.equal(existsSync(join(target, 'base/5/dropped')), false, 'a file the delta no longer lists is not restored');
  assert.equal(readFileSync(join(target, 'global/pg_control'), 'utf8'), `control of ${DELTA}`);
  assert.equal(readFileSync(join(target, 'backup_label'), 'utf8'), `label of ${DELTA}`);
}

test('a full backup restores every file, pg_control and the label files', async (t) => {
  const directory = workspace(t);
  const driver = await chainStorage();
  await fetchBackup(backupIn(driver, FULL), options(join(directory, 'data')));
  const target = join(directory, 'data');
  assert.equal(readFileSync(join(target, 'base/5/dropped'), 'utf8'), 'old table');
  assert.equal(readFileSync(join(target, 'global/pg_control'), 'utf8'), `control of ${FULL}`);
  assert.equal(readFileSync(join(target, 'tablespace_map'), 'utf8'), 'map');
  assert.equal(lstatSync(target).mode & 0o777, 0o700);
});

test('a delta chain restores forward: increments applied, skipped files from the parent, deleted files gone', async (t) => {
  const directory = workspace(t);
  await fetchBackup(backupIn(await chainStorage(), DELTA), options(join(directory, 'data')));
  checkDeltaRestore(join(directory, 'data'));
});

test('a delta chain restores in reverse to the same files, also skipping redundant tars', async (t) => {
  const directory = workspace(t);
  const driver = await chainStorage();
  await fetchBackup(backupIn(driver, DELTA), options(join(directory, 'reverse'), { reverseUnpack: true }));
  checkDeltaRestore(join(directory, 'reverse'));
  await fetchBackup(backupIn(driver, DELTA), options(join(directory, 'skipping'), { reverseUnpack: true, skipRedundantTars: true }));
  checkDeltaRestore(join(directory, 'skipping'));
});

test('parts stored with compression none (names ending in a dot) restore, pg_control included', async (t) => {
  const directory = workspace(t);
  const driver = await chainStorage('none');
  assert.ok(driver.objects.has(`basebackups_005/${FULL}/tar_partitions/pg_control.tar.`));
  await fetchBackup(backupIn(driver, DELTA), options(join(directory, 'data')));
  checkDeltaRestore(join(directory, 'data'));
});

test('--mask restores only matching files', async (t) => {
  const directory = workspace(t);
  await fetchBackup(backupIn(await chainStorage(), FULL), options(join(directory, 'data'), { mask: 'base/*/*' }));
  const target = join(directory, 'data');
  assert.ok(existsSync(join(target, 'base/5/16384')));
  assert.equal(existsSync(join(target, 'PG_VERSION')), false);
  assert.equal(existsSync(join(target, 'global/pg_control')), false);
});

test('a destination that is not empty is refused before anything is written', async (t) => {
  const directory = workspace(t);
  const target = join(directory, 'data');
  mkdirSync(target);
  writeFileSync(join(target, 'stray'), 'x');
  await assert.rejects(fetchBackup(backupIn(await chainStorage(), FULL), options(target)), /Directory .*data for delta base must be empty/);
  assert.deepEqual(readdirSync(target), ['stray']);
});

/** Fails the first read of every key it is told to, like a flaky network. */
class FlakyDriver extends MemoryStorageDriver {
  readonly failOnce = new Set<string>();
  override async get(key: string, getOptions?: GetOptions): Promise<Readable> {
    if (this.failOnce.delete(key)) throw new Error(`connection reset while reading ${key}`);
    return super.get(key, getOptions);
  }
}

test('a part that fails to download is retried after a sleep', async (t) => {
  const directory = workspace(t);
  const source = await chainStorage();
  const driver = new FlakyDriver();
  for (const [key, value] of source.objects) driver.objects.set(key, value);
  driver.failOnce.add(`basebackups_005/${FULL}/tar_partitions/part_002.tar.lz4`);
  let sleeps = 0;
  await fetchBackup(backupIn(driver, FULL), options(join(directory, 'data'), { concurrency: 1, retrySleeper: () => async () => void sleeps++ }));
  assert.equal(sleeps, 1);
  assert.equal(readFileSync(join(directory, 'data/postgresql.conf'), 'utf8'), 'old conf');
  // WAL-G gives up only when every part of a round failed and no retries are left.
  driver.failOnce.add(`basebackups_005/${FULL}/tar_partitions/part_001.tar.lz4`);
  driver.failOnce.add(`basebackups_005/${FULL}/tar_partitions/part_002.tar.lz4`);
  await assert.rejects(
    fetchBackup(backupIn(driver, FULL), options(join(directory, 'again'), { concurrency: 1, retries: 0, retrySleeper: () => async () => {} })),
    /failed to extract files:\npart_001.tar.lz4\npart_002.tar.lz4\n/,
  );
});

test('without a restore spec, tablespaces are linked inside the restore directory; an unusable location moves next to it', async (t) => {
  const directory = workspace(t);
  const driver = new MemoryStorageDriver();
  const recorded = join(directory, 'recorded-ts');
  writeFileSync(join(directory, 'occupied'), 'not a directory');
  const spec = tablespaceSpecOf('/original/pgdata', [{ name: '16384', location: recorded }, { name: '16390', location: join(directory, 'occupied') }]);
  await storeBackup(new Folder(driver), {
    name: FULL,
    startLsn: 0x2000028n,
    files: { '/': {}, '/pg_tblspc': {}, '/pg_tblspc/16384/PG_15/5/16500': {}, '/pg_tblspc/16390/PG_15/5/16600': {} },
    parts: [[{ name: '/', directory: true }, { name: '/pg_tblspc', directory: true }, { name: '/pg_tblspc/16384/PG_15/5/16500', body: 'ts one' }, { name: '/pg_tblspc/16390/PG_15/5/16600', body: 'ts two' }]],
    extension: 'lz4',
    codec: lz4Codec,
    spec: encodeTablespaceSpec(spec),
  });
  const target = join(directory, 'data');
  await fetchBackup(backupIn(driver, FULL), options(target));
  assert.equal(readlinkSync(join(target, 'pg_tblspc/16384')), recorded);
  assert.equal(readFileSync(join(recorded, 'PG_15/5/16500'), 'utf8'), 'ts one');
  const sibling = `${target}_tablespaces/16390`;
  assert.equal(readlinkSync(join(target, 'pg_tblspc/16390')), sibling);
  assert.equal(readFileSync(join(sibling, 'PG_15/5/16600'), 'utf8'), 'ts two');
  assert.equal(existsSync(join(target, 'tablespace_map')), false, 'a moved tablespace must not be put back by tablespace_map');
  assert.equal(existsSync('/original/pgdata'), false);

  const specFile = join(directory, 'spec.json');
  const relocated = join(directory, 'relocated');
  writeFileSync(specFile, encodeTablespaceSpec(tablespaceSpecOf(join(directory, 'spec-data'), [{ name: '16384', location: `${relocated}/a` }, { name: '16390', location: `${relocated}/b` }])));
  const second = join(directory, 'spec-data');
  await fetchBackup(backupIn(driver, FULL), options(second, { restoreSpecPath: specFile }));
  assert.equal(readlinkSync(join(second, 'pg_tblspc/16384')), `${relocated}/a`);
  assert.equal(readFileSync(join(relocated, 'b/PG_15/5/16600'), 'utf8'), 'ts two');
  await assert.rejects(fetchBackup(backupIn(driver, FULL), options(join(directory, 'x'), { restoreSpecPath: join(directory, 'missing.json') })), (error: unknown) =>
    String(error).includes(`Invalid restore specification path ${join(directory, 'missing.json')}\n%!(EXTRA *errors.errorString=unable to read file: open ${join(directory, 'missing.json')}: no such file or directory)`),
  );
});

test('--restore-only restores system tables and the named database, and leaves out the other databases\' tables', async (t) => {
  const directory = workspace(t);
  const driver = new MemoryStorageDriver();
  const table = (oid: number) => ({ oid, relfilenode: oid, subTables: new Map() });
  const databases: FilesMetadata['databasesByNames'] = new Map([
    ['shop', { oid: 16384, tables: new Map([['pg_catalog.pg_class', table(1259)], ['public.orders', table(16400)]]) }],
    ['logs', { oid: 16390, tables: new Map([['pg_catalog.pg_class', table(1259)], ['public.events', table(16500)]]) }],
  ]);
  const members = ['/base/16384/1259', '/base/16384/16400', '/base/16390/1259', '/base/16390/16500', '/base/16390/PG_VERSION'];
  await storeBackup(
    new Folder(driver),
    {
      name: FULL,
      startLsn: 0x2000028n,
      files: Object.fromEntries(members.map((name) => [name, {}])),
      parts: [members.map((name) => ({ name, body: name }))],
      extension: 'lz4',
      codec: lz4Codec,
    },
    databases,
  );
  const target = join(directory, 'data');
  await fetchBackup(backupIn(driver, FULL), options(target, { reverseUnpack: true, skipRedundantTars: true, restoreOnly: ['shop'] }));
  const restored = members.filter((name) => existsSync(join(target, name)));
  assert.deepEqual(restored, ['/base/16384/1259', '/base/16384/16400', '/base/16390/1259', '/base/16390/PG_VERSION']);
});
