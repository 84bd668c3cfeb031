// backup-push without PGDATA: BASE_BACKUP over the replication protocol in the pre-15 form (PostgreSQL 14) and the
// 15+ form, stored as WAL-G v3.0.8 stores remote backups, restored with our backup-fetch to the source state; and
// WAL-G's own remote backup fixture passing through our tar parser and part writer byte for byte.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseFilesMetadata } from '../../src/backup/files-metadata.ts';
import { parseSentinel } from '../../src/backup/sentinel.ts';
import { codecForMethod, formatForTarPartition } from '../../src/compression/registry.ts';
import { crypterFromSettings } from '../../src/crypto/select-crypter.ts';
import { Folder, type PutOptions } from '../../src/storage/driver.ts';
import { MemoryStorageDriver } from '../../src/storage/memory.ts';
import { ChunkPool } from '../../src/stream/chunk-pool.ts';
import { formatWalSegmentName, segmentNumberOfLsn } from '../../src/wal/names.ts';
import { FilesMetadataSpool } from '../../src/backup-push/metadata-spool.ts';
import { StreamedPartWriter } from '../../src/backup-push/streamed-backup.ts';
import { TarStreamParser } from '../../src/backup-push/tar-stream-parser.ts';
import { availablePostgresVersions } from '../helpers/postgres.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import {
  backupsFolder,
  keysOf,
  pushedBackupName,
  readStoredTar,
  restoredState,
  runWalgOk,
  startBackupCluster,
  STATE_QUERY,
  tarObjects,
} from './backup-push-helpers.ts';

const REMOTE_SET = join(import.meta.dirname, '../../compat-fixtures/pg14-brotli-pgp-remote');
const REMOTE_BACKUP = join(REMOTE_SET, 'storage/basebackups_005/base_000000010000000000000002');
const installed = new Set(availablePostgresVersions());

/** A memory driver that keeps put bodies as they come (no per-chunk copies: the fixture is 30 MB). */
class CapturingDriver extends MemoryStorageDriver {
  override async put(key: string, body: Readable, _options?: PutOptions): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(chunk as Buffer);
    this.objects.set(key, { data: Buffer.concat(chunks), modified: new Date() });
  }
}

/** A stored tar decrypted and decompressed, as bytes. */
async function decodedBytes(path: string, settings: Record<string, string>): Promise<Buffer> {
  const crypter = crypterFromSettings((name) => settings[name])!;
  const chunks: Buffer[] = [];
  await pipeline(
    Readable.from([readFileSync(path)]),
    crypter.decrypter(),
    formatForTarPartition(path).decompressor(),
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        chunks.push(chunk);
        callback();
      },
    }),
  );
  return Buffer.concat(chunks);
}

