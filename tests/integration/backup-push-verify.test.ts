// backup-push --verify on clusters with data checksums: blocks corrupted on disk are reported in the log and in
// files_metadata.json (at most 10 numbers, all with --store-all-corrupt), the backup still succeeds as in WAL-G; a
// cluster without checksums gets WAL-G's warning and no verification.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openSync, readSync, writeSync, closeSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { availablePostgresVersions } from '../helpers/postgres.ts';
import { backupsFolder, pushedBackupName, readJson, runWalgAs, runWalgOk, startBackupCluster } from './backup-push-helpers.ts';

const PAGE = 8192;
/** Blocks of the victim table whose data is damaged: 12, two more than WAL-G records by default. */
const CORRUPT_BLOCKS = [1, 2, 3, 5, 8, 13, 21, 22, 23, 24, 30, 34];

type FileEntry = { CorruptBlocks?: { CorruptBlocksCount: number; SomeCorruptBlocks: number[] } };

function filesOf(setup: { workspace: { storage: string } }, backup: string): Record<string, FileEntry> {
  return readJson(join(backupsFolder(setup as never), backup, 'files_metadata.json')).Files as Record<string, FileEntry>;
}

/** Flips one byte of tuple data (near the page's end, where heap tuples sit) in each listed block. */
function corruptBlocks(path: string, blocks: readonly number[]): void {
  const descriptor = openSync(path, 'r+');
  try {
    for (const block of blocks) {
      const byte = Buffer.alloc(1);
      const position = block * PAGE + PAGE - 100;
      readSync(descriptor, byte, 0, 1, position);
      byte[0] ^= 0x5a;
      writeSync(descriptor, byte, 0, 1, position);
    }
  } finally {
    closeSync(descriptor);
  }
}

for (const major of [15, 17]) {
  test(`PostgreSQL ${major}: backup-push --verify records the corrupt blocks of a table and still succeeds`, { skip: !availablePostgresVersions().includes(major) }, async () => {
    const setup = await startBackupCluster(major, {}, ['--data-checksums']);
    try {
      const { cluster } = setup;
      // Frozen and checkpointed, no autovacuum: nothing rewrites the victim's pages after they are damaged.
      await cluster.query('create table victim with (autovacuum_enabled = false) as select g as id, md5(g::text) as v from generate_series(1, 6000) g');
      await cluster.query('vacuum freeze victim');
      await cluster.query('checkpoint');
      const relationPath = await cluster.query("select pg_relation_filepath('victim')");
      const size = Number(await cluster.query("select pg_relation_size('victim')"));
      assert.ok(size / PAGE > 34, `victim has ${size / PAGE} pages`);
      await cluster.stop();
      corruptBlocks(join(cluster.dataDir, relationPath), CORRUPT_BLOCKS);
      await cluster.start();
      await cluster.query('checkpoint');

      const verified = await runWalgOk(setup, ['backup-push', cluster.dataDir, '--verify']);
      assert.match(verified.stderr, /INFO: .*data_checksums is enabled in DB\./);
      const diskPath = join(cluster.dataDir, relationPath);
      for (const block of CORRUPT_BLOCKS) {
        assert.match(verified.stderr, new RegExp(`WARNING: .*Corruption found in ${diskPath}/\\[${block}\\], expected [0-9a-f]+, found [0-9a-f]+\\n`));
      }
      const files = filesOf(setup, pushedBackupName(verified));
      const member = `/${relationPath}`;
      assert.deepEqual(files[member].CorruptBlocks, { CorruptBlocksCount: 12, SomeCorruptBlocks: CORRUPT_BLOCKS.slice(0, 10) });
      const others = Object.entries(files).filter(([name, entry]) => name !== member && entry.CorruptBlocks !== undefined);
      assert.deepEqual(others, []);
      // The raw text has WAL-G's field order.
      const raw = readFileSync(join(backupsFolder(setup), pushedBackupName(verified), 'files_metadata.json'), 'utf8');
      assert.match(raw, /"IsIncremented":false,"IsSkipped":false,"MTime":"[^"]+","CorruptBlocks":\{"CorruptBlocksCount":12,"SomeCorruptBlocks":\[1,2,3,5,8,13,21,22,23,24\]\},"UpdatesCount":0/);

      // -s (or WALG_STORE_ALL_CORRUPT_BLOCKS) keeps every number.
      const all = await runWalgOk(setup, ['backup-push', cluster.dataDir, '-v', '-s']);
      assert.deepEqual(filesOf(setup, pushedBackupName(all))[member].CorruptBlocks, { CorruptBlocksCount: 12, SomeCorruptBlocks: CORRUPT_BLOCKS });
      const allFromSetting = await runWalgOk(setup, ['backup-push', cluster.dataDir], { WALG_VERIFY_PAGE_CHECKSUMS: 'true', WALG_STORE_ALL_CORRUPT_BLOCKS: 'true' });
      assert.deepEqual(filesOf(setup, pushedBackupName(allFromSetting))[member].CorruptBlocks?.SomeCorruptBlocks, CORRUPT_BLOCKS);

      // Without --verify nothing is checked or recorded.
      const plain = await runWalgOk(setup, ['backup-push', cluster.dataDir, '--full']);
      assert.doesNotMatch(plain.stderr, /Corruption found|data_checksums is enabled/);
      assert.equal(filesOf(setup, pushedBackupName(plain))[member].CorruptBlocks, undefined);
    } finally {
      await setup.cluster.cleanup();
    }
  });
}

test('backup-push --verify on a cluster without data checksums warns as WAL-G does and verifies nothing', { skip: !availablePostgresVersions().includes(15) }, async () => {
  const setup = await startBackupCluster(15);
  try {
    const result = await runWalgAs(setup, ['backup-push', setup.cluster.dataDir, '--verify']);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.match(
      result.stderr,
      /WARNING: .*data_checksum is disabled in the database\. Skipping checksum validation, which may result in undetected data corruption\.\n/,
    );
    assert.doesNotMatch(result.stderr, /data_checksums is enabled/);
    const files = filesOf(setup, pushedBackupName(result));
    assert.deepEqual(Object.values(files).filter((entry) => entry.CorruptBlocks !== undefined), []);
  } finally {
    await setup.cluster.cleanup();
  }
});
