// wal-show on every compat fixture prints what WAL-G v3.0.8 printed for it (table and --detailed-json), apart from
// the sentinel times.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runWalg } from '../helpers/walg.ts';
import { makeTempDir } from '../helpers/tmp.ts';

const FIXTURES = join(import.meta.dirname, '../../compat-fixtures');

/**
 * A copy of a fixture's storage as it was when WAL-G printed expected/: sentinels and metadata.json copied, WAL
 * objects as empty files (only their names matter to wal-show and wal-verify), minus segments archived after
 * WAL-G ran (pg13 and pg15-zstd hold one more segment than their expected output shows).
 */
function fixtureStorageAsWalgSawIt(set: string): string {
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

/** Sentinel modification times (`"time"`) are the only machine-specific values in these outputs. */
function withoutTimes(json: string): string {
  return json.replace(/"time":"[^"]*"/g, '"time":"<time>"');
}

for (const set of readdirSync(FIXTURES).filter((name) => name.startsWith('pg'))) {
  test(`wal-show prints WAL-G table and detailed JSON for ${set}`, async () => {
    const storage = fixtureStorageAsWalgSawIt(set);
    const env = { PATH: process.env.PATH, HOME: storage, WALG_FILE_PREFIX: storage };
    const table = await runWalg(['wal-show'], { env });
    assert.equal(table.code, 0, table.stderr);
    assert.equal(table.stdout, readFileSync(join(FIXTURES, set, 'expected/wal-show.txt'), 'utf8'));
    const json = await runWalg(['wal-show', '--detailed-json'], { env });
    assert.equal(json.code, 0, json.stderr);
    assert.equal(withoutTimes(json.stdout), withoutTimes(readFileSync(join(FIXTURES, set, 'expected/wal-show.json'), 'utf8')));
    const bare = await runWalg(['wal-show', '--without-backups'], { env });
    assert.doesNotMatch(bare.stdout, /BACKUPS COUNT/);
  });
}
