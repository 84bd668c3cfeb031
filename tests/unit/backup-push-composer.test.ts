// Tar parts as backup-push writes them: rotation past WALG_TAR_SIZE_THRESHOLD, WAL-G's part numbering (pg_control
// and backup_label take numbers too), members and end-of-archive blocks, wi1 increments, sizes, and
// files_metadata.json collected on the side.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseFilesMetadata } from '../../src/backup/files-metadata.ts';
import { INCREMENT_HEADER_SIZE, parseBlockNumbers, parseIncrementHeader } from '../../src/backup/increment.ts';
import { codecForMethod } from '../../src/compression/registry.ts';
import { Folder } from '../../src/storage/driver.ts';
import { MemoryStorageDriver } from '../../src/storage/memory.ts';
import { FilesMetadataSpool } from '../../src/backup-push/metadata-spool.ts';
import { DataDirectoryWalker } from '../../src/backup-push/pgdata-walk.ts';
import { TarComposer } from '../../src/backup-push/tar-composer.ts';
import { parseTarHeader } from '../../src/backup-push/tar-stream-parser.ts';
import type { AccountNames, TarHeaderFields } from '../../src/backup-push/tar-header.ts';
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

/** Members (header and body) of a tar, and whether it ends with the two zero blocks. */
function members(tar: Buffer): { members: Array<{ fields: TarHeaderFields; body: Buffer }>; endBlocks: boolean } {
  const found: Array<{ fields: TarHeaderFields; body: Buffer }> = [];
  let offset = 0;
  while (offset + 512 <= tar.length) {
    const block = tar.subarray(offset, offset + 512);
    if (block.every((byte) => byte === 0)) break;
    const fields = parseTarHeader(block);
    const size = fields.typeflag === '0' ? fields.size : 0;
    found.push({ fields, body: tar.subarray(offset + 512, offset + 512 + size) });
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return { members: found, endBlocks: tar.length === offset + 1024 && tar.subarray(offset).every((byte) => byte === 0) };
}

function page(lsn: number): Buffer {
  const buffer = Buffer.alloc(PAGE, 7);
  buffer.writeUInt32LE(0, 0);
  buffer.writeUInt32LE(lsn, 4);
  buffer.writeUInt16LE(0, 10);
  buffer.writeUInt16LE(28, 12);
  buffer.writeUInt16LE(8000, 14);
  buffer.writeUInt16LE(PAGE, 16);
  buffer.writeUInt16LE(PAGE | 4, 18);
  return buffer;
}

async function compose(options: { threshold: number; deltaLsn?: bigint }) {
  const driver = new MemoryStorageDriver();
  const root = new Folder(driver);
  const spool = await FilesMetadataSpool.create(makeTempDir());
  const composer = new TarComposer({
    folder: root.subFolder('tar_partitions'),
    codec: lz4,
    sizeThreshold: options.threshold,
    diskConcurrency: 1,
    uploadQueue: 2,
    spool,
    accounts,
    pageSize: PAGE,
    deltaLsn: options.deltaLsn,
  });
  return { driver, spool, composer };
}

test('parts rotate once their members pass the threshold, and pg_control and backup_label take the next numbers', async () => {
  const data = join(makeTempDir(), 'data');
  mkdirSync(join(data, 'global'), { recursive: true });
  writeFileSync(join(data, 'a'), Buffer.alloc(3000, 1));
  writeFileSync(join(data, 'b'), Buffer.alloc(600_000, 2));
  writeFileSync(join(data, 'c'), Buffer.alloc(600_000, 3));
  writeFileSync(join(data, 'd'), 'tail');
  writeFileSync(join(data, 'global', 'pg_control'), Buffer.alloc(PAGE, 9));
  const { driver, spool, composer } = await compose({ threshold: 1_000_000 });
  const walked = await new DataDirectoryWalker({ dataDirectory: data, sink: composer, pageSize: PAGE }).walk();
  await composer.finishComposing();
  await composer.finishQueue();
  await composer.uploadPgControl(walked.pgControl!);
  const label = await composer.uploadLabelFiles('START WAL LOCATION: 0/2000028\n', '');
  assert.equal(label.name, 'backup_label.tar.lz4');
  assert.deepEqual(label.members, ['tablespace_map', 'backup_label']);
  assert.deepEqual([...driver.objects.keys()].sort(), [
    'tar_partitions/backup_label.tar.lz4',
    'tar_partitions/part_001.tar.lz4',
    'tar_partitions/part_002.tar.lz4',
    'tar_partitions/pg_control.tar.lz4',
  ]);
  const first = members(await decode(driver.objects.get('tar_partitions/part_001.tar.lz4')!.data));
  assert.deepEqual(first.members.map((member) => member.fields.name), ['/', '/a', '/b', '/c']);
  assert.ok(first.endBlocks);
  assert.deepEqual(first.members[2].body, Buffer.alloc(600_000, 2));
  const second = members(await decode(driver.objects.get('tar_partitions/part_002.tar.lz4')!.data));
  assert.deepEqual(second.members.map((member) => member.fields.name), ['/d', '/global']);
  const control = members(await decode(driver.objects.get('tar_partitions/pg_control.tar.lz4')!.data));
  assert.deepEqual(control.members.map((member) => member.fields.name), ['/global/pg_control']);
  assert.deepEqual(control.members[0].body, Buffer.alloc(PAGE, 9));
  const labels = members(await decode(driver.objects.get('tar_partitions/backup_label.tar.lz4')!.data));
  assert.deepEqual(labels.members.map((member) => [member.fields.name, member.fields.uid, member.fields.modTimeSeconds]), [
    ['backup_label', 0, 0],
    ['tablespace_map', 0, 0],
  ]);
  // UncompressedSize counts member sizes only; CompressedSize what was stored.
  assert.equal(composer.uncompressedSize, 3000 + 600_000 + 600_000 + 4 + PAGE + 30);
  assert.equal(composer.storedBytes, [...driver.objects.values()].reduce((sum, object) => sum + object.data.length, 0));
  const document = parseFilesMetadata(await streamText(spool.documentStream()));
  assert.deepEqual([...document.files.keys()].sort(), ['/', '/a', '/b', '/c', '/d', '/global']);
  assert.deepEqual(document.tarFileSets.get('part_001.tar.lz4'), ['/', '/a', '/b', '/c']);
  assert.deepEqual(document.tarFileSets.get('part_002.tar.lz4'), ['/d', '/global']);
  assert.deepEqual(document.tarFileSets.get('backup_label.tar.lz4'), ['tablespace_map', 'backup_label']);
  assert.equal(document.tarFileSets.has('pg_control.tar.lz4'), false);
  assert.equal(document.files.get('/a')?.isIncremented, false);
  await spool.dispose();
});

test('an incremented file is a wi1 member: full size, the changed block numbers, then those pages', async () => {
  const data = join(makeTempDir(), 'base-data');
  mkdirSync(join(data, 'base', '5'), { recursive: true });
  const relation = join(data, 'base', '5', '16384');
  writeFileSync(relation, Buffer.concat([page(100), page(5000), page(200), page(6000)]));
  const { driver, spool, composer } = await compose({ threshold: 1 << 30, deltaLsn: 1000n });
  const stats = lstatSync(relation, { bigint: true });
  await composer.addFile({ path: relation, realPath: relation, memberName: '/base/5/16384', baseName: '16384', stats }, true);
  // A file that vanished before it was packed leaves no member and no Files entry.
  await composer.addFile({ path: join(data, 'gone'), realPath: join(data, 'gone'), memberName: '/gone', baseName: 'gone', stats }, false);
  await composer.finishComposing();
  await composer.finishQueue();
  const part = members(await decode(driver.objects.get('tar_partitions/part_001.tar.lz4')!.data));
  assert.equal(part.members.length, 1);
  const { fields, body } = part.members[0];
  assert.equal(fields.size, INCREMENT_HEADER_SIZE + 2 * 4 + 2 * PAGE);
  const header = parseIncrementHeader(body, PAGE);
  assert.equal(header.fileSize, 4 * PAGE);
  assert.deepEqual([...parseBlockNumbers(body.subarray(INCREMENT_HEADER_SIZE), header.blockCount)], [1, 3]);
  assert.deepEqual(body.subarray(INCREMENT_HEADER_SIZE + 8, INCREMENT_HEADER_SIZE + 8 + PAGE), page(5000));
  assert.deepEqual(body.subarray(INCREMENT_HEADER_SIZE + 8 + PAGE), page(6000));
  const document = parseFilesMetadata(await streamText(spool.documentStream()));
  assert.equal(document.files.get('/base/5/16384')?.isIncremented, true);
  assert.equal(document.files.has('/gone'), false);
  assert.deepEqual(document.tarFileSets.get('part_001.tar.lz4'), ['/base/5/16384', '/gone']);
  await spool.dispose();
});

test('a paged file with an invalid page is sent whole, marked not incremented', async () => {
  const data = join(makeTempDir(), 'bad-data');
  mkdirSync(data, { recursive: true });
  const relation = join(data, '16390');
  const broken = page(9000);
  broken.writeUInt16LE(3, 12);
  writeFileSync(relation, Buffer.concat([page(9000), broken]));
  const { driver, spool, composer } = await compose({ threshold: 1 << 30, deltaLsn: 1000n });
  await composer.addFile({ path: relation, realPath: relation, memberName: '/base/1/16390', baseName: '16390', stats: lstatSync(relation, { bigint: true }) }, true);
  await composer.finishComposing();
  await composer.finishQueue();
  const part = members(await decode(driver.objects.get('tar_partitions/part_001.tar.lz4')!.data));
  assert.equal(part.members[0].fields.size, 2 * PAGE);
  const document = parseFilesMetadata(await streamText(spool.documentStream()));
  assert.equal(document.files.get('/base/1/16390')?.isIncremented, false);
  await spool.dispose();
});

async function streamText(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
  return Buffer.concat(chunks).toString('utf8');
}

test('with a WAL delta map the mapped pages are sent without a scan, and a relation WAL never touched is skipped', async () => {
  const { BlockLocationList } = await import('../../src/wal-delta/block-locations.ts');
  const { WalDeltaMap } = await import('../../src/backup-push/wal-delta-map.ts');
  const data = join(makeTempDir(), 'map-data');
  mkdirSync(join(data, 'base', '5'), { recursive: true });
  const touched = join(data, 'base', '5', '16384');
  const untouched = join(data, 'base', '5', '16390');
  // Old LSNs everywhere: a scan would send nothing, the map decides.
  writeFileSync(touched, Buffer.concat([page(10), page(10), page(10)]));
  writeFileSync(untouched, Buffer.concat([page(10)]));
  const locations = new BlockLocationList();
  locations.push(1663, 5, 16384, 2);
  locations.push(1663, 5, 16384, 0);
  const deltaMap = new WalDeltaMap();
  deltaMap.add(locations);
  const driver = new MemoryStorageDriver();
  const spool = await FilesMetadataSpool.create(makeTempDir());
  const composer = new TarComposer({
    folder: new Folder(driver).subFolder('tar_partitions'),
    codec: lz4,
    sizeThreshold: 1 << 30,
    diskConcurrency: 1,
    uploadQueue: 2,
    spool,
    accounts,
    pageSize: PAGE,
    deltaLsn: 1000n,
    deltaMap,
  });
  for (const [path, member] of [[touched, '/base/5/16384'], [untouched, '/base/5/16390']] as const) {
    await composer.addFile({ path, realPath: path, memberName: member, baseName: member.slice(8), stats: lstatSync(path, { bigint: true }) }, true);
  }
  await composer.finishComposing();
  await composer.finishQueue();
  const part = members(await decode(driver.objects.get('tar_partitions/part_001.tar.lz4')!.data));
  assert.deepEqual(part.members.map((member) => member.fields.name), ['/base/5/16384']);
  const body = part.members[0].body;
  assert.deepEqual([...parseBlockNumbers(body.subarray(INCREMENT_HEADER_SIZE), parseIncrementHeader(body, PAGE).blockCount)], [0, 2]);
  const document = parseFilesMetadata(await streamText(spool.documentStream()));
  assert.equal(document.files.get('/base/5/16384')?.isIncremented, true);
  assert.equal(document.files.get('/base/5/16390')?.isSkipped, true);
  await spool.dispose();
});
