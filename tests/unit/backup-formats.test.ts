// The backup documents against WAL-G's own output: every fixture's sentinel, metadata.json and files_metadata.json
// read and written back byte for byte, 64-bit numbers exact, Go's escaping and time formats.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeFilesMetadata, parseFilesMetadata } from '../../src/backup/files-metadata.ts';
import {
  formatListTime,
  formatPrettyListTime,
  formatRfc3339,
  formatRfc3339Nano,
  formatRfc850,
  parseGoTime,
  ZERO_GO_TIME,
} from '../../src/backup/go-time.ts';
import { encodeAsGoInterface, goJsonString, goJsonV2String, indentJson, JsonFormatError, parseJson } from '../../src/backup/json.ts';
import { encodeMetadata, parseMetadata } from '../../src/backup/metadata.ts';
import {
  backupNameFor,
  backupNameFromObjectKey,
  backupNameFromSentinelKey,
  deduceBackupName,
  requiresPgControl,
  timelineAndSegmentOf,
  walFileNameOf,
} from '../../src/backup/names.ts';
import { asSentinelV2, encodeSentinelV1, encodeSentinelV2, isIncrementalSentinel, parseSentinel } from '../../src/backup/sentinel.ts';
import { encodeTablespaceSpec, parseTablespaceSpec, tablespaceSpecOf } from '../../src/backup/tablespace-spec.ts';

const FIXTURES = join(import.meta.dirname, '../../compat-fixtures');
const SEGMENT = 16 * 1024 * 1024;

interface FixtureBackup {
  readonly set: string;
  readonly name: string;
  readonly folder: string;
}

function fixtureBackups(): FixtureBackup[] {
  const backups: FixtureBackup[] = [];
  for (const set of readdirSync(FIXTURES)) {
    const folder = join(FIXTURES, set, 'storage', 'basebackups_005');
    let entries: string[];
    try {
      entries = readdirSync(folder);
    } catch {
      continue;
    }
    for (const entry of entries) {
      if (entry.endsWith('_backup_stop_sentinel.json')) backups.push({ set, name: entry.slice(0, -'_backup_stop_sentinel.json'.length), folder });
    }
  }
  return backups;
}

const backups = fixtureBackups();

test('the fixtures hold backups to check against', () => {
  assert.ok(backups.length >= 12, `found ${backups.length} fixture backups`);
});

for (const backup of backups) {
  test(`${backup.set} ${backup.name}: the sentinel is written back byte for byte`, () => {
    const text = readFileSync(join(backup.folder, `${backup.name}_backup_stop_sentinel.json`), 'utf8');
    const sentinel = parseSentinel(text);
    assert.equal(sentinel.version, 2);
    assert.equal(encodeSentinelV2(asSentinelV2(sentinel)), text);
  });

  test(`${backup.set} ${backup.name}: metadata.json is written back byte for byte`, () => {
    const text = readFileSync(join(backup.folder, backup.name, 'metadata.json'), 'utf8');
    assert.equal(encodeMetadata(parseMetadata(text)), text);
  });

  test(`${backup.set} ${backup.name}: files_metadata.json is written back byte for byte`, () => {
    const text = readFileSync(join(backup.folder, backup.name, 'files_metadata.json'), 'utf8');
    const metadata = parseFilesMetadata(text);
    assert.ok(metadata.files.size > 100);
    assert.equal(encodeFilesMetadata(metadata), text);
  });
}

test('system identifiers and LSNs keep all 64 bits', () => {
  const text = '{"LSN":18446744073709551615,"PgVersion":150004,"FinishLSN":9007199254740993,"SystemIdentifier":7711495078079548915,"UncompressedSize":1,"CompressedSize":2,"ChkpNum":null}';
  const sentinel = parseSentinel(text);
  assert.equal(sentinel.startLsn, 18446744073709551615n);
  assert.equal(sentinel.finishLsn, 9007199254740993n);
  assert.equal(sentinel.systemIdentifier, 7711495078079548915n);
  assert.equal(encodeSentinelV1(sentinel), text);
});

