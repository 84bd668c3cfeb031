// Which files and tars a backup-fetch takes from each backup: --mask (Go's filepath.Match), the parent's share of a
// delta, --restore-only, --skip-redundant-tars and the order of the label and pg_control tars.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BackupFileDescription, DatabaseObjects, FilesMetadata, TableInfo } from '../../src/backup/files-metadata.ts';
import {
  applyRestoreDescription,
  baseFilesToUnwrap,
  classifyTars,
  filesToUnwrap,
  goPathMatch,
  relationOfPath,
  restoreDescription,
  tarHasWantedFiles,
} from '../../src/backup/restore-plan.ts';

function description(flags: Partial<BackupFileDescription> = {}): BackupFileDescription {
  return { isIncremented: false, isSkipped: false, modificationTime: '2025-01-01T00:00:00Z', updatesCount: 0, ...flags };
}

function metadataOf(files: Record<string, Partial<BackupFileDescription>>, tarFileSets: Record<string, string[]> = {}): FilesMetadata {
  return {
    files: new Map(Object.entries(files).map(([name, flags]) => [name, description(flags)])),
    tarFileSets: new Map(Object.entries(tarFileSets)),
    databasesByNames: new Map(),
  };
}

test('--mask patterns match like Go filepath.Match', () => {
  assert.equal(goPathMatch('/base/*', '/base/1'), true);
  assert.equal(goPathMatch('/base/*', '/base/1/2'), false);
  assert.equal(goPathMatch('/base/*/*', '/base/1/2'), true);
  assert.equal(goPathMatch('/global/pg_?ontrol', '/global/pg_control'), true);
  assert.equal(goPathMatch('/base/[0-9]', '/base/5'), true);
  assert.equal(goPathMatch('/base/[^0-9]', '/base/5'), false);
  assert.equal(goPathMatch('/a\\*b', '/a*b'), true);
  assert.equal(goPathMatch('/a\\*b', '/axb'), false);
  assert.equal(goPathMatch('*', ''), true);
  assert.throws(() => goPathMatch('/base/[', '/base/1'), /syntax error in pattern/);
  assert.throws(() => goPathMatch('/x/[a-]', '/y'), /syntax error in pattern/);
});

test('files to unwrap are the metadata files plus pg_control and the label files, narrowed by the mask', () => {
  const metadata = metadataOf({ '/': {}, '/base/1/1259': {}, '/global/1262': {} });
  assert.deepEqual([...filesToUnwrap(metadata, '')!].sort(), ['/', '/base/1/1259', '/global/1262', '/global/pg_control', 'backup_label', 'tablespace_map']);
  assert.deepEqual([...filesToUnwrap(metadata, 'global/*')!].sort(), ['/global/1262', '/global/pg_control']);
  assert.equal(filesToUnwrap(metadataOf({}), 'base/*'), undefined);
});

test('a delta hands its parent only the files it skipped or incremented; deleted files are left out', () => {
  const delta = metadataOf({ '/base/1/a': { isSkipped: true }, '/base/1/b': { isIncremented: true }, '/base/1/c': {} });
  const wanted = new Set(['/base/1/a', '/base/1/b', '/base/1/c', '/global/pg_control', 'backup_label']);
  assert.deepEqual([...baseFilesToUnwrap(delta.files, wanted)!].sort(), ['/base/1/a', '/base/1/b']);
  assert.equal(baseFilesToUnwrap(delta.files, undefined), undefined);
  assert.throws(() => baseFilesToUnwrap(delta.files, new Set(['/base/1/unknown'])), /Wanted to fetch increment for file: '\/base\/1\/unknown'/);
});

test('label and pg_control tars go last, also when compression is none (a trailing dot)', () => {
  const tars = classifyTars(['backup_label.tar.', 'part_001.tar.', 'part_002.tar.lz4', 'pg_control.tar.', 'copy_0.tar.zst']);
  assert.deepEqual(tars, { data: ['part_001.tar.', 'part_002.tar.lz4', 'copy_0.tar.zst'], backupLabel: ['backup_label.tar.'], pgControl: ['pg_control.tar.'] });
  assert.deepEqual(classifyTars(['pg_control.tar', 'pg_control.tar.lz4']).pgControl, ['pg_control.tar', 'pg_control.tar.lz4']);
});

test('--skip-redundant-tars skips a tar holding no wanted file, unless the metadata has no tar sets', () => {
  const metadata = metadataOf({ '/a': {}, '/b': {} }, { 'part_001.tar.lz4': ['/a'], 'part_002.tar.lz4': ['/b'] });
  assert.equal(tarHasWantedFiles('part_001.tar.lz4', metadata, new Set(['/a'])), true);
  assert.equal(tarHasWantedFiles('part_002.tar.lz4', metadata, new Set(['/a'])), false);
  assert.equal(tarHasWantedFiles('part_002.tar.lz4', metadataOf({ '/a': {} }), new Set(['/a'])), true);
});

function table(oid: number, relfilenode = oid, subTables: Array<[string, TableInfo]> = []): TableInfo {
  return { oid, relfilenode, subTables: new Map(subTables) };
}

test('--restore-only keeps system databases and tables, the named database, and named tables with their sub-tables', () => {
  const databases = new Map<string, DatabaseObjects>([
    ['postgres', { oid: 5, tables: new Map([['pg_catalog.pg_class', table(1259)]]) }],
    ['shop', { oid: 16384, tables: new Map([['pg_catalog.pg_class', table(1259)], ['public.orders', table(16400, 16401, [['public.orders_1', table(16410)]])], ['public.users', table(16500)]]) }],
    ['logs', { oid: 16390, tables: new Map([['pg_catalog.pg_class', table(1259)], ['public.events', table(16600)]]) }],
  ]);
  const description = restoreDescription(['shop/orders'], databases);
  assert.deepEqual([...description.get(16384)!].sort(), [1259, 16401, 16410]);
  assert.deepEqual([...description.get(16390)!], [1259]);
  const selection = new Set([
    '/base/5/1259',
    '/base/16384/1259',
    '/base/16384/16401',
    '/base/16384/16401_fsm',
    '/base/16384/16410.1',
    '/base/16384/16500',
    '/base/16384/PG_VERSION',
    '/base/16390/16600',
    '/base/16390',
    '/global/1262',
  ]);
  applyRestoreDescription(selection, description);
  assert.deepEqual([...selection].sort(), [
    '/base/16384/1259',
    '/base/16384/16401',
    '/base/16384/16401_fsm',
    '/base/16384/16410.1',
    '/base/16384/PG_VERSION',
    '/base/16390',
    '/base/5/1259',
    '/global/1262',
  ]);
  assert.deepEqual([...restoreDescription(['log*'], databases).get(16390)!].sort(), [1259, 16600]);
  assert.throws(() => restoreDescription(['a/b/c/d'], databases), /Unexpected format of database or table to restore: 'a\/b\/c\/d'/);
});

test('relation paths give the database and relfilenode, for base and tablespaces', () => {
  assert.deepEqual(relationOfPath('/base/16384/16401.2'), { database: 16384, relation: 16401 });
  assert.deepEqual(relationOfPath('/pg_tblspc/16385/PG_16_202307071/16384/16401_vm'), { database: 16384, relation: 16401 });
  assert.equal(relationOfPath('/global/1262'), undefined);
});
