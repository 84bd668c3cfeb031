// Decrypts every encrypted object of the WAL-G-written compat fixtures with the crypter their settings select.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createReadStream, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { brotliDecompressSync, zstdDecompressSync } from 'node:zlib';
import { crypterFromSettings } from '../../src/crypto/select-crypter.ts';
import type { Crypter } from '../../src/crypto/crypter.ts';

const FIXTURES = '/work/shared/compat-fixtures';
const WAL_SEGMENT_BYTES = 16 * 1024 * 1024;
// XLOG_PAGE_MAGIC per PostgreSQL major version: the first two bytes of every WAL page.
const WAL_PAGE_MAGIC: Record<number, number> = { 13: 0xd106, 14: 0xd10d, 15: 0xd110 };

interface Manifest {
  pg_version_num: number;
  settings: Record<string, string>;
}

function storedObjects(root: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(root)) {
    const full = join(root, entry);
    if (statSync(full).isDirectory()) found.push(...storedObjects(full));
    else if (!entry.endsWith('.json')) found.push(full);
  }
  return found.sort();
}

async function decrypt(crypter: Crypter, file: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  await pipeline(createReadStream(file), crypter.decrypter(), async (source: AsyncIterable<Buffer>) => {
    for await (const part of source) parts.push(part);
  });
  return Buffer.concat(parts);
}

function decompress(data: Buffer, file: string): Buffer {
  if (file.endsWith('.zst')) return zstdDecompressSync(data);
  if (file.endsWith('.br')) return brotliDecompressSync(data);
  if (file.endsWith('.lz4')) {
    // Through files: piping 16 MiB through spawnSync's stdout is ten times slower.
    const input = join(scratch, 'object.lz4');
    const output = join(scratch, 'object');
    writeFileSync(input, data);
    const result = spawnSync('lz4', ['-d', '-f', '-q', input, output]);
    assert.equal(result.status, 0, `lz4 -d failed for ${file}: ${result.stderr}`);
    return readFileSync(output);
  }
  throw new Error(`unexpected extension: ${file}`);
}

function checkContent(plain: Buffer, file: string, pgMajor: number): void {
  const name = file.split('/').pop() ?? file;
  if (/^[0-9A-F]{24}\.[a-z0-9]+$/.test(name)) {
    assert.equal(plain.length, WAL_SEGMENT_BYTES, `${name}: WAL segment size`);
    assert.equal(plain.readUInt16LE(0), WAL_PAGE_MAGIC[pgMajor], `${name}: first page magic`);
  } else if (name.includes('.backup.')) {
    assert.match(plain.toString('utf8'), /^START WAL LOCATION: /, `${name}: backup history file`);
  } else if (name.includes('.tar.')) {
    assert.equal(plain.length % 512, 0, `${name}: tar length`);
    assert.equal(plain.subarray(257, 262).toString('latin1'), 'ustar', `${name}: tar magic`);
  } else {
    assert.fail(`unexpected object ${name}`);
  }
}

const scratch = mkdtempSync(join(tmpdir(), 'walnut-crypto-fixtures-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const lz4Available = spawnSync('lz4', ['--version']).status === 0;

for (const set of ['pg15-zstd-libsodium', 'pg13-lz4-libsodium-hex', 'pg14-brotli-pgp-remote']) {
  const directory = join(FIXTURES, set);
  const skip = !existsSync(directory)
    ? 'fixture set missing'
    : set.includes('lz4') && !lz4Available
      ? 'lz4 CLI missing'
      : false;
  test(`every encrypted object in ${set} decrypts with its manifest settings to valid WAL segments and tars`, { skip }, async () => {
    const manifest = JSON.parse(readFileSync(join(directory, 'manifest.json'), 'utf8')) as Manifest;
    const crypter = crypterFromSettings((name) => manifest.settings[name]);
    assert.ok(crypter, 'the manifest settings select a crypter');
    assert.equal(crypter.kind, set.includes('pgp') ? 'openpgp' : 'libsodium');
    const pgMajor = Math.floor(manifest.pg_version_num / 10000);
    const objects = storedObjects(join(directory, 'storage'));
    assert.ok(objects.length >= 7, 'fixture objects found');
    let walSegmentsInspected = 0;
    for (const file of objects) {
      const decrypted = await decrypt(crypter, file);
      // Every object must authenticate; decompressing every 16 MiB segment would only slow the suite down.
      const isWalSegment = /\/[0-9A-F]{24}\.[a-z0-9]+$/.test(file);
      if (isWalSegment && walSegmentsInspected++ >= 2) continue;
      checkContent(decompress(decrypted, file), relative(directory, file), pgMajor);
    }
    assert.equal(walSegmentsInspected > 2, true, 'several WAL segments were decrypted');
  });
}

test('a libsodium fixture object does not decrypt with the other fixture key', async () => {
  const hexSet = JSON.parse(readFileSync(join(FIXTURES, 'pg13-lz4-libsodium-hex/manifest.json'), 'utf8')) as Manifest;
  const crypter = crypterFromSettings((name) => hexSet.settings[name]);
  assert.ok(crypter);
  const object = join(FIXTURES, 'pg15-zstd-libsodium/storage/wal_005/000000010000000000000001.zst');
  await assert.rejects(decrypt(crypter, object), /^WalgError: libsodium: decryption failed — is WALG_LIBSODIUM_KEY the key/);
});
