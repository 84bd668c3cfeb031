// backup-push with WAL-G's non-regular tar composers on real PostgreSQL: rating (parts ordered by update rating),
// database (one database directory per part) and copy (unchanged parts copied in the storage), each as a backup
// and a second one after pgbench writes, restored with our backup-fetch and replayed to the source's state; and the
// CLI's composer rules (precedence, --without-files-metadata refused).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseFilesMetadata, type FilesMetadata } from '../../src/backup/files-metadata.ts';
import { parseSentinel, type BackupSentinel } from '../../src/backup/sentinel.ts';
import { availablePostgresVersions, pgbench } from '../helpers/postgres.ts';
import {
  backupsFolder,
  pushedBackupName,
  readStoredTar,
  restoredState,
  runWalgAs,
  runWalgOk,
  startBackupCluster,
  STATE_QUERY,
  tarObjects,
  type BackupCluster,
  type StoredMember,
} from './backup-push-helpers.ts';

const installed = new Set(availablePostgresVersions());
const MAJORS = [15, 17].filter((major) => installed.has(major));
const SETTINGS = { WALG_DELTA_MAX_STEPS: '5', WALG_TAR_SIZE_THRESHOLD: '1048576' };
/** The two test tables and pgbench's accounts. */
const COMPOSER_STATE_QUERY = `select md5((${STATE_QUERY}) || '|' || (select string_agg(aid || ':' || abalance, ',' order by aid) from pgbench_accounts))`;

interface StoredBackup {
  readonly name: string;
  readonly sentinel: BackupSentinel;
  readonly files: FilesMetadata;
  /** Tar object → its members, in stored order. */
  readonly objects: Map<string, StoredMember[]>;
}

async function readBackup(setup: BackupCluster, name: string): Promise<StoredBackup> {
  const folder = join(backupsFolder(setup), name);
  const objects = new Map<string, StoredMember[]>();
  for (const object of tarObjects(setup, name)) {
    const tar = await readStoredTar(join(folder, 'tar_partitions', object), setup.settings);
    assert.ok(tar.endBlocks, `${name}/${object} ends with the two zero blocks`);
    objects.set(object, tar.members);
  }
  return {
    name,
    sentinel: parseSentinel(readFileSync(join(backupsFolder(setup), `${name}_backup_stop_sentinel.json`), 'utf8')),
    files: parseFilesMetadata(readFileSync(join(folder, 'files_metadata.json'), 'utf8')),
    objects,
  };
}

/** Data parts (not pg_control.tar / backup_label.tar) in part-number order. */
function dataParts(backup: StoredBackup): Array<[string, StoredMember[]]> {
  return [...backup.objects].filter(([object]) => object.startsWith('part_')).sort(([left], [right]) => partNumber(left) - partNumber(right));
}

function partNumber(object: string): number {
  return Number(/^part_(\d+)\./.exec(object)![1]);
}

const isRegularFile = (member: StoredMember): boolean => member.fields.typeflag === '0';

/** What every composer's backup shares: TarFileSets names each object's members exactly, each member in one object. */
function checkTarFileSets(backup: StoredBackup): void {
  const seen = new Set<string>();
  for (const [object, members] of backup.objects) {
    if (object.startsWith('pg_control.')) continue;
    const names = members.map((member) => member.fields.name);
    const listed = backup.files.tarFileSets.get(object) ?? [];
    // A file gone or skipped after it was given a part stays listed (WAL-G records the part first).
    assert.ok(names.every((name) => listed.includes(name)), `${backup.name}: TarFileSets of ${object} lists its members`);
    for (const name of names) {
      assert.ok(!seen.has(name), `${backup.name}: ${name} is stored once`);
      seen.add(name);
      assert.ok(backup.files.files.has(name) || object.startsWith('backup_label.'), `${backup.name}: ${name} has a Files entry`);
    }
  }
}

async function pgbenchWrites(setup: BackupCluster): Promise<void> {
  await pgbench(setup.cluster, ['-n', '-c', '2', '-t', '300', 'postgres']);
}

