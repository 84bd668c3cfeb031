// The non-regular tar composers on a small data directory in memory storage: rating order and its part cuts,
// database directories kept apart, copy parts taken from the previous backup only when every member is unchanged,
// and a failed storage copy failing the backup.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseFilesMetadata, type FilesMetadata } from '../../src/backup/files-metadata.ts';
import { codecForMethod } from '../../src/compression/registry.ts';
import { Folder } from '../../src/storage/driver.ts';
import { MemoryStorageDriver } from '../../src/storage/memory.ts';
import { FilesMetadataSpool } from '../../src/backup-push/metadata-spool.ts';
import { DataDirectoryWalker, type WalkedEntry } from '../../src/backup-push/pgdata-walk.ts';
import { TarComposer, type ComposerOptions } from '../../src/backup-push/tar-composer.ts';
import { parseTarHeader } from '../../src/backup-push/tar-stream-parser.ts';
import type { AccountNames } from '../../src/backup-push/tar-header.ts';
import { composeByRating, RatingTarComposer, type RatedFile } from '../../src/backup-push/composers/rating-composer.ts';
import { databaseGroupOf, DatabaseTarComposer } from '../../src/backup-push/composers/database-composer.ts';
import { copiedPartName, CopyTarComposer } from '../../src/backup-push/composers/copy-composer.ts';
import { RelationStatistics } from '../../src/backup-push/composers/relation-statistics.ts';
import { makeTempDir } from '../helpers/tmp.ts';

const PAGE = 8192;
const accounts: AccountNames = { userName: () => 'postgres', groupName: () => 'postgres' };
const lz4 = codecForMethod('lz4');

function decode(data: Buffer): Promise<Buffer> {
  const decompressor = lz4.decompressor();
  const chunks: Buffer[] = [];
  return new Promise((resolve, reject) => {
    decompressor.on('data', (chunk: Buffer) => chunks.push(chunk));
    decompressor.on('end', () => resolve(Buffer.concat(chunks)));
    decompressor.on('error', reject);
    decompressor.end(data);
  });
}

async function memberNames(driver: MemoryStorageDriver, key: string): Promise<string[]> {
  const tar = await decode(driver.objects.get(key)!.data);
  const names: string[] = [];
  let offset = 0;
  while (offset + 512 <= tar.length && !tar.subarray(offset, offset + 512).every((byte) => byte === 0)) {
    const fields = parseTarHeader(tar.subarray(offset, offset + 512));
    names.push(fields.name);
    offset += 512 + Math.ceil((fields.typeflag === '0' ? fields.size : 0) / 512) * 512;
  }
  return names;
}

