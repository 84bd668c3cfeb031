// backup-push of a local PGDATA on real PostgreSQL: a full backup and a chain of three deltas with a tablespace,
// restored with our backup-fetch and replayed (recovery_target = immediate) to the source's state, with every stored
// document and tar member in WAL-G's form (field order as in the WAL-G fixtures, leading-slash member names,
// pg_control.tar and backup_label.tar, sizes that add up).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseFilesMetadata } from '../../src/backup/files-metadata.ts';
import { parseIncrementHeader, INCREMENT_HEADER_SIZE } from '../../src/backup/increment.ts';
import { parseSentinel } from '../../src/backup/sentinel.ts';
import { availablePostgresVersions } from '../helpers/postgres.ts';
import {
  backupsFolder,
  changeData,
  keysOf,
  pushedBackupName,
  readJson,
  readStoredTar,
  restoredState,
  runWalgAs,
  runWalgOk,
  startBackupCluster,
  STATE_QUERY,
  tarObjects,
  type BackupCluster,
} from './backup-push-helpers.ts';

const FIXTURES = join(import.meta.dirname, '../../compat-fixtures');
const installed = new Set(availablePostgresVersions());
const pgpSettings = (JSON.parse(readFileSync(join(FIXTURES, 'pg14-brotli-pgp-remote/manifest.json'), 'utf8')) as { settings: Record<string, string> }).settings;
const LIBSODIUM = { WALG_LIBSODIUM_KEY: 'walnut-test-key-0123456789abcdef', WALG_LIBSODIUM_KEY_TRANSFORM: 'none' };
/**
 * Every major with a chain of deltas, and among them every codec and both crypters: PostgreSQL 15 (Debian) with lz4
 * and 3 deltas; the embedded majors with zstd + libsodium, brotli + OpenPGP (the fixture's key), lzma, and none.
 */
const CASES = [
  { major: 15, deltas: 3, settings: {} as Record<string, string> },
  { major: 17, deltas: 2, settings: { WALG_COMPRESSION_METHOD: 'zstd', ...LIBSODIUM } as Record<string, string> },
  { major: 13, deltas: 2, settings: { WALG_COMPRESSION_METHOD: 'brotli', WALG_PGP_KEY: pgpSettings.WALG_PGP_KEY, WALG_PGP_KEY_PASSPHRASE: pgpSettings.WALG_PGP_KEY_PASSPHRASE } },
  { major: 14, deltas: 2, settings: { WALG_COMPRESSION_METHOD: 'lzma' } as Record<string, string> },
  { major: 16, deltas: 2, settings: { WALG_COMPRESSION_METHOD: 'none', ...LIBSODIUM } as Record<string, string> },
  { major: 18, deltas: 2, settings: { WALG_COMPRESSION_METHOD: 'lz4' } as Record<string, string> },
].filter((entry) => installed.has(entry.major));

/** The object extension WAL-G gives each method (`none` keeps the trailing dot: `part_001.tar.`). */
const EXTENSIONS: Record<string, string> = { lz4: 'lz4', zstd: 'zst', brotli: 'br', lzma: 'lzma', none: '' };

function fixtureKeys(relative: string): string[] {
  return keysOf(join(FIXTURES, relative));
}

