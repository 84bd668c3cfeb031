// `wal-g copy` between two file storages, on a storage WAL-G v3.0.8 wrote (compat-fixtures/pg15-lz4-delta): everything
// byte for byte, or one backup with the WAL from its start to its end (or on, with --with-history).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { runWalg, type WalgResult } from '../helpers/walg.ts';
import { makeTempDir, removeTempDir } from '../helpers/tmp.ts';

const FIXTURE = join(import.meta.dirname, '../../compat-fixtures/pg15-lz4-delta/storage');
const FULL = 'base_000000010000000000000002';
const DELTA = 'base_000000010000000000000004_D_000000010000000000000002';

interface Box {
  readonly root: string;
  readonly source: string;
  readonly target: string;
  readonly fromConfig: string;
  readonly toConfig: string;
}

function copyBox(t: { after(fn: () => void): void }): Box {
  const root = makeTempDir({ prefix: 'walnut-copy-' });
  t.after(() => removeTempDir(root));
  const source = join(root, 'source');
  const target = join(root, 'target');
  cpSync(FIXTURE, source, { recursive: true });
  mkdirSync(target);
  const fromConfig = join(root, 'from.yaml');
  const toConfig = join(root, 'to.yaml');
  writeFileSync(fromConfig, `WALG_FILE_PREFIX: ${source}\n`);
  writeFileSync(toConfig, `WALG_FILE_PREFIX: ${target}\n`);
  return { root, source, target, fromConfig, toConfig };
}

function walg(box: Box, args: string[]): Promise<WalgResult> {
  return runWalg(args, { env: { PATH: process.env.PATH, HOME: box.root }, cwd: box.root });
}

/** Every file under dir, as relative paths, sorted. */
function files(dir: string): string[] {
  const out: string[] = [];
  const walk = (path: string): void => {
    for (const entry of readdirSync(path)) {
      const full = join(path, entry);
      if (statSync(full).isDirectory()) walk(full);
      else out.push(relative(dir, full));
    }
  };
  walk(dir);
  return out.sort();
}

test('copy without --backup-name copies every object byte for byte and ends with "Success copy."', async (t) => {
  const box = copyBox(t);
  const result = await walg(box, ['copy', '--from', box.fromConfig, '--to', box.toConfig]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /INFO: .* Copy all backups and history\.\n/);
  assert.match(result.stderr, /INFO: .* Success copy\.\n$/);
  assert.deepEqual(files(box.target), files(box.source));
  for (const path of files(box.source)) {
    assert.ok(readFileSync(join(box.target, path)).equals(readFileSync(join(box.source, path))), path);
  }
  // The copy is a storage WAL-G's tools read: backup-list finds the three backups there.
  const listed = await runWalg(['backup-list'], { env: { PATH: process.env.PATH, HOME: box.root, WALG_FILE_PREFIX: box.target } });
  assert.equal(listed.code, 0, listed.stderr);
  assert.equal(listed.stdout.trim().split('\n').length, 4);
});

test('copy --backup-name takes that backup and the WAL from its start to its end; --with-history every later WAL too', async (t) => {
  const box = copyBox(t);
  const result = await walg(box, ['copy', '--from', box.fromConfig, '--to', box.toConfig, '--backup-name', FULL]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, new RegExp(`Handle backupname '${FULL}'\\.`));
  const copied = files(box.target);
  const backupFiles = files(box.source).filter((path) => path.startsWith(`basebackups_005/${FULL}`));
  assert.ok(backupFiles.length > 2);
  assert.deepEqual(copied, [
    ...backupFiles,
    'wal_005/000000010000000000000002.00000028.backup.lz4',
    'wal_005/000000010000000000000002.lz4',
  ].sort());
  assert.ok(!copied.some((path) => path.includes(DELTA)));

  const boxHistory = copyBox(t);
  const withHistory = await walg(boxHistory, ['copy', '-f', boxHistory.fromConfig, '-t', boxHistory.toConfig, '-b', FULL, '-w']);
  assert.equal(withHistory.code, 0, withHistory.stderr);
  const wal = files(boxHistory.target).filter((path) => path.startsWith('wal_005/'));
  assert.deepEqual(
    wal,
    files(boxHistory.source).filter((path) => path.startsWith('wal_005/') && path.slice(8, 32) >= '000000010000000000000002'),
  );
  assert.ok(!wal.includes('wal_005/000000010000000000000001.lz4'));
});

test('copy of a missing backup or from an unusable config file fails with exit 1 and copies nothing', async (t) => {
  const box = copyBox(t);
  const missing = await walg(box, ['copy', '--from', box.fromConfig, '--to', box.toConfig, '--backup-name', 'base_0000000100000000000000FF']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /base_0000000100000000000000FF/);
  assert.deepEqual(files(box.target), []);

  const badConfig = await walg(box, ['copy', '--from', join(box.root, 'nowhere.yaml'), '--to', box.toConfig]);
  assert.equal(badConfig.code, 1);
  assert.match(badConfig.stderr, /Failed configure folder according to config .*nowhere\.yaml/);
  assert.deepEqual(files(box.target), []);
});