test('a delta sentinel reports its parent, and one missing DeltaLSN is inconsistent', () => {
  const delta = parseSentinel('{"LSN":67108904,"DeltaLSN":33554472,"DeltaFrom":"base_000000010000000000000002","DeltaFullName":"base_000000010000000000000002","DeltaCount":1,"PgVersion":150018,"FinishLSN":67109120,"UncompressedSize":0,"CompressedSize":0,"ChkpNum":null}');
  assert.equal(isIncrementalSentinel(delta), true);
  assert.equal(delta.deltaLsn, 33554472n);
  const broken = parseSentinel('{"LSN":1,"DeltaFrom":"base_x","PgVersion":1,"FinishLSN":2,"UncompressedSize":0,"CompressedSize":0}');
  assert.throws(() => isIncrementalSentinel(broken), /Inconsistent BackupSentinelDto/);
});

test('old sentinels are read: DeltaFromLSN, lower-case spec and files kept inside the sentinel', () => {
  const sentinel = parseSentinel(
    '{"LSN":50,"DeltaFromLSN":40,"DeltaFrom":"base_a","DeltaFullName":"base_a","DeltaCount":1,"PgVersion":90600,"FinishLSN":60,' +
      '"spec":{"base_prefix":"/data/","tablespaces":["16384"],"16384":{"loc":"/ts","link":"pg_tblspc/16384"}},' +
      '"Files":{"/base/1/1":{"IsIncremented":true,"IsSkipped":false,"MTime":"2020-01-01T00:00:00Z","UpdatesCount":0}},"TarFileSets":{"part_1.tar.lz4":["/base/1/1"]}}',
  );
  assert.equal(sentinel.deltaLsn, 40n);
  assert.equal(sentinel.spec?.basePrefix, '/data');
  assert.equal(sentinel.spec?.locations.get('16384')?.location, '/ts');
  assert.equal(sentinel.legacyFilesMetadata?.files.get('/base/1/1')?.isIncremented, true);
  assert.deepEqual(sentinel.legacyFilesMetadata?.tarFileSets.get('part_1.tar.lz4'), ['/base/1/1']);
  assert.equal(sentinel.version, undefined);
});

test('a WAL-E sentinel without LSN is read', () => {
  const sentinel = parseSentinel('{"spec":{"base_prefix":"/var/lib/pg","tablespaces":[]},"user_data":null}');
  assert.equal(sentinel.startLsn, undefined);
  assert.equal(sentinel.spec?.names.length, 0);
});

test('the tablespace spec is written with keys sorted like a Go map', () => {
  const spec = tablespaceSpecOf('/srv/pg/', [{ name: '16384', location: '/srv/ts1/' }, { name: '100', location: '/srv/ts0' }]);
  assert.equal(
    encodeTablespaceSpec(spec),
    '{"100":{"loc":"/srv/ts0","link":"pg_tblspc/100"},"16384":{"loc":"/srv/ts1","link":"pg_tblspc/16384"},"base_prefix":"/srv/pg","tablespaces":["16384","100"]}',
  );
  assert.deepEqual(parseTablespaceSpec(encodeTablespaceSpec(spec)).names, ['16384', '100']);
});