describe('backup-push without a data directory (BASE_BACKUP)', { concurrency: 1 }, () => {
  test("WAL-G's remote backup goes through the tar parser and part writer unchanged, pg_control.tar included", async () => {
    const settings = (JSON.parse(readFileSync(join(REMOTE_SET, 'manifest.json'), 'utf8')) as { settings: Record<string, string> }).settings;
    const part = await decodedBytes(join(REMOTE_BACKUP, 'tar_partitions/part_001.tar.br'), settings);
    const control = await decodedBytes(join(REMOTE_BACKUP, 'tar_partitions/pg_control.tar.br'), settings);
    const driver = new CapturingDriver();
    const spool = await FilesMetadataSpool.create(makeTempDir());
    try {
      const writer = new StreamedPartWriter({ folder: new Folder(driver), codec: codecForMethod('none'), pool: new ChunkPool(1, 1024 * 1024) }, 1_073_741_823, spool);
      writer.startArchive(undefined);
      const parser = new TarStreamParser({
        header: (fields) => writer.header(fields),
        data: (chunk) => writer.data(chunk),
        endMember: async (fields) => writer.endMember(fields),
      });
      for (let offset = 0; offset < part.length; offset += 65536) await parser.write(part.subarray(offset, offset + 65536));
      parser.finish();
      await writer.finish();
      assert.deepEqual([...driver.objects.keys()].sort(), ['part_001.tar.', 'pg_control.tar.']);
      // Both as WAL-G stored them, including the missing end-of-archive blocks of the last part and pg_control.tar.
      assert.ok(driver.objects.get('part_001.tar.')!.data.equals(part), "part_001 differs from WAL-G's");
      assert.ok(driver.objects.get('pg_control.tar.')!.data.equals(control), "pg_control.tar differs from WAL-G's");
      const chunks: Buffer[] = [];
      for await (const chunk of spool.documentStream()) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
      const ours = parseFilesMetadata(Buffer.concat(chunks).toString('utf8'));
      const theirs = parseFilesMetadata(readFileSync(join(REMOTE_BACKUP, 'files_metadata.json'), 'utf8'));
      assert.deepEqual(new Set(ours.files.keys()), new Set(theirs.files.keys()));
      assert.equal(ours.tarFileSets.size, 0);
      for (const [name, description] of theirs.files) {
        assert.equal(Date.parse(ours.files.get(name)!.modificationTime), Date.parse(description.modificationTime), name);
      }
    } finally {
      await spool.dispose();
    }
  });

  for (const major of [14, 15].filter((candidate) => installed.has(candidate))) {
    test(`PostgreSQL ${major}: a streamed backup with a tablespace restores to the source state, laid out as WAL-G's remote backups`, async () => {
      const setup = await startBackupCluster(major, { WALG_TAR_SIZE_THRESHOLD: '4194304', WALG_COMPRESSION_METHOD: 'brotli' });
      try {
        const pushed = await runWalgOk(setup, ['backup-push']);
        assert.match(pushed.stderr, /Running remote backup through Postgres connection\./);
        assert.match(pushed.stderr, /Adding tablespace \d+ \(/);
        assert.match(pushed.stderr, /Adding data directory/);
        const name = pushedBackupName(pushed);
        const expectedState = await setup.cluster.query(STATE_QUERY);

        const folder = backupsFolder(setup);
        const sentinelPath = join(folder, `${name}_backup_stop_sentinel.json`);
        assert.deepEqual(keysOf(sentinelPath), keysOf(`${REMOTE_BACKUP}_backup_stop_sentinel.json`));
        const sentinel = parseSentinel(readFileSync(sentinelPath, 'utf8'));
        assert.equal(sentinel.dataCatalogSize, 0);
        assert.equal(sentinel.spec?.locations.get(sentinel.spec.names[0])?.location, setup.tablespaceDirectory);
        // Named after the start LSN's own segment (a fresh cluster is on timeline 1), not the one before it.
        assert.equal(name, `base_${formatWalSegmentName(1, segmentNumberOfLsn(sentinel.startLsn!))}`);

        const objects = tarObjects(setup, name);
        const parts = objects.filter((object) => object.startsWith('part_'));
        assert.ok(parts.length >= 2, `a 4 MiB threshold splits the stream: ${objects.join(' ')}`);
        assert.deepEqual(objects.filter((object) => !object.startsWith('part_')), ['pg_control.tar.br']);
        const files = parseFilesMetadata(readFileSync(join(folder, name, 'files_metadata.json'), 'utf8'));
        assert.equal(files.tarFileSets.size, 0);
        const members: string[] = [];
        for (const [index, part] of parts.entries()) {
          const tar = await readStoredTar(join(folder, name, 'tar_partitions', part), setup.settings);
          const last = index === parts.length - 1;
          assert.equal(tar.endBlocks, !last, `${part}: end blocks on all parts but the last`);
          for (const member of tar.members) {
            assert.ok(!member.fields.name.startsWith('/'), `${member.fields.name} is relative`);
            if (member.fields.typeflag !== '5') assert.ok(files.files.has(member.fields.name.replace(/^\.\//, '')), member.fields.name);
            members.push(member.fields.name);
          }
          // pg_control comes last, as PostgreSQL sends it.
          if (last) assert.equal(tar.members[tar.members.length - 1].fields.name, 'global/pg_control');
        }
        // The label files travel inside the data (no backup_label.tar); tablespace members are renamed.
        assert.ok(members.includes('backup_label') && members.includes('tablespace_map'));
        assert.ok(members.some((member) => member.startsWith(`pg_tblspc/${sentinel.spec!.names[0]}/PG_${major}_`)));
        const control = await readStoredTar(join(folder, name, 'tar_partitions', 'pg_control.tar.br'), setup.settings);
        assert.deepEqual(control.members.map((member) => member.fields.name), ['global/pg_control']);
        assert.equal(control.endBlocks, false);

        assert.equal(await restoredState(setup, name), expectedState);
      } finally {
        await setup.cluster.cleanup();
      }
    });
  }
});