/** Checks one stored backup against WAL-G's layout; returns its files_metadata.json. */
async function checkStoredBackup(setup: BackupCluster, name: string, options: { delta: boolean }) {
  const folder = backupsFolder(setup);
  const extension = EXTENSIONS[setup.settings.WALG_COMPRESSION_METHOD ?? 'lz4'];
  const objects = tarObjects(setup, name);
  assert.ok(objects.includes(`pg_control.tar.${extension}`), `${name}: ${objects.join(' ')}`);
  assert.ok(objects.includes(`backup_label.tar.${extension}`));
  assert.ok(objects.every((object) => new RegExp(`^(part_\\d{3,}|pg_control|backup_label)\\.tar\\.${extension}$`).test(object)), objects.join(' '));

  const sentinelPath = join(folder, `${name}_backup_stop_sentinel.json`);
  const sentinel = parseSentinel(readFileSync(sentinelPath, 'utf8'));
  const files = parseFilesMetadata(readFileSync(join(folder, name, 'files_metadata.json'), 'utf8'));

  // Every member of every tar, with sizes: UncompressedSize is their sum, CompressedSize what is stored.
  let memberSizes = 0;
  let storedSize = 0;
  const memberNames = new Map<string, string[]>();
  for (const object of objects) {
    const tar = await readStoredTar(join(folder, name, 'tar_partitions', object), setup.settings);
    assert.ok(tar.endBlocks, `${object} ends with the two zero blocks`);
    memberSizes += tar.members.reduce((sum, member) => sum + member.fields.size, 0);
    storedSize += tar.rawLength;
    memberNames.set(object, tar.members.map((member) => member.fields.name));
    for (const member of tar.members) {
      if (files.files.get(member.fields.name)?.isIncremented) {
        const header = parseIncrementHeader(member.body, 8192);
        assert.equal(member.body.length, INCREMENT_HEADER_SIZE + header.blockCount * (4 + 8192), `${member.fields.name} is a whole wi1 increment`);
      }
    }
  }
  assert.equal(sentinel.uncompressedSize, memberSizes);
  assert.equal(sentinel.compressedSize, storedSize);
  assert.deepEqual(memberNames.get(`pg_control.tar.${extension}`), ['/global/pg_control']);
  assert.deepEqual(memberNames.get(`backup_label.tar.${extension}`), ['backup_label', 'tablespace_map']);
  for (const [object, names] of memberNames) {
    if (!object.startsWith('part_')) continue;
    assert.ok(names.every((member) => member.startsWith('/')), `${object}: every data member has a leading slash`);
    // TarFileSets lists exactly the members of each part.
    assert.deepEqual([...(files.tarFileSets.get(object) ?? [])].sort(), [...names].sort(), `TarFileSets of ${object}`);
  }
  assert.deepEqual(files.tarFileSets.get(`backup_label.tar.${extension}`), ['tablespace_map', 'backup_label']);
  if (!options.delta) assert.deepEqual(memberNames.get('part_001.tar.' + extension)?.[0], '/');
  assert.ok([...files.files.keys()].some((member) => /^\/pg_tblspc\/\d+\/PG_\d+_\d+\/\d+\/\d+$/.test(member)), 'tablespace files are members');
  assert.ok(files.files.has('/pg_wal') && !files.files.has('/postmaster.pid') && !files.files.has('/global/pg_control'));
  assert.ok(files.databasesByNames.has('postgres'));

  // Field order and presence as WAL-G writes them (the fixtures: a tablespace full backup and a delta).
  const expectedKeys = options.delta
    ? fixtureKeys('pg15-lz4-delta/storage/basebackups_005/base_000000010000000000000004_D_000000010000000000000002_backup_stop_sentinel.json')
    : fixtureKeys('pg16-lzma-tablespace/storage/basebackups_005/base_000000010000000000000002_backup_stop_sentinel.json');
  const withSpec = options.delta ? [...expectedKeys.slice(0, expectedKeys.indexOf('DataCatalogSize') + 1), 'Spec', ...expectedKeys.slice(expectedKeys.indexOf('DataCatalogSize') + 1)] : expectedKeys;
  assert.deepEqual(keysOf(sentinelPath).filter((key) => key !== 'UserData'), withSpec);
  assert.deepEqual(keysOf(join(folder, name, 'metadata.json')).filter((key) => key !== 'user_data'), fixtureKeys('pg15-lz4-delta/storage/basebackups_005/base_000000010000000000000002/metadata.json'));
  const someFile = readJson(join(folder, name, 'files_metadata.json')).Files as Record<string, Record<string, unknown>>;
  assert.deepEqual(Object.keys(Object.values(someFile)[0]), ['IsIncremented', 'IsSkipped', 'MTime', 'UpdatesCount']);
  assert.equal(sentinel.spec?.names.length, 1);
  assert.equal(sentinel.spec?.locations.get(sentinel.spec.names[0])?.location, setup.tablespaceDirectory);
  assert.equal(sentinel.systemIdentifier, BigInt(await setup.cluster.query('select system_identifier from pg_control_system()')));
  return { sentinel, files };
}