test('a restore spec without base_prefix or with a missing entry is refused with WAL-G words', () => {
  assert.throws(() => parseTablespaceSpec('{"tablespaces":[]}'), /base prefix not set while working with tablespaces/);
  assert.throws(() => parseTablespaceSpec('{"base_prefix":"/x","tablespaces":["1"]}'), /Couldn't find entry for symlink 1/);
});

test('user data is written back the way Go re-encodes interface{}: keys sorted, numbers as float64', () => {
  const metadata = parseMetadata(
    '{"start_time":"2025-01-01T00:00:00Z","finish_time":"2025-01-01T00:00:01Z","date_fmt":"%Y","hostname":"h","data_dir":"/d","pg_version":1,"start_lsn":1,"finish_lsn":2,"is_permanent":false,"system_identifier":null,"uncompressed_size":3,"compressed_size":4,"user_data":{"z":1.50,"a":[1e3,"<b>"]}}',
  );
  assert.equal(metadata.systemIdentifier, undefined);
  assert.equal(
    encodeMetadata(metadata),
    '{"start_time":"2025-01-01T00:00:00Z","finish_time":"2025-01-01T00:00:01Z","date_fmt":"%Y","hostname":"h","data_dir":"/d","pg_version":1,"start_lsn":1,"finish_lsn":2,"is_permanent":false,"system_identifier":null,"uncompressed_size":3,"compressed_size":4,"user_data":{"a":[1000,"\\u003cb\\u003e"],"z":1.5}}',
  );
  assert.equal(encodeAsGoInterface(parseJson('[1e21,1e-7,123456789012345678]')), '[1e+21,1e-7,123456789012345680]');
});

test('strings are escaped like encoding/json v1, and without HTML escaping like v2', () => {
  assert.equal(goJsonString('a<b>&"\\\n\t\u0001\u2028\b\f'), '"a\\u003cb\\u003e\\u0026\\"\\\\\\n\\t\\u0001\\u2028\\b\\f"');
  assert.equal(goJsonV2String('a<b>&\u2028'), '"a<b>&\u2028"');
  assert.equal(goJsonString('\ud800x'), '"\\ufffdx"');
});

test('malformed JSON fails with Go-like messages', () => {
  assert.throws(() => parseJson('{"a":}'), (error: unknown) => error instanceof JsonFormatError && /invalid character '}' looking for beginning of value/.test(error.message));
  assert.throws(() => parseJson('{"a":1'), /unexpected end of JSON input/);
  assert.throws(() => parseSentinel('{"LSN":-1}'), /cannot unmarshal number -1 into Go struct field BackupSentinelDto.LSN of type uint64/);
});

test('json.Indent layout with four spaces', () => {
  assert.equal(indentJson('[{"a":1,"b":[],"c":{}}]', '    '), '[\n    {\n        "a": 1,\n        "b": [],\n        "c": {}\n    }\n]');
  assert.equal(indentJson('[]', '    '), '[]');
});

test('times print as Go prints RFC 3339 (nano), RFC 850 and the zero time', () => {
  const time = parseGoTime('2026-11-23T22:19:25.705963930Z')!;
  assert.equal(formatRfc3339Nano(time), '2026-11-23T22:19:25.70596393Z');
  assert.equal(formatRfc3339(time), '2026-11-23T22:19:25Z');
  assert.equal(formatRfc850(time), 'Monday, 23-Nov-26 22:19:25 UTC');
  assert.equal(formatRfc3339Nano(parseGoTime('2025-03-04T13:11:12.5+03:00')!), '2025-03-04T13:11:12.5+03:00');
  assert.equal(formatRfc3339Nano(ZERO_GO_TIME), '0001-01-01T00:00:00Z');
  assert.equal(formatListTime(ZERO_GO_TIME), '-');
  assert.equal(formatPrettyListTime(ZERO_GO_TIME), '-');
  assert.equal(formatRfc850(parseGoTime('1999-12-31T23:59:59Z')!), 'Friday, 31-Dec-99 23:59:59 UTC');
  assert.equal(parseGoTime('2025-02-29T00:00:00Z'), undefined);
  assert.equal(parseGoTime('2024-02-29T00:00:00Z')?.seconds, 1709164800);
});

test('backup names: sentinel keys, object keys, WAL file names and the name a start LSN gives', () => {
  assert.equal(backupNameFromSentinelKey('basebackups_005/base_000000010000000000000002_backup_stop_sentinel.json'), 'base_000000010000000000000002');
  assert.equal(backupNameFromObjectKey('base_000000010000000000000004_D_000000010000000000000002/tar_partitions/part_001.tar.lz4'), 'base_000000010000000000000004_D_000000010000000000000002');
  assert.equal(walFileNameOf('base_00000001000000000000002A_D_000000010000000000000028_backup_stop_sentinel.json'), '00000001000000000000002A');
  assert.equal(walFileNameOf('odd_name'), 'ZZZZZZZZZZZZZZZZZZZZZZZZ');
  assert.equal(deduceBackupName('basebackups_005/base_000000010000000000000004_D_000000010000000000000002/metadata.json'), 'base_000000010000000000000004_D_000000010000000000000002');
  assert.equal(backupNameFor(1, 33554472n, SEGMENT), 'base_000000010000000000000002');
  assert.equal(backupNameFor(1, 67108904n, SEGMENT, 'base_000000010000000000000002'), 'base_000000010000000000000004_D_000000010000000000000002');
  assert.deepEqual(timelineAndSegmentOf('wal_005/00000002000000010000002A.lz4', SEGMENT), { timeline: 2, segment: 0x12an });
  assert.equal(timelineAndSegmentOf('wal_005/000000020000000100000200.lz4', SEGMENT), undefined);
});

test('pg_control is required for WAL-G names and deltas, not for WAL-E names', () => {
  assert.equal(requiresPgControl('base_000000010000000000000002', false), true);
  assert.equal(requiresPgControl('base_000000010000000000000002_00000028', false), false);
  assert.equal(requiresPgControl('base_000000010000000000000004_D_000000010000000000000002', true), true);
});
