// WALG_USE_WAL_DELTA end to end: wal-push records `_delta` sidecars, backup-push builds its delta from them (and the
// WAL of the current group) instead of scanning pages, and the chain restores to the source state. 1 MiB WAL
// segments keep the two WAL groups this needs small.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { availablePostgresVersions, type Cluster } from '../helpers/postgres.ts';
import { changeData, pushedBackupName, restoredState, runWalgOk, startBackupCluster, STATE_QUERY } from './backup-push-helpers.ts';

const MAJOR = 15;

/** Makes `count` more WAL segments (a tiny write, then a switch, each) and waits until all of them are archived. */
async function makeSegments(cluster: Cluster, count: number): Promise<void> {
  // All at once, so the archiver finds many segments ready and wal-push uploads them together in the background.
  await cluster.query(
    `do $$ begin for i in 1..${count} loop insert into acct values (9000000 + i, 'switch'); perform pg_switch_wal(); end loop; end $$`,
  );
  const last = await cluster.query('select pg_walfile_name(pg_current_wal_lsn())');
  const deadline = Date.now() + 150_000;
  for (;;) {
    const [archived, failed] = (await cluster.query("select coalesce(last_archived_wal, ''), failed_count from pg_stat_archiver")).split('|');
    // Everything before the segment being written now is archived.
    if (archived !== '' && archived >= last.slice(0, 16) + (parseInt(last.slice(16), 16) - 1).toString(16).toUpperCase().padStart(8, '0')) return;
    assert.ok(Date.now() < deadline, `archiving did not reach ${last} (last archived ${archived}, ${failed} failures)`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

test('a delta built from WAL delta maps restores to the source state', { skip: !availablePostgresVersions().includes(MAJOR) }, async () => {
  const settings = { WALG_USE_WAL_DELTA: 'true', WALG_PG_WAL_SIZE: '1', WALG_DELTA_MAX_STEPS: '3' };
  const setup = await startBackupCluster(MAJOR, settings, ['--wal-segsize=1']);
  try {
    const { cluster } = setup;
    // The parent must start in WAL group 0x10 or later: group 0 never gets a sidecar (there is no segment 0).
    await makeSegments(cluster, 17);
    const full = pushedBackupName(await runWalgOk(setup, ['backup-push', cluster.dataDir]));
    await changeData(cluster, 1);
    await makeSegments(cluster, 18);
    const sidecars = readdirSync(join(setup.workspace.storage, 'wal_005')).filter((name) => name.includes('_delta'));
    assert.ok(sidecars.some((name) => name.startsWith('000000010000000000000010_delta')), `sidecars: ${sidecars.join(' ')}`);
    await changeData(cluster, 2);
    const pushed = await runWalgOk(setup, ['backup-push', cluster.dataDir]);
    assert.match(pushed.stderr, /Successfully loaded delta map, delta backup will be made with provided delta map/);
    assert.match(pushed.stderr, /Successfully downloaded delta file 000000010000000000000010_delta/);
    const delta = pushedBackupName(pushed);
    assert.match(delta, new RegExp(`_D_${full.slice(5)}$`));
    assert.equal(await restoredState(setup, delta), await cluster.query(STATE_QUERY));
  } finally {
    await setup.cluster.cleanup();
  }
});