describe('backup-push with the rating, database and copy composers', { concurrency: 1 }, () => {
  for (const major of MAJORS) {
    test(`PostgreSQL ${major}: rating, database and copy backups restore to the source state, laid out as WAL-G composes them`, async () => {
      const setup = await startBackupCluster(major, SETTINGS);
      try {
        const { cluster } = setup;
        await pgbench(cluster, ['-i', '-s', '2', '-q', 'postgres']);
        await pgbenchWrites(setup);

        // --- rating: a full backup, writes, a delta -------------------------------------------------------------
        const ratingFull = pushedBackupName(await runWalgOk(setup, ['backup-push', cluster.dataDir, '--full', '-r']));
        await pgbenchWrites(setup);
        const ratingDeltaRun = await runWalgOk(setup, ['backup-push', cluster.dataDir, '--rating-composer']);
        assert.match(ratingDeltaRun.stderr, /Querying pg_stat_all_tables/);
        const ratingDelta = pushedBackupName(ratingDeltaRun);
        assert.match(ratingDelta, /_D_/);
        const ratingState = await cluster.query(COMPOSER_STATE_QUERY);
        const accountsUpdates = Number(
          await cluster.query("select n_tup_ins + n_tup_upd + n_tup_del from pg_stat_all_tables where relname = 'pgbench_accounts'"),
        );
        const accountsFile = '/' + (await cluster.query("select pg_relation_filepath('pgbench_accounts')"));
        for (const name of [ratingFull, ratingDelta]) {
          const backup = await readBackup(setup, name);
          checkTarFileSets(backup);
          const parts = dataParts(backup);
          // Every header is in the first part; files follow by rating, ascending across the parts, and a part holds
          // either files nobody writes to (rating 0) or written ones, never both.
          for (const [object, members] of parts.slice(1)) assert.ok(members.every(isRegularFile), `${name}/${object}: headers only in the first part`);
          const ratings: number[] = [];
          for (const [object, members] of parts) {
            const partRatings = members.filter(isRegularFile).map((member) => backup.files.files.get(member.fields.name)!.updatesCount);
            assert.ok(!(partRatings.includes(0) && partRatings.some((rating) => rating > 0)), `${name}/${object} mixes rated and unrated files: ${partRatings}`);
            ratings.push(...partRatings);
          }
          assert.deepEqual(ratings, [...ratings].sort((left, right) => left - right), `${name}: files are packed in rating order`);
          assert.ok(ratings.some((rating) => rating > 0) && ratings.includes(0));
          assert.ok(parts.length >= 3, `${name}: rating and size made several parts`);
        }
        const deltaBackup = await readBackup(setup, ratingDelta);
        // UpdatesCount is pg_stat_all_tables' inserts + updates + deletes for the relation (no writes since the push).
        assert.equal(deltaBackup.files.files.get(accountsFile)?.updatesCount, accountsUpdates);
        assert.ok(accountsUpdates > 200_000, `pgbench's accounts were written to (${accountsUpdates})`);
        assert.ok([...deltaBackup.files.files.values()].some((file) => file.isIncremented));
        assert.ok([...deltaBackup.files.files.values()].some((file) => file.isSkipped));
        assert.equal(await restoredState(setup, ratingDelta, COMPOSER_STATE_QUERY), ratingState, 'the rating delta restores');

        // --- database: a full backup, writes, a delta -----------------------------------------------------------
        await pgbenchWrites(setup);
        const databaseFull = pushedBackupName(await runWalgOk(setup, ['backup-push', cluster.dataDir, '--full', '-b']));
        await pgbenchWrites(setup);
        const databaseDelta = pushedBackupName(await runWalgOk(setup, ['backup-push', cluster.dataDir, '--database-composer']));
        assert.match(databaseDelta, new RegExp(`_D_${databaseFull.slice(5)}$`));
        const databaseState = await cluster.query(COMPOSER_STATE_QUERY);
        for (const name of [databaseFull, databaseDelta]) {
          const backup = await readBackup(setup, name);
          checkTarFileSets(backup);
          const parts = dataParts(backup);
          assert.ok(parts[0][1].length > 0 && parts[0][1].every((member) => !isRegularFile(member)), `${name}: the first part holds the headers only`);
          const databasesSeen = new Set<string>();
          for (const [object, members] of parts.slice(1)) {
            const groups = new Set(members.map((member) => (member.fields.name.startsWith('/base/') ? dirname(member.fields.name) : '')));
            assert.ok(groups.size <= 1, `${name}/${object} mixes database directories: ${[...groups].join(' ')}`);
            for (const group of groups) databasesSeen.add(group);
          }
          if (name === databaseFull) assert.ok([...databasesSeen].filter((group) => group !== '').length >= 3, `${name}: ${[...databasesSeen].join(' ')}`);
        }
        assert.equal(await restoredState(setup, databaseDelta, COMPOSER_STATE_QUERY), databaseState, 'the database delta restores');

        // --- copy: two full backups, the second copying the first one's unchanged parts -------------------------
        const firstCopyRun = await runWalgOk(setup, ['backup-push', cluster.dataDir, '--copy-composer']);
        assert.match(firstCopyRun.stderr, /Doing full backup\./);
        const firstCopy = pushedBackupName(firstCopyRun);
        assert.doesNotMatch(firstCopy, /_D_/);
        await pgbenchWrites(setup);
        const secondCopyRun = await runWalgOk(setup, ['backup-push', cluster.dataDir, '-c']);
        const secondCopy = pushedBackupName(secondCopyRun);
        const copyState = await cluster.query(COMPOSER_STATE_QUERY);
        for (const [name, source] of [
          [firstCopy, databaseFull],
          [secondCopy, firstCopy],
        ]) {
          const backup = await readBackup(setup, name);
          const previous = await readBackup(setup, source);
          checkTarFileSets(backup);
          const copies = [...backup.objects.keys()].filter((object) => /^copy_\d+\.tar\.lz4$/.test(object));
          assert.ok(copies.length > 0, `${name} copied parts of ${source}: ${[...backup.objects.keys()].join(' ')}`);
          const previousBytes = new Map(
            [...previous.objects.keys()].map((object) => [readFileSync(join(backupsFolder(setup), source, 'tar_partitions', object)).toString('base64'), object]),
          );
          for (const copy of copies) {
            // A copy is one of the source's objects byte for byte, and none of its members changed since.
            const bytes = readFileSync(join(backupsFolder(setup), name, 'tar_partitions', copy)).toString('base64');
            const original = previousBytes.get(bytes);
            assert.ok(original !== undefined, `${name}/${copy} is an object of ${source}`);
            assert.deepEqual(backup.files.tarFileSets.get(copy), previous.files.tarFileSets.get(original), `${copy} lists ${original}'s members`);
            for (const member of backup.objects.get(copy)!) {
              assert.equal(backup.files.files.get(member.fields.name)?.modificationTime, previous.files.files.get(member.fields.name)?.modificationTime, member.fields.name);
            }
          }
          const run = name === firstCopy ? firstCopyRun : secondCopyRun;
          assert.equal(run.stderr.match(/Copying \S+ \.\.\./g)?.length, copies.length);
          // Copied parts are not counted: UncompressedSize is the members of the parts packed by this backup.
          const packedSizes = [...backup.objects]
            .filter(([object]) => !copies.includes(object))
            .reduce((sum, [, members]) => sum + members.reduce((partSum, member) => partSum + member.fields.size, 0), 0);
          assert.equal(backup.sentinel.uncompressedSize, packedSizes);
          assert.equal(backup.sentinel.deltaFrom, undefined);
          assert.ok([...backup.files.files.values()].every((file) => !file.isSkipped && !file.isIncremented));
        }
        assert.equal(await restoredState(setup, secondCopy, COMPOSER_STATE_QUERY), copyState, 'the copy backup restores');
      } finally {
        await setup.cluster.cleanup();
      }
    });
  }

  test('the composer flags: copy > database > rating, and none of them with --without-files-metadata', { skip: MAJORS.length === 0 }, async () => {
    const setup = await startBackupCluster(MAJORS[0], SETTINGS);
    try {
      const { cluster } = setup;
      for (const [args, env] of [
        [['-r'], {}],
        [['-b'], {}],
        [['-c'], {}],
        [[], { WALG_USE_COPY_COMPOSER: 'true' }],
        [[], { WALG_USE_RATING_COMPOSER: 'true' }],
      ] as const) {
        const refused = await runWalgAs(setup, ['backup-push', cluster.dataDir, '--without-files-metadata', ...args], env);
        assert.equal(refused.exitCode, 1, `${args.join(' ')} ${JSON.stringify(env)}`);
        assert.match(refused.stderr, /without-files-metadata option cannot be used with non-regular tar ball composer/);
      }
      const refusedByEnv = await runWalgAs(setup, ['backup-push', cluster.dataDir, '-b'], { WALG_WITHOUT_FILES_METADATA: 'true' });
      assert.match(refusedByEnv.stderr, /without-files-metadata option cannot be used with non-regular tar ball composer/);

      // Rating alone (from the environment) reads the statistics.
      const rating = await runWalgOk(setup, ['backup-push', cluster.dataDir], { WALG_USE_RATING_COMPOSER: 'true' });
      assert.match(rating.stderr, /Querying pg_stat_all_tables/);
      // Rating and database: database — no statistics, a headers-only first part.
      const database = await runWalgOk(setup, ['backup-push', cluster.dataDir, '--full', '-r', '-b']);
      assert.doesNotMatch(database.stderr, /Querying pg_stat_all_tables/);
      const databaseBackup = await readBackup(setup, pushedBackupName(database));
      assert.ok(dataParts(databaseBackup)[0][1].every((member) => !isRegularFile(member)));
      // Database, rating and copy (from the environment): copy — a full backup copying parts.
      const copy = await runWalgOk(setup, ['backup-push', cluster.dataDir, '-b', '-r'], { WALG_USE_COPY_COMPOSER: 'true' });
      assert.match(copy.stderr, /Doing full backup\./);
      assert.match(copy.stderr, /Copying part_\d+\.tar\.lz4 \.\.\./);
      assert.doesNotMatch(copy.stderr, /Querying pg_stat_all_tables/);
      assert.doesNotMatch(pushedBackupName(copy), /_D_/);
    } finally {
      await setup.cluster.cleanup();
    }
  });
});
