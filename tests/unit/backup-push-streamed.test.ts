// Streamed (BASE_BACKUP) backups stored as WAL-G stores them: tablespace members renamed under pg_tblspc/<oid>/, a
// new part before a file that would pass the threshold, the last part and pg_control.tar without end-of-archive
// blocks. (WAL-G's own remote backup going through unchanged is checked in tests/integration/backup-push-streamed.)

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { codecForMethod } from '../../src/compression/registry.ts';
import { Folder } from '../../src/storage/driver.ts';
import { MemoryStorageDriver } from '../../src/storage/memory.ts';
import { ChunkPool } from '../../src/stream/chunk-pool.ts';
import { FilesMetadataSpool } from '../../src/backup-push/metadata-spool.ts';
import { streamedBackupName, StreamedPartWriter } from '../../src/backup-push/streamed-backup.ts';
import { encodeTarHeader, type TarHeaderFields } from '../../src/backup-push/tar-header.ts';
import { TarStreamParser } from '../../src/backup-push/tar-stream-parser.ts';

function writerFor(driver: MemoryStorageDriver, threshold: number, spool?: FilesMetadataSpool): StreamedPartWriter {
  return new StreamedPartWriter({ folder: new Folder(driver), codec: codecForMethod('none'), pool: new ChunkPool(1, 1024 * 1024) }, threshold, spool);
}

/** Feeds one archive through a parser into the writer, in awkward piece sizes. */
async function feed(writer: StreamedPartWriter, archive: Buffer, tablespace?: { oid: number; location: string }): Promise<void> {
  writer.startArchive(tablespace);
  const parser = new TarStreamParser({
    header: (fields) => writer.header(fields),
    data: (chunk) => writer.data(chunk),
    endMember: async (fields) => writer.endMember(fields),
  });
  for (let offset = 0; offset < archive.length; offset += 7001) await parser.write(archive.subarray(offset, offset + 7001));
  parser.finish();
}

function member(name: string, size: number, typeflag: '0' | '5' = '0'): Buffer {
  const fields: TarHeaderFields = { name, mode: typeflag === '5' ? 0o700 : 0o600, uid: 26, gid: 26, size, modTimeSeconds: 1_700_000_000, typeflag, linkname: '', uname: 'postgres', gname: 'postgres', devmajor: 0, devminor: 0 };
  const body = Buffer.alloc(size, name.length);
  return Buffer.concat([encodeTarHeader(fields), body, Buffer.alloc((512 - (size % 512)) % 512)]);
}

test('a new part starts before a file that would pass the threshold; tablespace members go under pg_tblspc/<oid>/', async () => {
  const driver = new MemoryStorageDriver();
  const writer = writerFor(driver, 10_000);
  await feed(writer, Buffer.concat([member('PG_16_202307071/', 0, '5'), member('PG_16_202307071/5/16500', 6000)]), { oid: 16499, location: '/srv/ts' });
  // PostgreSQL 15+ ends each archive with two zero blocks; they end the parse and are not copied.
  await feed(writer, Buffer.concat([member('base/', 0, '5'), member('base/1/1259', 5000), member('global/pg_control', 8192), Buffer.alloc(1024)]));
  await writer.finish();
  const names = (key: string): string[] => {
    const data = driver.objects.get(key)!.data;
    const found: string[] = [];
    for (let offset = 0; offset + 512 <= data.length; ) {
      const block = data.subarray(offset, offset + 512);
      if (block.every((byte) => byte === 0)) break;
      found.push(block.toString('latin1', 0, block.indexOf(0)));
      const size = parseInt(block.toString('latin1', 124, 135), 8);
      offset += 512 + Math.ceil((block[156] === 0x30 ? size : 0) / 512) * 512;
    }
    return found;
  };
  assert.deepEqual(names('part_001.tar.'), ['pg_tblspc/16499/PG_16_202307071/', 'pg_tblspc/16499/PG_16_202307071/5/16500', 'base/']);
  assert.deepEqual(names('part_002.tar.'), ['base/1/1259']);
  assert.deepEqual(names('part_003.tar.'), ['global/pg_control']);
  // Closed for size: end blocks; the last part and pg_control.tar: none.
  assert.ok(driver.objects.get('part_001.tar.')!.data.subarray(-1024).every((byte) => byte === 0));
  assert.equal(driver.objects.get('part_003.tar.')!.data.length, 512 + 8192);
  assert.equal(driver.objects.get('pg_control.tar.')!.data.length, 512 + 8192);
  assert.equal(writer.receivedBytes, 0);
});

test('a streamed backup is named after the WAL file of its start LSN itself, not of LSN - 1', () => {
  assert.equal(streamedBackupName(1, 0x2000028n, 16 * 1024 * 1024), 'base_000000010000000000000002');
  assert.equal(streamedBackupName(1, 0x3000000n, 16 * 1024 * 1024), 'base_000000010000000000000003');
});
