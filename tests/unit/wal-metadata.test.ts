// WAL metadata documents and their INDIVIDUAL and BULK uploads, byte for byte as WAL-G writes them.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Folder } from '../../src/storage/driver.ts';
import { MemoryStorageDriver } from '../../src/storage/memory.ts';
import {
  bulkGroupPrefix,
  formatRfc3339NanoUtc,
  mergedWalMetadataDocument,
  parseWalMetadataLevel,
  uploadWalMetadata,
  walMetadataDocument,
} from '../../src/wal/wal-metadata.ts';

const base = mkdtempSync(join(tmpdir(), 'walnut-wal-metadata-'));
after(() => rmSync(base, { recursive: true, force: true }));

describe('WAL metadata', () => {
  test('times print as Go RFC3339Nano in UTC, trailing fraction zeros dropped', () => {
    assert.equal(formatRfc3339NanoUtc(1706704496123456789n), '2024-01-31T12:34:56.123456789Z');
    assert.equal(formatRfc3339NanoUtc(1706704496120000000n), '2024-01-31T12:34:56.12Z');
    assert.equal(formatRfc3339NanoUtc(1706704496000000000n), '2024-01-31T12:34:56Z');
  });

  test('the document maps the WAL name to its creation time and the strftime format', () => {
    assert.equal(
      walMetadataDocument('000000010000000000000001', 1706704496500000000n),
      '{"000000010000000000000001":{"created_time":"2024-01-31T12:34:56.5Z","date_fmt":"%Y-%m-%dT%H:%M:%S.%fZ"}}',
    );
  });

  test('merged documents list names in sorted order, as Go marshals a map', () => {
    const entries = new Map<string, unknown>([
      ['00000001000000000000000F', { a: 1 }],
      ['000000010000000000000001', { a: 2 }],
    ]);
    assert.equal(mergedWalMetadataDocument(entries), '{"000000010000000000000001":{"a":2},"00000001000000000000000F":{"a":1}}');
  });

  test('only the three levels are accepted, with WAL-G error text', () => {
    assert.equal(parseWalMetadataLevel('BULK'), 'BULK');
    assert.throws(() => parseWalMetadataLevel('bulk'), {
      message: "got incorrect Wal metadata  level: 'bulk', expected one of: '[BULK INDIVIDUAL NOMETADATA]'",
    });
  });

  test('BULK closes a group on names ending in F and names it after the other 23 characters', () => {
    assert.equal(bulkGroupPrefix('00000001000000000000000F'), '00000001000000000000000');
    assert.equal(bulkGroupPrefix('00000001000000000000000E'), undefined);
  });

  test('INDIVIDUAL uploads <wal>.json uncompressed into wal_005', async () => {
    const driver = new MemoryStorageDriver();
    await uploadWalMetadata(new Folder(driver).subFolder('wal_005'), '000000010000000000000003', 1706704496000000000n, 'INDIVIDUAL');
    assert.deepEqual([...driver.objects.keys()], ['wal_005/000000010000000000000003.json']);
    assert.equal(
      driver.objects.get('wal_005/000000010000000000000003.json')!.data.toString(),
      '{"000000010000000000000003":{"created_time":"2024-01-31T12:34:56Z","date_fmt":"%Y-%m-%dT%H:%M:%S.%fZ"}}',
    );
  });

  test('BULK stages documents under pg_wal/walg_data/walg_archive_status and uploads the merged group on F', async (t) => {
    const dataDir = join(base, 'bulk');
    mkdirSync(join(dataDir, 'pg_wal'), { recursive: true });
    const previous = process.cwd();
    process.chdir(dataDir);
    t.after(() => process.chdir(previous));
    const staging = join(dataDir, 'pg_wal', 'walg_data', 'walg_archive_status');
    const driver = new MemoryStorageDriver();
    const walFolder = new Folder(driver).subFolder('wal_005');
    await uploadWalMetadata(walFolder, '00000001000000000000000E', 1000000000n, 'BULK');
    assert.deepEqual(readdirSync(staging), ['00000001000000000000000E.json']);
    assert.equal(driver.objects.size, 0);
    // A damaged staged document is skipped, not fatal.
    writeFileSync(join(staging, '00000001000000000000000D.json'), '{not json');
    await uploadWalMetadata(walFolder, '00000001000000000000000F', 2000000000n, 'BULK');
    assert.deepEqual([...driver.objects.keys()], ['wal_005/00000001000000000000000.json']);
    const merged = JSON.parse(driver.objects.get('wal_005/00000001000000000000000.json')!.data.toString());
    assert.deepEqual(Object.keys(merged), ['00000001000000000000000E', '00000001000000000000000F']);
    assert.equal(merged['00000001000000000000000F'].created_time, '1970-01-01T00:00:02Z');
    assert.deepEqual(readdirSync(staging), []);
  });
});
