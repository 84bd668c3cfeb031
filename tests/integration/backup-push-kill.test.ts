// kill -9 at random points of backup-push: no sentinel is ever left for an incomplete backup, so backup-list shows
// nothing incomplete; a later backup completes, and `delete garbage` removes the killed attempts' debris.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { availablePostgresVersions } from '../helpers/postgres.ts';
import { WALG_BIN } from '../helpers/walg.ts';
import { backupsFolder, changeData, pushedBackupName, runWalgOk, startBackupCluster, type BackupCluster } from './backup-push-helpers.ts';

const installed = availablePostgresVersions();
const MAJOR = installed.includes(15) ? 15 : installed[0];

/** Starts backup-push as the cluster's user, throttled so it runs for seconds, and SIGKILLs it after `afterMs`. */
async function killedBackupPush(setup: BackupCluster, afterMs: number): Promise<{ exitSignal: string | null; stderr: string }> {
  // Small tar parts, so some are complete (stored under their final names) when the kill comes.
  const env = Object.entries({ ...setup.env, WALG_NETWORK_RATE_LIMIT: '1048576', WALG_UPLOAD_CONCURRENCY: '2', WALG_TAR_SIZE_THRESHOLD: '1048576' })
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) => `${name}=${value}`);
  // Its own process group, so the kill reaches wal-g and not only runuser.
  const child = spawn(
    'runuser',
    ['-u', setup.cluster.user, '--', 'env', ...env, WALG_BIN, 'backup-push', setup.cluster.dataDir, '--config', setup.workspace.configFile],
    { detached: true, stdio: ['ignore', 'ignore', 'pipe'], cwd: setup.cluster.rootDir },
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const closed = new Promise<string | null>((resolve) => child.on('close', (_code, signal) => resolve(signal)));
  await new Promise((resolve) => setTimeout(resolve, afterMs));
  try {
    process.kill(-(child.pid as number), 'SIGKILL');
  } catch {
    // already gone: it finished before the kill
  }
  return { exitSignal: await closed, stderr };
}

/**
 * What the storage shows under basebackups_005/: every stored object, as a key. Hidden `.walnut-tmp-` files (an
 * upload cut by the kill) are not objects: listings skip them, as S3 does with an unfinished multipart upload.
 */
/** The hidden temporary files of cut uploads under basebackups_005/, as paths. */
function temporaries(setup: BackupCluster): string[] {
  const folder = backupsFolder(setup);
  const found: string[] = [];
  const walk = (path: string): void => {
    if (!existsSync(path)) return;
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      if (entry.isDirectory()) walk(join(path, entry.name));
      else if (entry.name.includes('.walnut-tmp-')) found.push(join(path, entry.name));
    }
  };
  walk(folder);
  return found.sort();
}

function backupEntries(setup: BackupCluster): string[] {
  const folder = backupsFolder(setup);
  if (!existsSync(folder)) return [];
  const keys: string[] = [];
  const walk = (relative: string): void => {
    for (const entry of readdirSync(join(folder, relative), { withFileTypes: true })) {
      const key = relative === '' ? entry.name : `${relative}/${entry.name}`;
      if (entry.isDirectory()) walk(key);
      else if (!entry.name.includes('.walnut-tmp-')) keys.push(key);
    }
  };
  walk('');
  return keys.sort();
}

test(`PostgreSQL ${MAJOR}: backup-push killed with SIGKILL leaves no sentinel; delete garbage removes the debris, cut uploads included`, { timeout: 600_000 }, async (t) => {
  const setup = await startBackupCluster(MAJOR);
  t.after(() => setup.cluster.cleanup());
  // Enough data that a throttled push lasts several seconds.
  await setup.cluster.query('create table filler as select g as id, md5(g::text) || md5((g * 7)::text) as v from generate_series(1, 150000) g');

  const delays = [700, 1500 + Math.floor(Math.random() * 1500), 3500 + Math.floor(Math.random() * 2000)];
  for (const [round, delay] of delays.entries()) {
    await changeData(setup.cluster, round + 1);
    await setup.cluster.query('select pg_switch_wal()'); // each attempt starts in a segment of its own
    const attempt = await killedBackupPush(setup, delay);
    assert.equal(attempt.exitSignal, 'SIGKILL', `backup-push ended before the kill at ${delay} ms:\n${attempt.stderr}`);
    const entries = backupEntries(setup);
    assert.ok(!entries.some((key) => key.endsWith('_backup_stop_sentinel.json')), `a sentinel after a kill at ${delay} ms: ${entries.join(' ')}`);
    const listed = await runWalgOk(setup, ['backup-list', '--json']);
    assert.equal(listed.stdout.trim(), '[]', `backup-list after a kill at ${delay} ms`);
  }
  const debris = backupEntries(setup);
  assert.ok(debris.length > 0, 'the killed attempts left files behind (otherwise the kills came too early to test anything)');

  await changeData(setup.cluster, 9);
  await setup.cluster.query('select pg_switch_wal()');
  const complete = pushedBackupName(await runWalgOk(setup, ['backup-push', setup.cluster.dataDir]));
  assert.ok(!debris.some((key) => key.startsWith(`${complete}/`)), `the complete backup ${complete} reused a killed attempt's name`);
  const listed = await runWalgOk(setup, ['backup-list']);
  assert.match(listed.stdout, new RegExp(complete));
  assert.equal(listed.stdout.trim().split('\n').length, 2, listed.stdout);

  // Cut uploads leave hidden temporary files: age those by two days (a dead upload), and add a fresh one (an upload
  // that could still be running), which delete garbage must leave alone.
  const cut = temporaries(setup);
  assert.ok(cut.length > 0, 'the kills cut at least one upload');
  const twoDaysAgo = Date.now() / 1000 - 2 * 24 * 3600;
  for (const path of cut) utimesSync(path, twoDaysAgo, twoDaysAgo);
  const fresh = join(backupsFolder(setup), `.part_999.tar.lz4.walnut-tmp-0123456789abcdef`);
  writeFileSync(fresh, 'still uploading');

  const dryRun = await runWalgOk(setup, ['delete', 'garbage']);
  assert.match(dryRun.stderr, /\(an unfinished upload\)/);
  assert.equal(temporaries(setup).length, cut.length + 1, 'a dry run removes no temporary file');
  assert.deepEqual(backupEntries(setup).filter((key) => !key.startsWith(complete)), debris, `dry run deleted something:\n${dryRun.stderr}`);
  const completeKeys = backupEntries(setup).filter((key) => key.startsWith(complete));
  await runWalgOk(setup, ['delete', 'garbage', '--confirm']);
  assert.deepEqual(backupEntries(setup), completeKeys);
  assert.deepEqual(temporaries(setup), [fresh], 'the dead uploads\' temporaries are gone, the fresh one stays');
  assert.ok(completeKeys.includes(`${complete}/metadata.json`) && completeKeys.includes(`${complete}_backup_stop_sentinel.json`));
  // The complete backup is intact: it lists, and its parts are all there.
  const after = await runWalgOk(setup, ['backup-list']);
  assert.match(after.stdout, new RegExp(complete));
});
