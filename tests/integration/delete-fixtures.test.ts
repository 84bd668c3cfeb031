// delete and backup-mark through the binary on copies of WAL-G-written storages: each mode and modifier, dry runs
// deleting nothing, the permanent backup of pg15-lz4-delta surviving `delete everything` unless FORCE.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { makeTempDir, removeTempDir } from '../helpers/tmp.ts';
import { runWalg } from '../helpers/walg.ts';

const FIXTURES = join(import.meta.dirname, '../../compat-fixtures');

function allKeys(root: string, folder = root): string[] {
  if (!existsSync(folder)) return [];
  const keys: string[] = [];
  for (const entry of readdirSync(folder)) {
    const path = join(folder, entry);
    if (statSync(path).isDirectory()) keys.push(...allKeys(root, path));
    else keys.push(relative(root, path));
  }
  return keys.sort();
}

/** A private copy of a fixture's storage, removed after the test. */
function copyOf(set: string, t: { after(fn: () => void): void }): string {
  const directory = makeTempDir({ prefix: `walnut-delete-${set}-` });
  t.after(() => removeTempDir(directory));
  const storage = join(directory, 'storage');
  cpSync(join(FIXTURES, set, 'storage'), storage, { recursive: true });
  return storage;
}

async function walg(storage: string, args: readonly string[]) {
  return runWalg(args, { env: { PATH: process.env.PATH, HOME: storage, WALG_FILE_PREFIX: storage } });
}

function deletedKeys(stderr: string): string[] {
  return [...stderr.matchAll(/\twill be deleted: (\S+), from storage: default\n/g)].map((match) => match[1]).sort();
}

const PERMANENT = 'base_000000010000000000000002';
const DELTA_4 = 'base_000000010000000000000004_D_000000010000000000000002';
const DELTA_6 = 'base_000000010000000000000006_D_000000010000000000000004';

test('delete everything refuses while a permanent backup exists, FORCE without --confirm is a dry run, with --confirm it empties the storage', async (t) => {
  const storage = copyOf('pg15-lz4-delta', t);
  const before = allKeys(storage);
  const refused = await walg(storage, ['delete', 'everything', '--confirm']);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /INFO: \S+ \S+ Backup to delete will be searched in storages: \[default\]\nINFO: \S+ \S+ retrieving permanent objects\n/);
  assert.match(refused.stderr, /Found permanent objects: backups=map\[\{base_000000010000000000000002 default\}:true\], wals=map\[\{000000010000000000000002 default\}:true\]/);
  assert.match(refused.stderr, /ERROR: \S+ \S+ Found permanent backups=\[base_000000010000000000000002\]\n$/);
  assert.deepEqual(allKeys(storage), before);

  const dryRun = await walg(storage, ['delete', 'everything', 'FORCE']);
  assert.equal(dryRun.code, 0, dryRun.stderr);
  assert.match(dryRun.stderr, /INFO: \S+ \S+ Found permanent backups=\[base_000000010000000000000002\]\n/);
  assert.deepEqual(deletedKeys(dryRun.stderr), before);
  assert.match(dryRun.stderr, /INFO: \S+ \S+ Dry run, nothing were deleted\n$/);
  assert.deepEqual(allKeys(storage), before);

  const forced = await walg(storage, ['delete', 'everything', 'FORCE', '--confirm']);
  assert.equal(forced.code, 0, forced.stderr);
  assert.deepEqual(allKeys(storage), []);
});

test('delete retain: a delta target is refused, FULL keeps the permanent backup and its WAL, --confirm deletes only older objects', async (t) => {
  const storage = copyOf('pg15-lz4-delta', t);
  const refused = await walg(storage, ['delete', 'retain', '1', '--confirm']);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, new RegExp(`ERROR: \\S+ \\S+ ${DELTA_6}_backup_stop_sentinel.json is incremental and it's predecessors cannot be deleted. Consider FIND_FULL option.\\n$`));

  const kept = await walg(storage, ['delete', 'retain', 'FULL', '1', '--confirm']);
  assert.equal(kept.code, 0, kept.stderr);
  assert.match(kept.stderr, /Start delete\nINFO: \S+ \S+ Objects in folder:\n/);
  assert.deepEqual(deletedKeys(kept.stderr), ['wal_005/000000010000000000000001.lz4']);
  assert.equal(existsSync(join(storage, 'wal_005/000000010000000000000001.lz4')), false);
  assert.ok(existsSync(join(storage, 'wal_005/000000010000000000000002.lz4')));
  assert.ok(existsSync(join(storage, `basebackups_005/${PERMANENT}_backup_stop_sentinel.json`)));
});

test('delete retain with nothing older finds no target and exits 0', async (t) => {
  const storage = copyOf('pg16-lzma-tablespace', t);
  const result = await walg(storage, ['delete', 'retain', '5']);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /INFO: \S+ \S+ No backup found for deletion\n$/);
});

