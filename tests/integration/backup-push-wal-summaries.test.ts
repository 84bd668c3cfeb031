// Walnut-only --delta-from-wal-summaries on PostgreSQL 17 and 18: a chain of two deltas built from WAL summaries
// (updates, inserts, TRUNCATE, an in-place truncation by VACUUM, a dropped and a new table) restores with our
// backup-fetch to the source state, with standard wi1 increments smaller than their files; PostgreSQL 16 falls back.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { availablePostgresVersions } from '../helpers/postgres.ts';
import {
  backupsFolder,
  changeData,
  pushedBackupName,
  readJson,
  readStoredTar,
  restoredState,
  runWalgOk,
  startBackupCluster,
  tarObjects,
  type BackupCluster,
} from './backup-push-helpers.ts';

const PAGE = 8192;
const TABLES = ['acct', 'blob', 'keep', 'shrink', 'trunc', 'fresh'];
/** A hash of every test table's rows (a missing table hashes as ''), and whether the dropped one is gone. */
const ALL_STATE_QUERY =
  'select md5(' +
  TABLES.map((table) => `coalesce((select string_agg(t::text, ',' order by t::text) from ${table} t), '')`).join(" || '|' || ") +
  ") || ':' || (to_regclass('gone') is null)";

/** The increment stored for `member`: its wi1 header's file size and block count. */
async function storedIncrement(setup: BackupCluster, backup: string, member: string): Promise<{ fileSize: number; blocks: number } | undefined> {
  for (const object of tarObjects(setup, backup)) {
    const { members } = await readStoredTar(join(backupsFolder(setup), backup, 'tar_partitions', object), setup.settings);
    const found = members.find((entry) => `/${entry.fields.name}` === member || entry.fields.name === member);
    if (found === undefined) continue;
    assert.equal(found.body.subarray(0, 4).toString('latin1'), 'wi1U', `${member} is not an increment`);
    return { fileSize: Number(found.body.readBigUInt64LE(4)), blocks: found.body.readUInt32LE(12) };
  }
  return undefined;
}

for (const major of [17, 18]) {
  test(`PostgreSQL ${major}: deltas from WAL summaries restore to the source state`, { skip: !availablePostgresVersions().includes(major) }, async () => {
    const setup = await startBackupCluster(major, { WALG_DELTA_MAX_STEPS: '3' });
    try {
      const { cluster } = setup;
      await cluster.query('alter system set summarize_wal = on');
      await cluster.query('select pg_reload_conf()');
      await cluster.query(
        'create table keep as select g as id, md5(g::text) as v from generate_series(1, 3000) g; ' +
          'create table shrink as select g as id, md5(g::text) as v from generate_series(1, 20000) g; ' +
          'create table trunc as select g as id, md5(g::text) as v from generate_series(1, 5000) g; ' +
          'create table gone as select g as id from generate_series(1, 5000) g; ' +
          'create table fresh (id int, v text)',
      );
      const full = pushedBackupName(await runWalgOk(setup, ['backup-push', cluster.dataDir, '--full']));

      await changeData(cluster, 1);
      await cluster.query('truncate trunc; insert into trunc select g, md5(g::text) from generate_series(1, 100) g');
      await cluster.query('drop table fresh; create table fresh as select g as id, md5(g::text) || \'fresh\' as v from generate_series(1, 2000) g');
      await cluster.query('drop table gone');
      // VACUUM truncates the emptied tail of shrink in place (a limit block in the summary).
      await cluster.query('delete from shrink where id > 5000');
      await cluster.query('vacuum shrink');
      const firstPush = await runWalgOk(setup, ['backup-push', cluster.dataDir, '--delta-from-wal-summaries']);
      assert.match(firstPush.stderr, /INFO: .*Delta from WAL summaries: [0-9A-F]+\/[0-9A-F]+ to [0-9A-F]+\/[0-9A-F]+ on timeline 1, \d+ relations changed/);
      assert.doesNotMatch(firstPush.stderr, /Falling back to the page LSN scan/);
      const first = pushedBackupName(firstPush);
      assert.match(first, new RegExp(`_D_${full.slice(5)}$`));

      // The updated table's file went in as a wi1 increment with fewer pages than the file has.
      const acctPath = `/${await cluster.query("select pg_relation_filepath('acct')")}`;
      const files = readJson(join(backupsFolder(setup), first, 'files_metadata.json')).Files as Record<string, { IsIncremented: boolean }>;
      assert.equal(files[acctPath]?.IsIncremented, true, `${acctPath} in ${Object.keys(files).length} files`);
      const increment = await storedIncrement(setup, first, acctPath);
      assert.ok(increment, `${acctPath} is not stored in ${first}`);
      assert.ok(increment.blocks > 0 && increment.blocks < increment.fileSize / PAGE, `acct increment: ${increment.blocks} of ${increment.fileSize / PAGE} pages`);

      // Second delta, on the first: more writes, the truncated table grows again; the setting instead of the flag.
      await changeData(cluster, 2);
      await cluster.query("insert into shrink select g, 'again' from generate_series(30000, 36000) g; update keep set v = 'k' where id = 7");
      const secondPush = await runWalgOk(setup, ['backup-push', cluster.dataDir], { WALNUT_DELTA_FROM_WAL_SUMMARIES: 'true' });
      assert.match(secondPush.stderr, /Delta from WAL summaries: /);
      const second = pushedBackupName(secondPush);
      assert.match(second, new RegExp(`_D_${first.slice(5, 29)}$`));

      const expected = await cluster.query(ALL_STATE_QUERY);
      assert.equal(await restoredState(setup, second, ALL_STATE_QUERY), expected);
    } finally {
      await setup.cluster.cleanup();
    }
  });
}

test('PostgreSQL 16: --delta-from-wal-summaries warns and falls back to the page LSN scan', { skip: !availablePostgresVersions().includes(16) }, async () => {
  const setup = await startBackupCluster(16, { WALG_DELTA_MAX_STEPS: '3' });
  try {
    const { cluster } = setup;
    await runWalgOk(setup, ['backup-push', cluster.dataDir, '--full']);
    await changeData(cluster, 1);
    const pushed = await runWalgOk(setup, ['backup-push', cluster.dataDir, '--delta-from-wal-summaries']);
    assert.match(
      pushed.stderr,
      /WARNING: .*Cannot take the delta from WAL summaries: PostgreSQL 16 has no WAL summaries \(17 or later needed\)\. Falling back to the page LSN scan\.\n/,
    );
    assert.match(pushedBackupName(pushed), /_D_/);
  } finally {
    await setup.cluster.cleanup();
  }
});
