// wal-verify on every compat fixture prints WAL-G's JSON when told the timeline and LSN WAL-G saw, and against a
// live cluster it asks the server for its position.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { availablePostgresVersions, startCluster } from '../helpers/postgres.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { runWalg } from '../helpers/walg.ts';

export const FIXTURES = join(import.meta.dirname, '../../compat-fixtures');

/**
 * A copy of a fixture's storage as it was when WAL-G printed expected/: sentinels and metadata.json copied, WAL
 * objects as empty files (only their names matter to wal-show and wal-verify), minus segments archived after
 * WAL-G ran (pg13 and pg15-zstd hold one more segment than their expected output shows).
 */
export function fixtureStorageAsWalgSawIt(set: string): string {
  const source = join(FIXTURES, set, 'storage');
  const target = makeTempDir();
  const shown = JSON.parse(readFileSync(join(FIXTURES, set, 'expected/wal-show.json'), 'utf8')) as { end_segment: string }[];
  const lastShown = shown.map((timeline) => timeline.end_segment).sort().at(-1) ?? '';
  mkdirSync(join(target, 'wal_005'), { recursive: true });
  for (const name of readdirSync(join(source, 'wal_005'))) {
    const segment = /^[0-9A-F]{24}(?=\.)/.exec(name)?.[0];
    if (segment && !name.includes('_delta') && segment > lastShown) continue;
    writeFileSync(join(target, 'wal_005', name), '');
  }
  mkdirSync(join(target, 'basebackups_005'));
  for (const name of readdirSync(join(source, 'basebackups_005'))) {
    if (name.endsWith('_backup_stop_sentinel.json')) copyFileSync(join(source, 'basebackups_005', name), join(target, 'basebackups_005', name));
    else {
      mkdirSync(join(target, 'basebackups_005', name));
      copyFileSync(join(source, 'basebackups_005', name, 'metadata.json'), join(target, 'basebackups_005', name, 'metadata.json'));
    }
  }
  return target;
}

interface VerifyJson {
  integrity: { details: { end_segment: string }[] };
}

/** The --lsn WAL-G's cluster was at: the scan ends one segment before segment(lsn - 1). */
function lsnAfter(segmentName: string): string {
  const next = parseInt(segmentName.slice(16), 16) + 1;
  return `${parseInt(segmentName.slice(8, 16), 16).toString(16).toUpperCase()}/${next.toString(16).toUpperCase()}000001`;
}

for (const set of readdirSync(FIXTURES).filter((name) => name.startsWith('pg'))) {
  test(`wal-verify --json prints WAL-G output for ${set} at the LSN WAL-G saw`, async () => {
    const expected = readFileSync(join(FIXTURES, set, 'expected/wal-verify.json'), 'utf8');
    const parsed = JSON.parse(expected) as VerifyJson;
    const storage = fixtureStorageAsWalgSawIt(set);
    const lsn = lsnAfter(parsed.integrity.details.at(-1)!.end_segment);
    const result = await runWalg(['wal-verify', 'integrity', 'timeline', '--json', '--timeline', '1', '--lsn', lsn], {
      env: { PATH: process.env.PATH, HOME: storage, WALG_FILE_PREFIX: storage },
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, expected);
  });
}

test('wal-verify arguments: no check, an unknown check and --lsn without --timeline are usage errors', async () => {
  const storage = makeTempDir();
  const env = { PATH: process.env.PATH, HOME: storage, WALG_FILE_PREFIX: storage };
  const none = await runWalg(['wal-verify'], { env });
  assert.equal(none.code, 1);
  assert.match(none.stderr, /Error: at least one of the following checks should be specified: (integrity, timeline|timeline, integrity)/);
  const unknown = await runWalg(['wal-verify', 'everything'], { env });
  assert.match(unknown.stderr, /Error: invalid check specified: everything/);
  const lonely = await runWalg(['wal-verify', 'timeline', '--lsn', '0/1'], { env });
  assert.match(lonely.stderr, /Error: "--lsn" flag works only in conjunction with the "--timeline" flag/);
});

const liveMajor = availablePostgresVersions().find((major) => major >= 15);
test('wal-verify asks a live cluster for its WAL position and prints WAL-G JSON for pg15-lz4-delta', { skip: liveMajor === undefined ? 'no PostgreSQL 15+ installed' : false, timeout: 120_000 }, async (t) => {
  const cluster = await startCluster({ major: liveMajor! });
  t.after(() => cluster[Symbol.asyncDispose]());
  // Move the fresh cluster (in segment 1) to segment 7, as the cluster WAL-G asked was.
  await cluster.query('create table t (id int)');
  for (let round = 0; round < 6; round++) await cluster.query('insert into t values (1); select pg_switch_wal()');
  await cluster.query('insert into t values (2)');
  assert.equal(await cluster.query('select pg_walfile_name(pg_current_wal_lsn())'), '000000010000000000000007');
  const storage = fixtureStorageAsWalgSawIt('pg15-lz4-delta');
  const result = await runWalg(['wal-verify', 'timeline', 'integrity', '--json'], {
    env: { PATH: process.env.PATH, HOME: storage, WALG_FILE_PREFIX: storage, ...cluster.env },
  });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /INFO: .* Current WAL segment: 000000010000000000000007\n/);
  assert.equal(result.stdout, readFileSync(join(FIXTURES, 'pg15-lz4-delta/expected/wal-verify.json'), 'utf8'));
});