async function streamText(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** A data directory with three database directories and some cluster-wide files. */
function makeDataDirectory(): string {
  const data = join(makeTempDir(), 'data');
  for (const database of ['1', '4', '5']) mkdirSync(join(data, 'base', database), { recursive: true });
  mkdirSync(join(data, 'global'), { recursive: true });
  writeFileSync(join(data, 'PG_VERSION'), '17\n');
  writeFileSync(join(data, 'global', '1262'), Buffer.alloc(PAGE, 1));
  for (const [database, relation, size] of [
    ['1', '1259', 300_000],
    ['1', '2600', 200_000],
    ['4', '1259', 300_000],
    ['5', '16384', 500_000],
    ['5', '16390', 100_000],
  ] as const) {
    writeFileSync(join(data, 'base', database, relation), Buffer.alloc(size, Number(relation) % 250));
  }
  return data;
}

interface Backup {
  readonly driver: MemoryStorageDriver;
  readonly root: Folder;
  readonly files: FilesMetadata;
}

/** Runs one backup of `data` with `make`'s composer into basebackups_005/<name>/ of `root`. */
async function backUp(
  data: string,
  name: string,
  make: (options: ComposerOptions) => TarComposer,
  storage: { driver: MemoryStorageDriver; root: Folder } = (() => {
    const driver = new MemoryStorageDriver();
    return { driver, root: new Folder(driver) };
  })(),
): Promise<Backup> {
  const spool = await FilesMetadataSpool.create(makeTempDir());
  try {
    const composer = make({
      folder: storage.root.subFolder(`basebackups_005/${name}/tar_partitions`),
      codec: lz4,
      sizeThreshold: 400_000,
      diskConcurrency: 1,
      uploadQueue: 2,
      spool,
      accounts,
      pageSize: PAGE,
    });
    await new DataDirectoryWalker({ dataDirectory: data, sink: composer, pageSize: PAGE }).walk();
    await composer.finishComposing();
    await composer.finishQueue();
    return { ...storage, files: parseFilesMetadata(await streamText(spool.documentStream())) };
  } finally {
    await spool.dispose();
  }
}

function rated(name: string, rating: number, expectedSize: number): RatedFile {
  return { entry: { memberName: name } as WalkedEntry, incremented: false, rating, expectedSize, unchanged: false };
}

test('composeByRating sorts by rating (ties in walk order), cuts past the threshold and where ratings leave zero', () => {
  const files = [rated('/hot', 50, 10), rated('/a', 0, 60), rated('/warm', 5, 60), rated('/b', 0, 60), rated('/c', 0, 10), rated('/hotter', 90, 10)];
  const names = composeByRating(files, 100).map((collection) => collection.map((file) => file.entry.memberName));
  assert.deepEqual(names, [['/a', '/b'], ['/c'], ['/warm', '/hot', '/hotter']]);
  assert.deepEqual(
    composeByRating(files, 50).map((collection) => collection.map((file) => file.entry.memberName)),
    [['/a'], ['/b'], ['/c'], ['/warm'], ['/hot', '/hotter']],
  );
  // Only rated files: WAL-G's first collection is empty, and still becomes a part.
  assert.deepEqual(composeByRating([rated('/x', 3, 1)], 100).map((collection) => collection.length), [0, 1]);
  assert.deepEqual(composeByRating([], 100), [[]]);
});

test('relation statistics are found by member name and by walked path, in base and in tablespaces', () => {
  const statistics = new RelationStatistics(
    new Map([
      ['1663/5/16384', 70],
      ['16500/5/16390', 9],
    ]),
  );
  assert.equal(statistics.updatesOf('/base/5/16384'), 70);
  assert.equal(statistics.updatesOf('/var/lib/pg/data/base/5/16384.2'), 70);
  assert.equal(statistics.updatesOf('/pg_tblspc/16500/PG_17_202406281/5/16390'), 9);
  assert.equal(statistics.updatesOf('/base/5/16384_fsm'), 0);
  assert.equal(statistics.updatesOf('/global/1262'), 0);
  assert.equal(statistics.updatesOf('/base/5'), 0);
});

test('database groups follow WAL-G: a directory when the whole path contains "base", else the shared group', () => {
  assert.equal(databaseGroupOf('/data/base/5/16384'), '/data/base/5');
  assert.equal(databaseGroupOf('/data/global/1262'), '');
  assert.equal(databaseGroupOf('/data/pg_tblspc/16500/PG_17_1/5/16390'), '');
  assert.equal(databaseGroupOf('/srv/database/global/1262'), '/srv/database/global');
  assert.equal(copiedPartName(0, 'part_001.tar.lz4'), 'copy_0.tar.lz4');
  assert.equal(copiedPartName(3, 'copy_1.tar.zst'), 'copy_3.tar.zst');
  assert.equal(copiedPartName(2, 'part_004.tar.'), 'copy_2.tar.');
});

test('the rating composer puts every header in the first part and packs files by rating, recording UpdatesCount', async () => {
  const data = makeDataDirectory();
  const statistics = new RelationStatistics(
    new Map([
      ['1663/5/16384', 500],
      ['1663/1/2600', 20],
    ]),
  );
  const { driver, files } = await backUp(data, 'b', (options) => new RatingTarComposer(options, statistics));
  const parts = [...driver.objects.keys()].sort();
  const names = await Promise.all(parts.map((key) => memberNames(driver, key)));
  // The headers, then the unrated files in walk order, cut once a part's expected size passed 400 000 bytes; the
  // rated files start a part of their own, 20 before 500.
  assert.deepEqual(names[0], ['/', '/base', '/base/1', '/base/4', '/base/5', '/global', '/PG_VERSION', '/base/1/1259', '/base/4/1259']);
  assert.deepEqual(names.slice(1), [['/base/5/16390', '/global/1262'], ['/base/1/2600', '/base/5/16384']]);
  assert.equal(files.files.get('/base/5/16384')?.updatesCount, 500);
  assert.equal(files.files.get('/base/1/2600')?.updatesCount, 20);
  assert.equal(files.files.get('/base/4/1259')?.updatesCount, 0);
  assert.deepEqual(files.tarFileSets.get(parts[2].slice(parts[2].lastIndexOf('/') + 1)), ['/base/1/2600', '/base/5/16384']);
});

test('the database composer keeps each database directory in parts of its own', async () => {
  const data = makeDataDirectory();
  const { driver } = await backUp(data, 'b', (options) => new DatabaseTarComposer(options));
  const parts = [...driver.objects.keys()].sort();
  const names = await Promise.all(parts.map((key) => memberNames(driver, key)));
  assert.deepEqual(names, [
    ['/', '/base', '/base/1', '/base/4', '/base/5', '/global'],
    ['/PG_VERSION', '/global/1262'],
    ['/base/1/1259', '/base/1/2600'],
    ['/base/4/1259'],
    ['/base/5/16384'],
    // base/1's last file passed the threshold: it closes that part, then the fresh one it waited for (empty), as
    // WAL-G does; the groups take free parts in turn.
    [],
    ['/base/5/16390'],
  ]);
});

test('the copy composer copies the previous parts whose members are all unchanged and packs the rest', async () => {
  const data = makeDataDirectory();
  const first = await backUp(data, 'base_000000010000000000000002', (options) => new TarComposer(options));
  const firstParts = [...first.driver.objects.keys()].sort();
  // A change to base/5/16390 (in part 3 with global/): that part is packed anew, parts 1 and 2 are copied.
  writeFileSync(join(data, 'base', '5', '16390'), Buffer.alloc(100_000, 77));
  utimesSync(join(data, 'base', '5', '16390'), new Date(), new Date(Date.now() + 5000));
  const baseBackups = first.root.subFolder('basebackups_005');
  const second = await backUp(
    data,
    'base_000000010000000000000004',
    (options) =>
      new CopyTarComposer(options, {
        baseBackups,
        source: { name: 'base_000000010000000000000002', filesMetadata: first.files },
        newBackupName: 'base_000000010000000000000004',
      }),
    first,
  );
  const secondKeys = [...second.driver.objects.keys()].filter((key) => key.includes('0004/')).sort();
  const copies = secondKeys.filter((key) => /copy_\d+\.tar\.lz4$/.test(key));
  assert.equal(copies.length, 2, secondKeys.join(' '));
  for (const copy of copies) {
    const original = firstParts.find((key) => second.driver.objects.get(key)!.data.equals(second.driver.objects.get(copy)!.data));
    assert.ok(original !== undefined, `${copy} is a byte copy of a part of the first backup`);
    const copiedMembers = await memberNames(second.driver, copy);
    assert.ok(!copiedMembers.includes('/base/5/16390') && !copiedMembers.includes('/global/1262'), `${copy}: ${copiedMembers}`);
    assert.deepEqual(second.files.tarFileSets.get(copy.slice(copy.lastIndexOf('/') + 1)), first.files.tarFileSets.get(original.slice(original.lastIndexOf('/') + 1)));
  }
  const packed = secondKeys.filter((key) => !copies.includes(key));
  const packedMembers = (await Promise.all(packed.map((key) => memberNames(second.driver, key)))).flat().sort();
  assert.deepEqual(packedMembers, ['/base/5/16390', '/global', '/global/1262']);
  // Every member is recorded once, with its current mtime.
  assert.deepEqual([...second.files.files.keys()].sort(), [...first.files.files.keys()].sort());
  assert.notEqual(second.files.files.get('/base/5/16390')?.modificationTime, first.files.files.get('/base/5/16390')?.modificationTime);
});

test('a copy the storage refuses fails the backup, naming the missing object', async () => {
  const data = makeDataDirectory();
  const first = await backUp(data, 'base_000000010000000000000002', (options) => new TarComposer(options));
  for (const key of [...first.driver.objects.keys()]) first.driver.objects.delete(key);
  await assert.rejects(
    backUp(
      data,
      'base_000000010000000000000004',
      (options) =>
        new CopyTarComposer(options, {
          baseBackups: first.root.subFolder('basebackups_005'),
          source: { name: 'base_000000010000000000000002', filesMetadata: first.files },
          newBackupName: 'base_000000010000000000000004',
        }),
      first,
    ),
    /base_000000010000000000000002\/tar_partitions\/part_001\.tar\.lz4/,
  );
});
