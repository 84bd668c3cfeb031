// backup-list on every compat fixture prints what WAL-G v3.0.8 printed (expected/), apart from the sentinel
// modification times, which changed when the fixtures were copied; plus --pretty and the empty-storage messages.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir, removeTempDir } from '../helpers/tmp.ts';
import { runWalg } from '../helpers/walg.ts';

const FIXTURES = join(import.meta.dirname, '../../compat-fixtures');
const sets = readdirSync(FIXTURES).filter((entry) => existsSync(join(FIXTURES, entry, 'expected', 'backup-list.txt')));

const TEXT_TIME = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z/;
const JSON_TIME = /"time":"[^"]*"/g;

/** The plain table with each row's first time (the sentinel's modification time) blanked. */
function withoutModifiedTimes(table: string): string {
  return table
    .split('\n')
    .map((line, index) => (index === 0 ? line : line.replace(TEXT_TIME, 'MODIFIED-TIME-HERE--')))
    .join('\n');
}

async function list(set: string, args: readonly string[]) {
  const result = await runWalg(['backup-list', ...args], { env: { PATH: process.env.PATH, HOME: process.env.HOME, TZ: 'UTC', WALG_FILE_PREFIX: join(FIXTURES, set, 'storage') } });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /^INFO: \S+ \S+ List backups from storages: \[default\]\n$/);
  return result.stdout;
}

test('the fixtures carry WAL-G backup-list outputs to compare with', () => {
  assert.equal(sets.length, 6);
});

for (const set of sets) {
  const expected = (file: string): string => readFileSync(join(FIXTURES, set, 'expected', file), 'utf8');

  test(`${set}: backup-list and backup-list --detail print WAL-G's tables`, async () => {
    assert.equal(withoutModifiedTimes(await list(set, [])), withoutModifiedTimes(expected('backup-list.txt')));
    assert.equal(withoutModifiedTimes(await list(set, ['--detail'])), withoutModifiedTimes(expected('backup-list-detail.txt')));
  });

  test(`${set}: backup-list --json and --detail --json print WAL-G's documents`, async () => {
    assert.equal((await list(set, ['--json'])).replace(JSON_TIME, '"time":""'), expected('backup-list.json').replace(JSON_TIME, '"time":""'));
    assert.equal((await list(set, ['--detail', '--json'])).replace(JSON_TIME, '"time":""'), expected('backup-list-detail.json').replace(JSON_TIME, '"time":""'));
  });

  test(`${set}: backup-list --pretty shows the same backups in a bordered table, --json --pretty indents by four`, async () => {
    const names = expected('backup-list.txt')
      .trimEnd()
      .split('\n')
      .slice(1)
      .map((line) => line.split(' ')[0]);
    const pretty = (await list(set, ['--pretty', '--detail'])).trimEnd().split('\n');
    assert.match(pretty[0], /^\+---\+-+\+/);
    assert.match(pretty[1], /^\| # \| BACKUP NAME +\| MODIFIED +\| WAL FILE NAME +\| STORAGE NAME \| START TIME +\| FINISH TIME +\| HOSTNAME \| DATADIR +\| PG VERSION \| START LSN +\| FINISH LSN +\| PERMANENT \|$/);
    assert.deepEqual(pretty.slice(3, -1).map((line) => line.split('|')[2].trim()), names);
    assert.match(pretty[3], /\| \w+day, \d{2}-\w{3}-\d{2} \d{2}:\d{2}:\d{2} UTC \|/);
    const indented = await list(set, ['--json', '--pretty']);
    assert.ok(indented.startsWith('[\n    {\n        "backup_name": '), indented.slice(0, 60));
    assert.deepEqual(JSON.parse(indented).map((entry: { backup_name: string }) => entry.backup_name), names);
  });
}

test('an empty storage lists nothing and says "No backups found", except --json which prints []', async (t) => {
  const empty = makeTempDir({ prefix: 'walnut-list-empty-' });
  t.after(() => removeTempDir(empty));
  const env = { PATH: process.env.PATH, HOME: empty, WALG_FILE_PREFIX: empty };
  for (const args of [[], ['--detail'], ['--pretty']]) {
    const result = await runWalg(['backup-list', ...args], { env });
    assert.equal(result.code, 0);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /INFO: \S+ \S+ No backups found\n$/);
  }
  const json = await runWalg(['backup-list', '--json', '--detail'], { env });
  assert.equal(json.stdout, '[]\n');
  assert.doesNotMatch(json.stderr, /No backups found/);
});
