// backup-fetch's command-line contract: selector errors with the usage on stdout, missing backups, a non-empty
// destination, WAL-G's log lines, and a hostile backup that cannot write outside the destination.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tarStream from 'tar-stream';
import { makeTempDir, removeTempDir } from '../helpers/tmp.ts';
import { runWalg } from '../helpers/walg.ts';

const FIXTURES = join(import.meta.dirname, '../../compat-fixtures');
const DELTA_SET = join(FIXTURES, 'pg15-lz4-delta/storage');

function workspace(t: { after(fn: () => void): void }): string {
  const directory = makeTempDir({ prefix: 'walnut-fetch-cli-' });
  t.after(() => removeTempDir(directory));
  return directory;
}

async function fetch(storage: string, args: readonly string[], home: string) {
  return runWalg(['backup-fetch', ...args], { env: { PATH: process.env.PATH, HOME: home, WALG_FILE_PREFIX: storage, WALG_TAR_DISABLE_FSYNC: 'true' } });
}

test('backup-fetch without a backup name or user data prints the usage, then "insufficient arguments"', async (t) => {
  const home = workspace(t);
  const result = await fetch(DELTA_SET, [join(home, 'data')], home);
  assert.equal(result.code, 1);
  assert.match(result.stdout, /^Usage:\n *wal-g backup-fetch destination_directory \[backup_name \| --target-user-data <data>\] \[flags\]\n/);
  assert.match(result.stderr, /ERROR: \S+ \S+ insufficient arguments\n$/);
  const both = await fetch(DELTA_SET, [join(home, 'data'), 'LATEST', '--target-user-data', '{"a":1}'], home);
  assert.equal(both.code, 1);
  assert.match(both.stderr, /ERROR: \S+ \S+ incorrect arguments. Specify target backup name OR target userdata, not both\n$/);
});

test('backup-fetch of a missing backup, LATEST of an empty storage and unknown user data fail with WAL-G messages', async (t) => {
  const home = workspace(t);
  const missing = await fetch(DELTA_SET, [join(home, 'data'), 'base_000000010000000000000077'], home);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /INFO: \S+ \S+ Selecting the backup with name base_000000010000000000000077...\nINFO: \S+ \S+ Backup to fetch will be searched in storages: \[default\]\n/);
  assert.match(missing.stderr, /ERROR: \S+ \S+ Failed to select backup: Backup 'base_000000010000000000000077' does not exist.\n$/);
  const empty = join(home, 'empty-storage');
  mkdirSync(empty);
  const latest = await fetch(empty, [join(home, 'data'), 'LATEST'], home);
  assert.match(latest.stderr, /INFO: \S+ \S+ Selecting the latest backup...\n[^]*ERROR: \S+ \S+ Failed to select backup: No backups found\n$/);
  const userData = await fetch(DELTA_SET, [join(home, 'data'), '--target-user-data', '{"nobody":"has this"}'], home);
  assert.match(userData.stderr, /Selecting the backup with the specified user data...\n[^]*ERROR: \S+ \S+ Failed to select backup: No backups found\n$/);
  assert.equal(existsSync(join(home, 'data')), false);
});

test('backup-fetch into a non-empty directory lists what it found and refuses', async (t) => {
  const home = workspace(t);
  const target = join(home, 'data');
  mkdirSync(join(target, 'sub'), { recursive: true });
  writeFileSync(join(target, 'sub', 'stray'), 'x');
  const result = await fetch(DELTA_SET, [target, 'base_000000010000000000000002'], home);
  assert.equal(result.code, 1);
  assert.match(result.stderr, new RegExp(`INFO: \\S+ \\S+ found file '${target}/sub' in directory: '${target}'\\nINFO: \\S+ \\S+ found file '${target}/sub/stray' in directory: '${target}'\\n`));
  assert.match(result.stderr, new RegExp(`ERROR: \\S+ \\S+ Failed to fetch backup: Directory ${target} for delta base must be empty\\n$`));
  assert.deepEqual(readdirSync(target), ['sub']);
});

