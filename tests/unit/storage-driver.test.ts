// The storage-blind layer: Folder keys and paths, key order, and the in-memory driver against the shared suite.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Folder, compareKeys, folderPath, joinPath } from '../../src/storage/driver.ts';
import { MemoryStorageDriver } from '../../src/storage/memory.ts';
import { goQuote, parseGoBool } from '../../src/storage/go-text.ts';
import { bodyOf, listedKeys, storageConformance } from '../helpers/storage-conformance.ts';

storageConformance('memory', async () => new Folder(new MemoryStorageDriver()));

describe('storage paths', () => {
  test('joinPath trims slashes around each part and skips empty parts, like WAL-G JoinPath', () => {
    assert.equal(joinPath('/a', 'b', 'c'), 'a/b/c');
    assert.equal(joinPath('a/', '/b/'), 'a/b');
    assert.equal(joinPath('', 'x'), 'x');
    assert.equal(joinPath('a//b', 'c'), 'a//b/c');
    assert.equal(joinPath('/', ''), '');
  });

  test('folderPath is empty for the root and ends with one slash otherwise', () => {
    assert.equal(folderPath(''), '');
    assert.equal(folderPath('/'), '');
    assert.equal(folderPath('//'), '');
    assert.equal(folderPath('wal_005'), 'wal_005/');
    assert.equal(folderPath('/basebackups_005//'), 'basebackups_005/');
  });

  test('compareKeys orders by code point, as S3 orders UTF-8 bytes', () => {
    assert.ok(compareKeys('a.txt', 'a/b') < 0);
    assert.ok(compareKeys('a', 'a0') < 0);
    assert.ok(compareKeys('B', 'a') < 0);
    assert.equal(compareKeys('same', 'same'), 0);
    // U+FF21 (one UTF-16 unit 0xFF21) must sort before U+1F600 (surrogates 0xD83D 0xDE00).
    assert.ok(compareKeys('\uFF21', '\u{1F600}') < 0);
    assert.ok(compareKeys('\u{1F600}', '\uFF21') > 0);
    assert.ok('\u{1F600}' < '\uFF21', 'plain string order disagrees, which is why compareKeys exists');
  });
});

describe('Folder', () => {
  test('sends the driver keys under its path and hands back keys relative to itself', async () => {
    const driver = new MemoryStorageDriver();
    const root = new Folder(driver);
    const wal = root.subFolder('wal_005');
    await wal.put('000000010000000000000001.lz4', bodyOf('w'));
    assert.deepEqual([...driver.objects.keys()], ['wal_005/000000010000000000000001.lz4']);
    assert.equal(wal.driverKey('x'), 'wal_005/x');
    assert.deepEqual(await listedKeys(wal), ['000000010000000000000001.lz4']);
    assert.deepEqual(await listedKeys(root), ['wal_005/']);
    assert.equal((await wal.stat('000000010000000000000001.lz4'))?.key, '000000010000000000000001.lz4');
  });

  test('nested sub-folders join their paths', () => {
    const root = new Folder(new MemoryStorageDriver(), '/prefix/');
    assert.equal(root.path, 'prefix/');
    assert.equal(root.subFolder('basebackups_005').subFolder('/base_1/').path, 'prefix/basebackups_005/base_1/');
    assert.equal(root.subFolder('').path, 'prefix/');
    assert.equal(root.subFolder('/').path, 'prefix/');
  });

  test('deleteMany with no keys does not call the driver', async () => {
    const driver = new MemoryStorageDriver();
    let calls = 0;
    driver.deleteMany = async () => {
      calls++;
    };
    await new Folder(driver).deleteMany([]);
    assert.equal(calls, 0);
  });

  test('close closes the shared driver', async () => {
    const driver = new MemoryStorageDriver();
    let closed = 0;
    driver.close = async () => {
      closed++;
    };
    await new Folder(driver).subFolder('x').close();
    assert.equal(closed, 1);
  });
});

describe('Go text', () => {
  test('goQuote renders strings as Go %q does', () => {
    assert.equal(goQuote('s3://bucket/path'), '"s3://bucket/path"');
    assert.equal(goQuote('a"b\\c'), '"a\\"b\\\\c"');
    assert.equal(goQuote('tab\there\nnew'), '"tab\\there\\nnew"');
    assert.equal(goQuote('\x01\x7f'), '"\\x01\\x7f"');
    assert.equal(goQuote('żółw é'), '"żółw é"');
    assert.equal(goQuote('\u00ad'), '"\\u00ad"');
    assert.equal(goQuote(''), '""');
  });

  test('parseGoBool accepts exactly strconv.ParseBool spellings', () => {
    for (const text of ['1', 't', 'T', 'TRUE', 'true', 'True']) assert.equal(parseGoBool(text), true, text);
    for (const text of ['0', 'f', 'F', 'FALSE', 'false', 'False']) assert.equal(parseGoBool(text), false, text);
    for (const text of ['yes', 'on', 'tRUE', '', ' true']) assert.equal(parseGoBool(text), undefined, text);
  });
});
