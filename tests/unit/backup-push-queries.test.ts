// What backup-push says to PostgreSQL: the start/stop SQL per version, the start label, and BASE_BACKUP in both
// wire forms.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { baseBackupCommand } from '../../src/backup-push/base-backup-protocol.ts';
import { backupLabel, goDurationText, hasTablespaceMap, startBackupQuery, statementTimeoutStatement, stopBackupQuery } from '../../src/backup-push/postgres-queries.ts';

test('the start query uses pg_backup_start from 15, pg_start_backup before, non-exclusive with a fast checkpoint', () => {
  assert.equal(
    startBackupQuery(150004),
    "SELECT case when pg_is_in_recovery() then '' else (pg_walfile_name_offset(lsn)).file_name end, lsn::text, pg_is_in_recovery() FROM pg_backup_start($1, true) lsn",
  );
  for (const version of [130000, 140010]) {
    assert.match(startBackupQuery(version), /pg_walfile_name_offset\(lsn\).* FROM pg_start_backup\(\$1, true, false\) lsn$/);
  }
  assert.match(startBackupQuery(90624), /pg_xlogfile_name_offset\(lsn\).* FROM pg_start_backup\(\$1, true, false\) lsn$/);
  assert.match(startBackupQuery(90500), /FROM pg_start_backup\(\$1, true\) lsn$/);
  assert.throws(() => startBackupQuery(80400), /Could not determine backup query for version 80400/);
  assert.throws(() => startBackupQuery(0), /Postgres version not set/);
});

test('the stop query returns the label, the tablespace map and the LSN', () => {
  assert.equal(stopBackupQuery(170000), 'SELECT labelfile, spcmapfile, lsn FROM pg_backup_stop(false)');
  assert.equal(stopBackupQuery(140000), 'SELECT labelfile, spcmapfile, lsn FROM pg_stop_backup(false)');
  assert.match(stopBackupQuery(90500), /FROM pg_stop_backup\(\) lsn$/);
  assert.equal(statementTimeoutStatement(0), 'SET statement_timeout=0;');
  assert.equal(statementTimeoutStatement(90000), 'SET statement_timeout=90000;');
  assert.equal(hasTablespaceMap(90600), true);
  assert.equal(hasTablespaceMap(90500), false);
});

test('the label is Go\'s Time.String of now rounded up to microseconds, monotonic reading included', () => {
  const previous = process.env.TZ;
  process.env.TZ = 'UTC';
  try {
    assert.equal(backupLabel(1_741_083_072_123_456_001n, 0.031234567), '2025-03-04 10:11:12.123457 +0000 UTC m=+0.031234567');
    assert.equal(backupLabel(1_741_083_072_000_000_000n, 1.5), '2025-03-04 10:11:12 +0000 UTC m=+1.500000000');
  } finally {
    if (previous === undefined) delete process.env.TZ;
    else process.env.TZ = previous;
  }
  assert.equal(goDurationText(60_000), '1m0s');
});

test('BASE_BACKUP uses the old syntax before 15 and the option list from 15 on', () => {
  const options = { label: "wal'g", fastCheckpoint: true, tablespaceMap: true, noVerifyChecksums: true, maxRateKb: 64 };
  assert.equal(baseBackupCommand(14, options), "BASE_BACKUP LABEL 'wal''g' FAST MAX_RATE 64 TABLESPACE_MAP NOVERIFY_CHECKSUMS");
  assert.equal(
    baseBackupCommand(17, options),
    "BASE_BACKUP (LABEL 'wal''g', CHECKPOINT 'fast', MAX_RATE 64, TABLESPACE_MAP true, VERIFY_CHECKSUMS false, MANIFEST 'no')",
  );
  // Rates under 32 kB/s are not sent; servers before 11 always verify checksums.
  assert.equal(baseBackupCommand(10, { ...options, maxRateKb: 31 }), "BASE_BACKUP LABEL 'wal''g' FAST TABLESPACE_MAP");
  assert.equal(baseBackupCommand(15, { ...options, noVerifyChecksums: false, maxRateKb: undefined }), "BASE_BACKUP (LABEL 'wal''g', CHECKPOINT 'fast', TABLESPACE_MAP true, MANIFEST 'no')");
});
