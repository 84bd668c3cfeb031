// The data directory walk as WAL-G does it: Go's lexical order, the excluded names, pg_control held back,
// tablespaces walked through pg_tblspc and renamed, the catalog size, and the delta decisions.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { goTimeFromNanoseconds, type GoTime } from '../../src/backup/go-time.ts';
import { DataDirectoryWalker, type WalkedEntry, type WalkSink } from '../../src/backup-push/pgdata-walk.ts';
import { makeTempDir } from '../helpers/tmp.ts';

const PAGE = 8192;

function makeDataDirectory(): { root: string; data: string; tablespace: string } {
  const root = makeTempDir();
  const data = join(root, 'data');
  const tablespace = join(root, 'ts');
  const files: Record<string, string | Buffer> = {
    'PG_VERSION': '15\n',
    'base/1/16384': Buffer.alloc(2 * PAGE),
    'base/1/16384_fsm': Buffer.alloc(PAGE),
    'base/1/16385.1': Buffer.alloc(PAGE),
    'base/1/PG_VERSION': '15\n',
    'global/pg_control': Buffer.alloc(PAGE),
    'global/1262': Buffer.alloc(PAGE),
    'pg_wal/000000010000000000000001': 'wal',
    'pg_xact/0000': Buffer.alloc(PAGE),
    'log/postgresql.log': 'log',
    'postmaster.pid': '1',
    'postmaster.opts': 'x',
    'pg_stat_tmp/global.stat': 'x',
    'backup_label': 'stale',
    'Zeta': 'capital letters sort first',
  };
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(data, path, '..'), { recursive: true });
    writeFileSync(join(data, path), content);
  }
  mkdirSync(join(data, 'pg_tblspc'));
  mkdirSync(join(tablespace, 'PG_15_202209061', '5'), { recursive: true });
  writeFileSync(join(tablespace, 'PG_15_202209061', '5', '16500'), Buffer.alloc(PAGE));
  symlinkSync(tablespace, join(data, 'pg_tblspc', '16400'));
  symlinkSync('/etc/hostname', join(data, 'somelink'));
  return { root, data, tablespace };
}

class RecordingSink implements WalkSink {
  readonly events: string[] = [];
  readonly entries = new Map<string, WalkedEntry>();
  async addHeader(entry: WalkedEntry): Promise<void> {
    this.events.push(`header ${entry.memberName}`);
    this.entries.set(entry.memberName, entry);
  }
  async addFile(entry: WalkedEntry, incremented: boolean): Promise<void> {
    this.events.push(`${incremented ? 'increment' : 'file'} ${entry.memberName}`);
    this.entries.set(entry.memberName, entry);
  }
  async skipFile(entry: WalkedEntry): Promise<void> {
    this.events.push(`skip ${entry.memberName}`);
  }
}

test('the walk visits in Go order, keeps excluded directories as headers only and holds pg_control back', async () => {
  const { data, tablespace } = makeDataDirectory();
  const sink = new RecordingSink();
  const result = await new DataDirectoryWalker({ dataDirectory: data, sink, pageSize: PAGE }).walk();
  assert.deepEqual(sink.events, [
    'header /',
    'file /PG_VERSION',
    'file /Zeta',
    'file /backup_label',
    'header /base',
    'header /base/1',
    'file /base/1/16384',
    'file /base/1/16384_fsm',
    'file /base/1/16385.1',
    'file /base/1/PG_VERSION',
    'header /global',
    'file /global/1262',
    'header /log',
    'header /pg_stat_tmp',
    // The tablespace is walked when pg_tblspc is reached, before pg_tblspc's own header; its root and the link are
    // not members.
    'header /pg_tblspc/16400/PG_15_202209061',
    'header /pg_tblspc/16400/PG_15_202209061/5',
    'file /pg_tblspc/16400/PG_15_202209061/5/16500',
    'header /pg_tblspc',
    'header /pg_wal',
    'header /pg_xact',
    'file /pg_xact/0000',
    'header /somelink',
  ]);
  assert.equal(result.pgControl?.memberName, '/global/pg_control');
  assert.equal(sink.entries.get('/somelink')?.stats.isSymbolicLink(), true);
  assert.equal(sink.entries.get('/pg_tblspc/16400/PG_15_202209061/5/16500')?.realPath, join(tablespace, 'PG_15_202209061', '5', '16500'));
  assert.deepEqual(result.tablespaceSpec.names, ['16400']);
  assert.deepEqual(result.tablespaceSpec.locations.get('16400'), { location: tablespace, link: 'pg_tblspc/16400' });
  assert.equal(result.tablespaceSpec.basePrefix, data);
  // Directories, excluded files and the link itself count; the excluded directories' contents do not.
  assert.ok(result.dataCatalogSize > 6 * PAGE);
});

test('a symlinked pg_wal is not a directory to WAL-G: it is left out entirely', async () => {
  const { root, data } = makeDataDirectory();
  mkdirSync(join(root, 'elsewhere'));
  const walLink = join(data, 'pg_wal');
  rmSync(walLink, { recursive: true });
  symlinkSync(join(root, 'elsewhere'), walLink);
  const sink = new RecordingSink();
  await new DataDirectoryWalker({ dataDirectory: data, sink, pageSize: PAGE }).walk();
  assert.ok(!sink.events.some((event) => event.includes('/pg_wal')));
});

function recordedTime(path: string): GoTime {
  return goTimeFromNanoseconds(lstatSync(path, { bigint: true }).mtimeNs, 'local');
}

test('a delta skips files whose mtime the parent recorded, increments paged files it had, and sends the rest whole', async () => {
  const { data } = makeDataDirectory();
  utimesSync(join(data, 'base/1/16384'), new Date(1_700_000_000_000), new Date(1_700_000_000_000));
  const modificationTimes = new Map<string, GoTime>([
    ['/PG_VERSION', recordedTime(join(data, 'PG_VERSION'))],
    ['/base/1/16384', { seconds: 1_600_000_000, nanoseconds: 0, offsetSeconds: 0 }],
    ['/base/1/16384_fsm', { seconds: 1_600_000_000, nanoseconds: 0, offsetSeconds: 0 }],
    ['/base/1/16385.1', { seconds: 1_600_000_000, nanoseconds: 1, offsetSeconds: 0 }],
    ['/global/1262', { seconds: 1_600_000_000, nanoseconds: 0, offsetSeconds: 0 }],
    ['/pg_xact/0000', { seconds: 1_600_000_000, nanoseconds: 0, offsetSeconds: 0 }],
  ]);
  const sink = new RecordingSink();
  await new DataDirectoryWalker({ dataDirectory: data, sink, pageSize: PAGE, deltaBase: { startLsn: 0x1000n, modificationTimes } }).walk();
  const decision = (member: string): string | undefined => sink.events.find((event) => event.endsWith(` ${member}`))?.split(' ')[0];
  assert.equal(decision('/PG_VERSION'), 'skip');
  assert.equal(decision('/base/1/16384'), 'increment');
  assert.equal(decision('/base/1/16385.1'), 'increment');
  // Forks other than the main one, and transaction status, are always whole.
  assert.equal(decision('/base/1/16384_fsm'), 'file');
  assert.equal(decision('/pg_xact/0000'), 'file');
  // The paged-file test looks at the whole path: "base" is not in .../global/1262 unless PGDATA's path holds it.
  assert.equal(decision('/global/1262'), data.includes('base') ? 'increment' : 'file');
  // A file the parent did not have is whole.
  assert.equal(decision('/pg_tblspc/16400/PG_15_202209061/5/16500'), 'file');
});
