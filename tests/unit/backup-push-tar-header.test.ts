// Tar headers as WAL-G (Go's archive/tar) writes them: the fixtures' own header blocks re-encoded byte for byte,
// USTAR prefix splitting, the PAX fallback, mtime rounding, and headers built from lstat.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, readFileSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { formatForTarPartition } from '../../src/compression/registry.ts';
import { SystemAccountNames, parseAccountFile } from '../../src/backup-push/account-names.ts';
import {
  encodeTarHeader,
  headerFromStats,
  labelFileHeader,
  paxRecord,
  roundedSeconds,
  splitUstarPath,
  TAR_BLOCK_SIZE,
  type AccountNames,
  type TarHeaderFields,
} from '../../src/backup-push/tar-header.ts';
import { parseTarHeader } from '../../src/backup-push/tar-stream-parser.ts';
import { makeTempDir } from '../helpers/tmp.ts';

const BACKUPS = join(import.meta.dirname, '../../compat-fixtures/pg15-lz4-delta/storage/basebackups_005');
const FIXTURE = join(BACKUPS, 'base_000000010000000000000002/tar_partitions');
/** A delta's part: small, and it holds increments as well as whole files. */
const DELTA_PART = join(BACKUPS, 'base_000000010000000000000004_D_000000010000000000000002/tar_partitions/part_001.tar.lz4');

async function decodedTar(path: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const decompressor = formatForTarPartition(path).decompressor();
  const done = new Promise<void>((resolve, reject) => {
    decompressor.on('data', (chunk: Buffer) => chunks.push(chunk));
    decompressor.on('end', resolve);
    decompressor.on('error', reject);
  });
  decompressor.end(readFileSync(path));
  await done;
  return Buffer.concat(chunks);
}

/** Every header block of a tar, in order. */
function headerBlocks(tar: Buffer, limit = Number.POSITIVE_INFINITY): Buffer[] {
  const blocks: Buffer[] = [];
  let offset = 0;
  while (offset + TAR_BLOCK_SIZE <= tar.length && blocks.length < limit) {
    const block = tar.subarray(offset, offset + TAR_BLOCK_SIZE);
    if (block.every((byte) => byte === 0)) break;
    blocks.push(block);
    const fields = parseTarHeader(block);
    const body = fields.typeflag === '0' ? fields.size : 0;
    offset += TAR_BLOCK_SIZE + Math.ceil(body / TAR_BLOCK_SIZE) * TAR_BLOCK_SIZE;
  }
  return blocks;
}

function fields(overrides: Partial<TarHeaderFields>): TarHeaderFields {
  return { name: '/x', mode: 0o600, uid: 1000, gid: 1000, size: 0, modTimeSeconds: 1_700_000_000, typeflag: '0', linkname: '', uname: 'postgres', gname: 'postgres', devmajor: 0, devminor: 0, ...overrides };
}

test('headers of a WAL-G data part, pg_control.tar and backup_label.tar re-encode to the very same bytes', async () => {
  const part = await decodedTar(DELTA_PART);
  const blocks = headerBlocks(part);
  assert.ok(blocks.length >= 20);
  for (const block of [...blocks, ...headerBlocks(await decodedTar(join(FIXTURE, 'pg_control.tar.lz4'))), ...headerBlocks(await decodedTar(join(FIXTURE, 'backup_label.tar.lz4')))]) {
    const parsed = parseTarHeader(block);
    assert.deepEqual(encodeTarHeader(parsed), block, `header of ${parsed.name}`);
  }
});

test('the backup_label member header is the one WAL-G writes: 0600, root, no names, at the epoch', async () => {
  const label = await decodedTar(join(FIXTURE, 'backup_label.tar.lz4'));
  const [labelBlock, mapBlock] = headerBlocks(label);
  assert.deepEqual(encodeTarHeader(labelFileHeader('backup_label', parseTarHeader(labelBlock).size)), labelBlock);
  assert.deepEqual(encodeTarHeader(labelFileHeader('tablespace_map', 0)), mapBlock);
});

test('a name longer than 100 bytes is split at a slash into the USTAR prefix', () => {
  const name = `/pg_tblspc/16384/${'d'.repeat(90)}/${'f'.repeat(60)}`;
  const block = encodeTarHeader(fields({ name }));
  assert.equal(block.length, TAR_BLOCK_SIZE);
  assert.equal(block.toString('latin1', 0, 60), 'f'.repeat(60));
  assert.equal(block[60], 0);
  assert.equal(block.toString('latin1', 345, 345 + name.length - 61), name.slice(0, name.length - 61));
  assert.equal(parseTarHeader(block).name, name);
  assert.deepEqual(splitUstarPath('short'), undefined);
});