test('delete before FIND_FULL walks back to the full backup; --use-sentinel-time orders by start time', async (t) => {
  const storage = copyOf('pg13-lz4-libsodium-hex', t);
  const before = allKeys(storage);
  const dryRun = await walg(storage, ['delete', 'before', 'FIND_FULL', DELTA_6, '--use-sentinel-time']);
  assert.equal(dryRun.code, 0, dryRun.stderr);
  assert.deepEqual(deletedKeys(dryRun.stderr), ['wal_005/000000010000000000000001.lz4']);
  assert.deepEqual(allKeys(storage), before);
  const byName = await walg(storage, ['delete', 'before', DELTA_4]);
  assert.equal(byName.code, 1);
  assert.match(byName.stderr, /is incremental and it's predecessors cannot be deleted/);
});

test('delete target removes a delta and the deltas after it, FIND_FULL the whole chain, never WAL', async (t) => {
  const storage = copyOf('pg15-zstd-libsodium', t);
  const walBefore = allKeys(storage).filter((key) => key.startsWith('wal_005/'));
  const target = await walg(storage, ['delete', 'target', DELTA_4, '--confirm']);
  assert.equal(target.code, 0, target.stderr);
  assert.match(target.stderr, new RegExp(`INFO: \\S+ \\S+ Selecting the backup with name ${DELTA_4}...\\n`));
  assert.ok(deletedKeys(target.stderr).every((key) => key.startsWith(DELTA_4) || key.startsWith(DELTA_6)));
  const left = allKeys(storage);
  assert.ok(left.includes(`basebackups_005/${PERMANENT}_backup_stop_sentinel.json`));
  assert.ok(!left.some((key) => key.includes(DELTA_4) || key.includes(DELTA_6)));
  assert.deepEqual(left.filter((key) => key.startsWith('wal_005/')), walBefore);

  const storage2 = copyOf('pg15-zstd-libsodium', t);
  const family = await walg(storage2, ['delete', 'target', 'FIND_FULL', DELTA_6, '--confirm']);
  assert.equal(family.code, 0, family.stderr);
  assert.deepEqual(allKeys(storage2).filter((key) => key.startsWith('basebackups_005/')), []);

  const missing = await walg(storage2, ['delete', 'target', 'base_000000010000000000000099']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /ERROR: \S+ \S+ Backup 'base_000000010000000000000099' does not exist.\n$/);
});

test('delete target refuses the permanent backup; backup-mark -i makes it deletable and rewrites only metadata.json', async (t) => {
  const storage = copyOf('pg15-lz4-delta', t);
  const refused = await walg(storage, ['delete', 'target', PERMANENT, '--confirm']);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, new RegExp(`ERROR: \\S+ \\S+ Unable to delete permanent backup ${PERMANENT}_backup_stop_sentinel.json\\n$`));

  const sentinelBefore = readFileSync(join(storage, `basebackups_005/${PERMANENT}_backup_stop_sentinel.json`));
  const metadataBefore = readFileSync(join(storage, `basebackups_005/${PERMANENT}/metadata.json`), 'utf8');
  const marked = await walg(storage, ['backup-mark', '-i', PERMANENT]);
  assert.equal(marked.code, 0, marked.stderr);
  assert.match(marked.stderr, /Retrieving previous related backups to be marked: toPermanent=false\n.*retrieving permanent objects\n.*Retrieved backups to be marked, marking: \[base_000000010000000000000002\]\n$/s);
  assert.equal(readFileSync(join(storage, `basebackups_005/${PERMANENT}/metadata.json`), 'utf8'), metadataBefore.replace('"is_permanent":true', '"is_permanent":false'));
  assert.deepEqual(readFileSync(join(storage, `basebackups_005/${PERMANENT}_backup_stop_sentinel.json`)), sentinelBefore);

  const again = await walg(storage, ['backup-mark', '-i', PERMANENT]);
  assert.equal(again.code, 0);
  assert.match(again.stderr, /WARNING: \S+ \S+ Backup base_000000010000000000000002 is already marked as impermanent, ignoring...\n/);

  const chain = await walg(storage, ['backup-mark', DELTA_6]);
  assert.equal(chain.code, 0, chain.stderr);
  assert.match(chain.stderr, new RegExp(`marking: \\[${PERMANENT} ${DELTA_4} ${DELTA_6}\\]\\n$`));
  const blocked = await walg(storage, ['backup-mark', '-i', DELTA_4]);
  assert.equal(blocked.code, 1);
  assert.match(blocked.stderr, new RegExp(`Failed to get previous backups: Can't mark backup '${DELTA_4}' as impermanent. There is permanent increment backup that depends on this backup.\\n$`));
});

test('delete garbage: a delta as oldest non-permanent backup is refused; ARCHIVES deletes only old WAL', async (t) => {
  const storage = copyOf('pg15-lz4-delta', t);
  const refused = await walg(storage, ['delete', 'garbage']);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /Running in default mode. Will remove outdated WAL files and leftover backup files.\n/);
  assert.match(refused.stderr, /Backup base_000000010000000000000002 is permanent, it is not eligible to be selected as the oldest backup\n/);

  const single = copyOf('pg16-lzma-tablespace', t);
  const archives = await walg(single, ['delete', 'garbage', 'ARCHIVES', '--confirm']);
  assert.equal(archives.code, 0, archives.stderr);
  assert.match(archives.stderr, /Archive-only mode selected. Will remove only outdated WAL files.\n/);
  assert.deepEqual(deletedKeys(archives.stderr), ['wal_005/000000010000000000000001.lzma']);
  assert.equal(existsSync(join(single, 'wal_005/000000010000000000000001.lzma')), false);
});