describe('backup-push of a local data directory', { concurrency: 1 }, () => {
  for (const { major, deltas: deltaCount, settings } of CASES) {
    test(`PostgreSQL ${major}: a full backup and ${deltaCount} deltas restore to the source state, stored as WAL-G stores them`, async () => {
      const setup = await startBackupCluster(major, { WALG_DELTA_MAX_STEPS: '5', WALG_TAR_SIZE_THRESHOLD: '2097152', ...settings });
      try {
        const { cluster } = setup;
        // Refusals first: nothing may be stored by them.
        const wrongDirectory = await runWalgAs(setup, ['backup-push', '/tmp']);
        assert.equal(wrongDirectory.exitCode, 1);
        assert.match(wrongDirectory.stderr, /Data directory from command line '\/tmp' is not the same as Postgres' one/);
        const conflicting = await runWalgAs(setup, ['backup-push', cluster.dataDir, '--without-files-metadata', '--delta-from-name', 'base_x']);
        assert.match(conflicting.stderr, /without-files-metadata option cannot be used with delta-from-name, delta-from-user-data options/);
        assert.equal(existsSync(backupsFolder(setup)), false);

        const full = await runWalgOk(setup, ['backup-push', cluster.dataDir, '--add-user-data', '{"kind":"nightly","n":1}']);
        assert.match(full.stderr, /Couldn't find previous backup\. Doing full backup\./);
        assert.match(full.stderr, /Starting part 2 \.\.\./, 'the 2 MiB threshold made more than one part');
        const names = [pushedBackupName(full)];
        for (let round = 1; round <= deltaCount; round++) {
          await changeData(cluster, round);
          const pushed = await runWalgOk(setup, ['backup-push', cluster.dataDir, ...(round === deltaCount ? ['--permanent'] : [])]);
          assert.match(pushed.stderr, new RegExp(`Delta backup from ${names[round - 1]} with LSN`));
          names.push(pushedBackupName(pushed));
        }
        const expectedState = await cluster.query(STATE_QUERY);

        const checked = [];
        for (const [index, name] of names.entries()) checked.push(await checkStoredBackup(setup, name, { delta: index > 0 }));
        const [fullBackup, ...deltas] = checked;
        assert.equal(fullBackup.sentinel.deltaFrom, undefined);
        assert.deepEqual(readJson(join(backupsFolder(setup), `${names[0]}_backup_stop_sentinel.json`)).UserData, { kind: 'nightly', n: 1 });
        for (const [index, delta] of deltas.entries()) {
          assert.match(names[index + 1], new RegExp(`^base_[0-9A-F]{24}_D_${names[index].slice(5, 29)}$`));
          assert.equal(delta.sentinel.deltaFrom, names[index]);
          assert.equal(delta.sentinel.deltaFullName, names[0]);
          assert.equal(delta.sentinel.deltaCount, index + 1);
          assert.equal(delta.sentinel.deltaLsn, checked[index].sentinel.startLsn);
          const descriptions = [...delta.files.files.values()];
          assert.ok(descriptions.some((description) => description.isSkipped), 'unchanged files are skipped');
          assert.ok(descriptions.some((description) => description.isIncremented), 'changed relations are increments');
        }
        // The permanent delta made its whole chain permanent in metadata.json; sentinels keep their push-time flag.
        for (const name of names) assert.equal(readJson(join(backupsFolder(setup), name, 'metadata.json')).is_permanent, true, name);
        assert.equal(deltas[deltas.length - 1].sentinel.isPermanent, true);
        assert.equal(fullBackup.sentinel.isPermanent, false);

        assert.equal(await restoredState(setup, names[names.length - 1]), expectedState, 'the delta chain restores to the source state');

        // Without files metadata: always a full backup, no files_metadata.json, the sentinel says so.
        const bare = await runWalgOk(setup, ['backup-push', cluster.dataDir, '--without-files-metadata'], { WALG_ALIVE_CHECK_INTERVAL: '200ms' });
        assert.match(bare.stderr, /Files metadata tracking is disabled/);
        assert.match(bare.stderr, /Doing full backup\./);
        assert.match(bare.stderr, /Initializing the PG alive checker \(interval=200ms\)\.\.\./);
        const bareName = pushedBackupName(bare);
        assert.doesNotMatch(bareName, /_D_/);
        assert.equal(readJson(join(backupsFolder(setup), `${bareName}_backup_stop_sentinel.json`)).FilesMetadataDisabled, true);
        assert.equal(existsSync(join(backupsFolder(setup), bareName, 'files_metadata.json')), false);
        assert.equal(existsSync(join(backupsFolder(setup), bareName, 'metadata.json')), true);
      } finally {
        await setup.cluster.cleanup();
      }
    });
  }
});