test('a non-ASCII name falls back to PAX: an x header under PaxHeaders.0, then the main header', () => {
  const name = '/base/5/übertable';
  const encoded = encodeTarHeader(fields({ name }));
  assert.equal(encoded.length, 3 * TAR_BLOCK_SIZE);
  const pax = encoded.subarray(0, TAR_BLOCK_SIZE);
  assert.equal(String.fromCharCode(pax[156]), 'x');
  assert.equal(pax.toString('latin1', 0, pax.indexOf(0)), '/base/5/PaxHeaders.0/bertable');
  const record = paxRecord('path', name);
  assert.equal(encoded.toString('utf8', TAR_BLOCK_SIZE, TAR_BLOCK_SIZE + Buffer.byteLength(record)), record);
  const main = encoded.subarray(2 * TAR_BLOCK_SIZE);
  assert.equal(main.toString('latin1', 0, main.indexOf(0)), '/base/5/bertable');
  assert.equal(main.toString('latin1', 257, 263), 'ustar\u0000');
});

test('a uid too large for the octal field goes into a PAX record and the field holds zero', () => {
  const encoded = encodeTarHeader(fields({ uid: 3_000_000 }));
  assert.equal(encoded.length, 3 * TAR_BLOCK_SIZE);
  assert.ok(encoded.toString('utf8', TAR_BLOCK_SIZE, 2 * TAR_BLOCK_SIZE).startsWith('15 uid=3000000\n'));
  assert.equal(encoded.toString('latin1', 2 * TAR_BLOCK_SIZE + 108, 2 * TAR_BLOCK_SIZE + 116), '0000000\u0000');
});

test('a PAX record counts the digits of its own length', () => {
  assert.equal(paxRecord('path', 'a'), '9 path=a\n');
  // 9 bytes of text + 1 digit would be 10, which needs 2 digits: the record is 11 long.
  assert.equal(paxRecord('ab', 'cdef'), '11 ab=cdef\n');
  const long = paxRecord('path', 'x'.repeat(92));
  assert.equal(long.length, Number(long.split(' ')[0]));
});

test('mtimes are rounded to whole seconds, halves up, like Go\'s Time.Round', () => {
  assert.equal(roundedSeconds(1_700_000_000_499_999_999n), 1_700_000_000);
  assert.equal(roundedSeconds(1_700_000_000_500_000_000n), 1_700_000_001);
  assert.equal(roundedSeconds(0n), 0);
});

test('headers from lstat: types, permission bits, a symlink pointing at its own basename', () => {
  const root = makeTempDir();
  const accounts: AccountNames = { userName: (uid) => `u${uid}`, groupName: (gid) => `g${gid}` };
  writeFileSync(join(root, 'file'), 'hello');
  chmodSync(join(root, 'file'), 0o640);
  mkdirSync(join(root, 'dir'), { mode: 0o700 });
  symlinkSync('/somewhere/else', join(root, 'link'));
  const file = headerFromStats(lstatSync(join(root, 'file'), { bigint: true }), '/file', 'file', accounts);
  assert.equal(file.typeflag, '0');
  assert.equal(file.size, 5);
  assert.equal(file.mode, 0o640);
  assert.equal(file.uname, `u${file.uid}`);
  const directory = headerFromStats(lstatSync(join(root, 'dir'), { bigint: true }), '/dir', 'dir', accounts);
  assert.equal(directory.typeflag, '5');
  assert.equal(directory.size, 0);
  const link = headerFromStats(lstatSync(join(root, 'link'), { bigint: true }), '/link', 'link', accounts);
  assert.equal(link.typeflag, '2');
  assert.equal(link.linkname, 'link');
});

test('account names come from passwd and group files: first entry wins, unknown ids are empty', () => {
  const root = makeTempDir();
  writeFileSync(join(root, 'passwd'), 'root:x:0:0::/root:/bin/sh\npostgres:x:26:26::/var/lib:/bin/sh\nalias:x:26:26::/:/bin/sh\n');
  writeFileSync(join(root, 'group'), 'root:x:0:\npostgres:x:26:\n');
  const names = new SystemAccountNames(join(root, 'passwd'), join(root, 'group'));
  assert.equal(names.userName(26), 'postgres');
  assert.equal(names.groupName(0), 'root');
  assert.equal(names.userName(4242), '');
  assert.deepEqual([...parseAccountFile('# comment\nbad\n')], []);
  assert.equal(new SystemAccountNames(join(root, 'missing'), join(root, 'missing')).userName(0), '');
});