test('backup-fetch LATEST of a delta chain logs each step like WAL-G and ends with the extraction line', async (t) => {
  const home = workspace(t);
  const target = join(home, 'data');
  const result = await fetch(DELTA_SET, [target, 'LATEST'], home);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, '');
  const steps = result.stderr
    .split('\n')
    .filter((line) => /LATEST backup is|Delta from|fetched. Upgrading|Backup extraction complete|^Backup extraction/.test(line))
    .map((line) => line.replace(/^INFO: \S+ \S+ /, ''));
  assert.deepEqual(steps, [
    "LATEST backup is: 'base_000000010000000000000006_D_000000010000000000000004'",
    'Delta from base_000000010000000000000004_D_000000010000000000000002 at LSN 0/4000028 ',
    'Delta from base_000000010000000000000002 at LSN 0/2000028 ',
    'Backup extraction complete.',
    'base_000000010000000000000002 fetched. Upgrading from LSN 0/2000028 to LSN 0/4000028 ',
    'Backup extraction complete.',
    'base_000000010000000000000004_D_000000010000000000000002 fetched. Upgrading from LSN 0/4000028 to LSN 0/6000028 ',
    'Backup extraction complete.',
  ]);
  const finished = [...result.stderr.matchAll(/Finished extraction of (\S+)\n/g)].map((match) => match[1]);
  // Every backup of the chain: data parts first, then the label, pg_control last.
  assert.deepEqual(finished, Array(3).fill(['part_001.tar.lz4', 'backup_label.tar.lz4', 'pg_control.tar.lz4']).flat());
  assert.match(readFileSync(join(target, 'backup_label'), 'utf8'), /START WAL LOCATION: 0\/6000028 \(file 000000010000000000000006\)/);
  const reverse = await fetch(DELTA_SET, [join(home, 'reverse'), 'LATEST', '--reverse-unpack', '--skip-redundant-tars'], home);
  assert.equal(reverse.code, 0, reverse.stderr);
  assert.match(reverse.stderr, /Delta base_000000010000000000000006_D_000000010000000000000004 at LSN 0\/6000028 \n/);
  assert.match(reverse.stderr, /0\/2000028 reached. Applying base backup... \n/);
  assert.deepEqual(readFileSync(join(home, 'reverse', 'global/pg_control')), readFileSync(join(target, 'global/pg_control')));
  assert.deepEqual(readFileSync(join(home, 'reverse', 'base/5/1259')), readFileSync(join(target, 'base/5/1259')));
});

async function hostileTar(): Promise<Buffer> {
  const pack = tarStream.pack();
  pack.entry({ name: '/', type: 'directory', mode: 0o700 });
  pack.entry({ name: '/PG_VERSION', mode: 0o600 }, '15\n');
  pack.entry({ name: '/../../escaped', mode: 0o600 }, 'evil');
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

test('a backup whose tar climbs out of the destination fails at once and writes nothing outside', async (t) => {
  const home = workspace(t);
  const storage = join(home, 'storage');
  const name = 'base_000000010000000000000002';
  const parts = join(storage, 'basebackups_005', name, 'tar_partitions');
  mkdirSync(parts, { recursive: true });
  // Stored with compression `none`: parts named with a trailing dot, as WAL-G names them.
  writeFileSync(join(parts, 'part_001.tar.'), await hostileTar());
  writeFileSync(join(parts, 'pg_control.tar.'), await hostileTar());
  writeFileSync(join(storage, 'basebackups_005', name, 'files_metadata.json'), '{}');
  writeFileSync(join(storage, 'basebackups_005', `${name}_backup_stop_sentinel.json`), '{"LSN":33554472,"PgVersion":150000,"FinishLSN":33554688,"UncompressedSize":0,"CompressedSize":0,"ChkpNum":null,"Version":2}');
  const target = join(home, 'deep', 'data');
  const result = await fetch(storage, [target, name], home);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /ERROR: \S+ \S+ Failed to fetch backup: Extraction error in part_001.tar.: tar member '\/..\/..\/escaped' has a '..' path component; refusing to extract it outside the restore directory\n$/);
  assert.doesNotMatch(result.stderr, /Going to sleep and retry/);
  assert.equal(existsSync(join(home, 'escaped')), false);
  assert.equal(existsSync(join(home, 'deep', 'escaped')), false);
});
