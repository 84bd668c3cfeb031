// The chunk pipeline's acceptance through the CLI: `wal-g st get` decodes every object WAL-G v3.0.8 wrote in the
// compat fixtures; what `wal-g st put` writes with every method and crypter decodes with independent tools and
// has format.md's framing; damaged or undecodable objects fail with one clear error and leave no file.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, createReadStream, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, join, relative } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { xxh32 } from '@node-rs/xxhash';
import sodium from 'sodium-native';
import tar from 'tar-stream';
import { runWalg, type WalgResult } from '../helpers/walg.ts';
import { makeTempDir, removeTempDir } from '../helpers/tmp.ts';

const FIXTURES = join(import.meta.dirname, '../../compat-fixtures');
const WAL_SEGMENT_BYTES = 16 * 1024 * 1024;
const WAL_PAGE_BYTES = 8192;
/** XLOG_PAGE_MAGIC by PostgreSQL major version (src/include/access/xlog_internal.h). */
const WAL_PAGE_MAGIC: Readonly<Record<number, number>> = { 13: 0xd106, 14: 0xd10d, 15: 0xd110, 16: 0xd113, 17: 0xd116 };
const XLP_LONG_HEADER = 0x0002;
const LOG_LINE = /^(INFO|WARNING|ERROR): \d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d\.\d{6} (.*)$/;

interface Manifest {
  readonly pg_version_num: number;
  readonly system_identifier: string;
  readonly settings: Record<string, string>;
}

function readManifest(set: string): Manifest {
  return JSON.parse(readFileSync(join(FIXTURES, set, 'manifest.json'), 'utf8')) as Manifest;
}

function fixtureSets(): string[] {
  return readdirSync(FIXTURES)
    .filter((entry) => statSync(join(FIXTURES, entry)).isDirectory())
    .filter((entry) => readdirSync(join(FIXTURES, entry)).includes('manifest.json'))
    .sort();
}

function storedKeys(root: string, folder = root): string[] {
  const keys: string[] = [];
  for (const entry of readdirSync(folder)) {
    const full = join(folder, entry);
    if (statSync(full).isDirectory()) keys.push(...storedKeys(root, full));
    else keys.push(relative(root, full));
  }
  return keys.sort();
}

/** Decoded segments are 16 MiB each: keep them in memory-backed /dev/shm when there is one. */
function scratchParent(): string | undefined {
  return process.env.WALNUT_TEST_TMPDIR ?? (existsSync('/dev/shm') ? '/dev/shm' : undefined);
}

function baseEnv(home: string, storage: string, settings: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: home, TZ: 'UTC', WALG_FILE_PREFIX: storage, ...settings };
}

function logLines(stderr: string): string[] {
  return stderr
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const match = LOG_LINE.exec(line);
      assert.ok(match, `not a WAL-G log line: ${JSON.stringify(line)}`);
      return `${match[1]}: ${match[2]}`;
    });
}

/** Runs `work` over the items with at most `limit` running at once. */
async function forEachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

// ---------------------------------------------------------------------------------------------------------
// What a decoded fixture object must look like

/** A WAL segment: 16 MiB; a long page header naming its timeline, address and cluster; every page valid or zero. */
function checkWalSegment(data: Buffer, name: string, manifest: Manifest): void {
  assert.equal(data.length, WAL_SEGMENT_BYTES, `${name}: segment size`);
  const magic = WAL_PAGE_MAGIC[Math.floor(manifest.pg_version_num / 10000)];
  assert.ok(magic !== undefined, `no XLOG_PAGE_MAGIC known for PostgreSQL ${manifest.pg_version_num}`);
  const timeline = parseInt(name.slice(0, 8), 16);
  const segmentNumber = BigInt(parseInt(name.slice(8, 16), 16)) * 256n + BigInt(parseInt(name.slice(16, 24), 16));
  const segmentStart = segmentNumber * BigInt(WAL_SEGMENT_BYTES);
  assert.equal(data.readUInt16LE(0), magic, `${name}: XLOG page magic`);
  assert.ok((data.readUInt16LE(2) & XLP_LONG_HEADER) !== 0, `${name}: the first page has a long header`);
  assert.equal(data.readUInt32LE(4), timeline, `${name}: timeline`);
  assert.equal(data.readBigUInt64LE(8), segmentStart, `${name}: page address`);
  assert.equal(data.readBigUInt64LE(24).toString(), manifest.system_identifier, `${name}: system identifier`);
  assert.equal(data.readUInt32LE(32), WAL_SEGMENT_BYTES, `${name}: xlp_seg_size`);
  assert.equal(data.readUInt32LE(36), WAL_PAGE_BYTES, `${name}: xlp_xlog_blcksz`);
  const zeroPage = Buffer.alloc(WAL_PAGE_BYTES);
  for (let offset = WAL_PAGE_BYTES; offset < data.length; offset += WAL_PAGE_BYTES) {
    if (data.readUInt16LE(offset) === 0 && data.subarray(offset, offset + WAL_PAGE_BYTES).equals(zeroPage)) continue;
    assert.equal(data.readUInt16LE(offset), magic, `${name}: magic of the page at ${offset}`);
    assert.equal(data.readBigUInt64LE(offset + 8), segmentStart + BigInt(offset), `${name}: address of the page at ${offset}`);
  }
}

function checkText(data: Buffer, name: string): string {
  assert.ok(data.length > 0, `${name}: empty`);
  assert.equal(data.includes(0), false, `${name}: a NUL byte in a text file`);
  const text = new TextDecoder('utf-8', { fatal: true }).decode(data);
  return text;
}

async function tarMembers(file: string): Promise<string[]> {
  const names: string[] = [];
  const extract = tar.extract();
  extract.on('entry', (header, stream, next) => {
    names.push(header.name);
    stream.on('end', next);
    stream.resume();
  });
  await pipeline(createReadStream(file), extract);
  return names.sort();
}

/** files_metadata.json's TarFileSets of a backup: the members WAL-G put into each part (absent for remote backups). */
function tarFileSets(storage: string, key: string): Record<string, string[]> | undefined {
  const backupFolder = key.slice(0, key.indexOf('/tar_partitions/'));
  const metadata = JSON.parse(readFileSync(join(storage, backupFolder, 'files_metadata.json'), 'utf8')) as {
    TarFileSets?: Record<string, string[]>;
  };
  const sets = metadata.TarFileSets ?? {};
  return Object.keys(sets).length > 0 ? sets : undefined;
}

async function checkTarPartition(file: string, key: string, storage: string): Promise<void> {
  const members = await tarMembers(file);
  const partName = basename(key);
  const expected = tarFileSets(storage, key)?.[partName];
  if (expected !== undefined) {
    assert.deepEqual(members, [...expected].sort(), `${key}: members listed in TarFileSets`);
  }
  const bare = members.map((name) => name.replace(/^\//, ''));
  if (partName.startsWith('pg_control.tar')) assert.deepEqual(bare, ['global/pg_control'], `${key}: members`);
  else if (partName.startsWith('backup_label.tar')) assert.ok(bare.includes('backup_label'), `${key}: holds backup_label`);
  else {
    assert.match(partName, /^part_\d{3}\.tar/);
    assert.ok(bare.some((name) => /^(base|global|pg_tblspc)\/./.test(name)), `${key}: holds data files`);
  }
}

async function checkFixtureObject(walg: (args: string[]) => Promise<WalgResult>, storage: string, key: string, output: string, manifest: Manifest): Promise<void> {
  const name = basename(key);
  const isJson = name.endsWith('.json');
  // JSON documents are stored plain even in encrypted archives; WAL-G's st get needs --no-decrypt for them.
  const result = await walg(['st', 'get', ...(isJson ? ['--no-decrypt', '--no-decompress'] : []), key, output]);
  assert.equal(result.code, 0, `${key}: ${result.stderr}`);
  assert.equal(result.stderr, '', `${key}: unexpected log output`);
  const stem = name.replace(/\.[a-z0-9]*$/, '');
  try {
    if (isJson) {
      JSON.parse(readFileSync(output, 'utf8'));
    } else if (key.includes('/tar_partitions/')) {
      await checkTarPartition(output, key, storage);
    } else if (/^[0-9A-F]{24}$/.test(stem)) {
      checkWalSegment(readFileSync(output), stem, manifest);
    } else if (/^[0-9A-F]{24}\.[0-9A-F]{8}\.backup$/.test(stem)) {
      assert.match(checkText(readFileSync(output), key), /^START WAL LOCATION: /);
    } else if (/^[0-9A-F]{8}\.history$/.test(stem)) {
      checkText(readFileSync(output), key);
    } else if (/^[0-9A-F]{24}_delta$/.test(stem)) {
      assert.ok(statSync(output).size > 0, `${key}: an empty WAL-delta sidecar`);
    } else {
      assert.fail(`${key}: an object kind this test does not know`);
    }
  } finally {
    rmSync(output, { force: true });
  }
}

// About 200 wal-g processes: ~1 min on an idle two-core machine; the timeout leaves room for a busy one.
test('st get decodes every object of every compat fixture set', { timeout: 600_000 }, async (t) => {
  const work = makeTempDir({ prefix: 'walnut-codec-', parent: scratchParent() });
  t.after(() => removeTempDir(work));
  const home = join(work, 'home');
  mkdirSync(home);
  const sets = fixtureSets();
  assert.ok(sets.length >= 6, 'the compat fixtures are there');
  const checked: string[] = [];
  // Three sets at a time: each object is one short wal-g process, partly waiting on the disk.
  await forEachLimited(sets, 3, async (set) => {
    const manifest = readManifest(set);
    const storage = join(work, set, 'storage');
    cpSync(join(FIXTURES, set, 'storage'), storage, { recursive: true });
    const output = join(work, set, 'decoded');
    const walg = (args: string[]): Promise<WalgResult> => runWalg(args, { env: baseEnv(home, storage, manifest.settings), cwd: work });
    const keys = storedKeys(storage);
    for (const key of keys) await checkFixtureObject(walg, storage, key, output, manifest);
    checked.push(`${set}: ${keys.length}`);
  });
  assert.equal(checked.length, sets.length);
});

// ---------------------------------------------------------------------------------------------------------
// What st put writes, read back by other tools

const METHOD_EXTENSIONS: Readonly<Record<string, string>> = { lz4: 'lz4', lzma: 'lzma', zstd: 'zst', brotli: 'br', none: '' };
/** walnut writes 1 MiB blocks where WAL-G writes 4 MiB (src/compression/lz4-frame.ts, docs/COMPATIBILITY.md). */
const LZ4_BLOCK_MAX = 1024 * 1024;
const SODIUM_CHUNK = 8192;
const SODIUM_ABYTES = 17;
const PGP_FIXTURE = 'pg14-brotli-pgp-remote';

/** WAL-G's LZ4 frame layout: flags 0x64, full blocks until the last (1 MiB ones from walnut), content checksum. */
function checkLz4Framing(frame: Buffer, inputLength: number, what: string): void {
  assert.equal(frame.readUInt32LE(0), 0x184d2204, `${what}: LZ4 magic`);
  assert.equal(frame[4], 0x64, `${what}: FLG (version 1, independent blocks, content checksum)`);
  assert.equal(frame[5], 0x60, `${what}: BD (1 MiB block maximum)`);
  assert.equal(frame[6], (xxh32(frame.subarray(4, 6), 0) >>> 8) & 0xff, `${what}: header checksum`);
  let offset = 7;
  let blocks = 0;
  for (;;) {
    const size = frame.readUInt32LE(offset);
    offset += 4;
    if (size === 0) break;
    const length = size & 0x7fffffff;
    assert.ok(length <= LZ4_BLOCK_MAX, `${what}: block ${blocks} of ${length} bytes`);
    offset += length;
    blocks++;
  }
  assert.equal(offset + 4, frame.length, `${what}: the content checksum ends the object`);
  assert.equal(blocks, Math.max(1, Math.ceil(inputLength / LZ4_BLOCK_MAX)), `${what}: blocks of 1 MiB of input`);
}

function checkZstdFraming(frame: Buffer, what: string): void {
  assert.equal(frame.readUInt32LE(0), 0xfd2fb528, `${what}: zstd magic`);
  assert.ok((frame[4] & 0x04) !== 0, `${what}: content checksum flag`);
}

function checkLzmaFraming(data: Buffer, what: string): void {
  assert.equal(data[0], 0x5d, `${what}: lzma properties lc=3 lp=0 pb=2`);
  // WAL-G's writer names an 8 MiB dictionary; ours a smaller one (src/compression/lzma.ts). Any size up to 8 MiB
  // keeps WAL-G's reader within the memory its own objects need.
  const dictionary = data.readUInt32LE(1);
  assert.ok(dictionary >= 4096 && dictionary <= 0x00800000, `${what}: dictionary of ${dictionary} bytes`);
  assert.equal(data.readBigUInt64LE(5), 0xffffffffffffffffn, `${what}: unknown uncompressed size`);
}

/**
 * Decrypts a libsodium object with sodium-native's pull API, checking WAL-G's framing: a 24-byte header, full
 * chunks of 8192+17 bytes tagged MESSAGE, and one FINAL chunk of the rest (17 bytes when nothing is left).
 */
function openLibsodiumObject(stored: Buffer, key: Buffer, what: string): Buffer {
  const headerBytes = sodium.crypto_secretstream_xchacha20poly1305_HEADERBYTES;
  assert.equal(headerBytes, 24);
  const state = Buffer.alloc(sodium.crypto_secretstream_xchacha20poly1305_STATEBYTES);
  sodium.crypto_secretstream_xchacha20poly1305_init_pull(state, stored.subarray(0, headerBytes), key);
  const body = stored.length - headerBytes;
  const fullChunks = Math.floor(body / (SODIUM_CHUNK + SODIUM_ABYTES));
  const lastChunk = body - fullChunks * (SODIUM_CHUNK + SODIUM_ABYTES);
  assert.ok(lastChunk >= SODIUM_ABYTES && lastChunk < SODIUM_CHUNK + SODIUM_ABYTES, `${what}: a short FINAL chunk ends the object`);
  const plain: Buffer[] = [];
  const tag = Buffer.alloc(1);
  let offset = headerBytes;
  for (let index = 0; index <= fullChunks; index++) {
    const length = index < fullChunks ? SODIUM_CHUNK + SODIUM_ABYTES : lastChunk;
    const message = Buffer.alloc(length - SODIUM_ABYTES);
    sodium.crypto_secretstream_xchacha20poly1305_pull(state, message, tag, stored.subarray(offset, offset + length), null);
    const expectedTag =
      index < fullChunks ? sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE : sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL;
    assert.equal(tag[0], expectedTag, `${what}: tag of chunk ${index}`);
    plain.push(message);
    offset += length;
  }
  return Buffer.concat(plain);
}

/** Decompresses with the format's own command-line tool, through files. */
function decompressWithTool(method: string, compressed: Buffer, scratch: string): Buffer {
  if (method === 'none') return compressed;
  const input = join(scratch, `tool-input.${method}`);
  const output = join(scratch, 'tool-output');
  writeFileSync(input, compressed);
  const command: Record<string, string[]> = {
    lz4: ['lz4', '-d', '-f', '-q', input, output],
    zstd: ['zstd', '-d', '-f', '-q', input, '-o', output],
    lzma: ['xz', '--format=lzma', '-d', '-c', input],
    brotli: ['brotli', '-d', '-f', input, '-o', output],
  };
  const [tool, ...args] = command[method];
  const result = spawnSync(tool, args, { maxBuffer: 64 * 1024 * 1024 });
  assert.equal(result.status, 0, `${tool} failed: ${result.stderr}`);
  return method === 'lzma' ? result.stdout : readFileSync(output);
}

interface Crypto {
  readonly name: 'none' | 'libsodium' | 'openpgp';
  readonly env: Record<string, string>;
  open(stored: Buffer, what: string, scratch: string): Buffer;
}

function gpgCrypto(gnupgHome: string, pgpSettings: Record<string, string>): Crypto {
  return {
    name: 'openpgp',
    env: { WALG_PGP_KEY: pgpSettings.WALG_PGP_KEY, WALG_PGP_KEY_PASSPHRASE: pgpSettings.WALG_PGP_KEY_PASSPHRASE },
    open(stored, what, scratch) {
      const input = join(scratch, 'gpg-input');
      writeFileSync(input, stored);
      const result = spawnSync(
        'gpg',
        ['--batch', '--quiet', '--pinentry-mode', 'loopback', '--passphrase', pgpSettings.WALG_PGP_KEY_PASSPHRASE, '-d', input],
        { env: { ...process.env, GNUPGHOME: gnupgHome }, maxBuffer: 64 * 1024 * 1024 },
      );
      assert.equal(result.status, 0, `${what}: gpg -d failed: ${result.stderr}`);
      return result.stdout;
    },
  };
}

test('every method and crypter written by st put decodes with independent tools and has the documented framing', { timeout: 600_000 }, async (t) => {
  const work = makeTempDir({ prefix: 'walnut-put-', parent: scratchParent() });
  const gnupgHome = join(work, 'gnupg');
  mkdirSync(gnupgHome, { mode: 0o700 });
  t.after(() => {
    // gpg starts an agent for this home; stop exactly that one.
    spawnSync('gpgconf', ['--homedir', gnupgHome, '--kill', 'gpg-agent']);
    removeTempDir(work);
  });
  const home = join(work, 'home');
  const storage = join(work, 'storage');
  const scratch = join(work, 'scratch');
  for (const folder of [home, storage, scratch]) mkdirSync(folder);

  const pgpSettings = readManifest(PGP_FIXTURE).settings;
  writeFileSync(join(work, 'key.asc'), pgpSettings.WALG_PGP_KEY);
  const imported = spawnSync('gpg', ['--batch', '--quiet', '--import', join(work, 'key.asc')], { env: { ...process.env, GNUPGHOME: gnupgHome } });
  assert.equal(imported.status, 0, `gpg --import: ${imported.stderr}`);

  // A real WAL segment (a multiple of 8192 bytes, so libsodium ends with an empty FINAL chunk) and an odd-sized mix.
  const segment = decompressWithTool('lz4', readFileSync(join(FIXTURES, 'pg15-lz4-delta/storage/wal_005/000000010000000000000001.lz4')), scratch);
  assert.equal(segment.length, WAL_SEGMENT_BYTES);
  const odd = Buffer.concat([Buffer.from('checkpoint record '.repeat(3000)), randomBytes(46_003)]);
  const inputs = { segment, odd };
  for (const [name, data] of Object.entries(inputs)) writeFileSync(join(work, name), data);

  const sodiumKey = randomBytes(32);
  const cryptos: Crypto[] = [
    { name: 'none', env: {}, open: (stored) => stored },
    {
      name: 'libsodium',
      env: { WALG_LIBSODIUM_KEY: sodiumKey.toString('base64'), WALG_LIBSODIUM_KEY_TRANSFORM: 'base64' },
      open: (stored, what) => openLibsodiumObject(stored, sodiumKey, what),
    },
    gpgCrypto(gnupgHome, pgpSettings),
  ];

  const cases: { method: string; crypto: Crypto; input: keyof typeof inputs }[] = [];
  for (const method of Object.keys(METHOD_EXTENSIONS)) {
    for (const crypto of cryptos) for (const input of Object.keys(inputs) as (keyof typeof inputs)[]) cases.push({ method, crypto, input });
  }
  // Upload two at a time; decode in this process one by one.
  await forEachLimited(cases, 2, async ({ method, crypto, input }) => {
    const destination = `${method}/${crypto.name}/${input}`;
    const result = await runWalg(['st', 'put', input, destination], {
      env: baseEnv(home, storage, { WALG_COMPRESSION_METHOD: method, ...crypto.env }),
      cwd: work,
    });
    assert.equal(result.code, 0, `${destination}: ${result.stderr}`);
  });
  for (const { method, crypto, input } of cases) {
    const what = `${method} + ${crypto.name}, ${input}`;
    const stored = readFileSync(join(storage, method, crypto.name, `${input}.${METHOD_EXTENSIONS[method]}`));
    const compressed = crypto.open(stored, what, scratch);
    if (crypto.name === 'libsodium' && method === 'none') {
      // The plaintext is the input itself: 16 MiB is 2048 full chunks and then the empty FINAL chunk.
      const expectedLength = 24 + Math.floor(inputs[input].length / SODIUM_CHUNK) * (SODIUM_CHUNK + SODIUM_ABYTES) + (inputs[input].length % SODIUM_CHUNK) + SODIUM_ABYTES;
      assert.equal(stored.length, expectedLength, `${what}: stored size`);
    }
    if (method === 'lz4') checkLz4Framing(compressed, inputs[input].length, what);
    if (method === 'zstd') checkZstdFraming(compressed, what);
    if (method === 'lzma') checkLzmaFraming(compressed, what);
    const decoded = decompressWithTool(method, compressed, scratch);
    assert.ok(decoded.equals(inputs[input]), `${what}: decodes to the input`);
  }
});

// ---------------------------------------------------------------------------------------------------------
// Bad input through st get

test('st get of a damaged or undecodable object fails with one error naming the object and the cause, leaving no file', { timeout: 300_000 }, async (t) => {
  const work = makeTempDir({ prefix: 'walnut-bad-', parent: scratchParent() });
  t.after(() => removeTempDir(work));
  const home = join(work, 'home');
  const storage = join(work, 'storage');
  const destination = join(work, 'out');
  for (const folder of [home, storage, destination]) mkdirSync(folder);
  const segment = decompressWithTool('lz4', readFileSync(join(FIXTURES, 'pg15-lz4-delta/storage/wal_005/000000010000000000000001.lz4')), work);
  writeFileSync(join(work, 'segment'), segment);

  const sodiumKey = randomBytes(32).toString('base64');
  const sodiumEnv = { WALG_LIBSODIUM_KEY: sodiumKey, WALG_LIBSODIUM_KEY_TRANSFORM: 'base64' };
  const pgpSettings = readManifest(PGP_FIXTURE).settings;
  const pgpEnv = { WALG_PGP_KEY: pgpSettings.WALG_PGP_KEY, WALG_PGP_KEY_PASSPHRASE: pgpSettings.WALG_PGP_KEY_PASSPHRASE };
  const put = async (name: string, settings: Record<string, string>): Promise<Buffer> => {
    const result = await runWalg(['st', 'put', 'segment', name], { env: baseEnv(home, storage, settings), cwd: work });
    assert.equal(result.code, 0, result.stderr);
    return readFileSync(join(storage, `${name}.lz4`));
  };
  const plain = await put('plain', {});
  const sealed = await put('sealed', sodiumEnv);
  await put('pgp', pgpEnv);
  const damaged = (name: string, bytes: Buffer): void => writeFileSync(join(storage, name), bytes);
  damaged('plain-truncated.lz4', plain.subarray(0, plain.length >> 1));
  damaged('plain-flipped.lz4', Buffer.from(plain).fill(plain[plain.length >> 1] ^ 0x10, plain.length >> 1, (plain.length >> 1) + 1));
  damaged('sealed-truncated.lz4', sealed.subarray(0, 24 + 8209 * 10));
  damaged('sealed-flipped.lz4', Buffer.from(sealed).fill(sealed[sealed.length >> 1] ^ 0x01, sealed.length >> 1, (sealed.length >> 1) + 1));

  const cases: { object: string; settings: Record<string, string>; cause: RegExp }[] = [
    { object: 'plain-truncated.lz4', settings: {}, cause: /lz4: truncated frame/ },
    { object: 'plain-flipped.lz4', settings: {}, cause: /lz4: .*(checksum mismatch|corrupt)/ },
    { object: 'sealed-truncated.lz4', settings: sodiumEnv, cause: /libsodium: truncated object/ },
    { object: 'sealed-flipped.lz4', settings: sodiumEnv, cause: /libsodium: damaged object: chunk \d+ \(at byte \d+\) failed authentication/ },
    {
      object: 'sealed.lz4',
      settings: { ...sodiumEnv, WALG_LIBSODIUM_KEY: randomBytes(32).toString('base64') },
      cause: /is WALG_LIBSODIUM_KEY the key this object was written with\?/,
    },
    {
      object: 'pgp.lz4',
      settings: { ...pgpEnv, WALG_PGP_KEY_PASSPHRASE: 'not the passphrase' },
      cause: /WALG_PGP_KEY_PASSPHRASE does not unlock the private key/,
    },
    { object: 'sealed.lz4', settings: {}, cause: /probably it is encrypted and no key is configured \(set WALG_LIBSODIUM_KEY or WALG_PGP_KEY/ },
    { object: 'pgp.lz4', settings: {}, cause: /it looks like an OpenPGP message, and no key is configured: set WALG_PGP_KEY/ },
  ];
  await forEachLimited(cases, 2, async ({ object, settings, cause }) => {
    const target = join(destination, `${object}-${Object.keys(settings).length}-${randomBytes(4).toString('hex')}`);
    const result = await runWalg(['st', 'get', object, target], { env: baseEnv(home, storage, settings), cwd: work });
    assert.equal(result.code, 1, `${object}: exit code`);
    const lines = logLines(result.stderr);
    assert.equal(lines.length, 1, `${object}: one log line, got ${JSON.stringify(lines)}`);
    assert.ok(lines[0].startsWith(`ERROR: download the file: ${object}: `), `${object}: names the object: ${lines[0]}`);
    assert.match(lines[0], cause);
  });
  // Neither the destinations nor any temporary file next to them is left.
  assert.deepEqual(readdirSync(destination), []);

  // An extension no decompressor knows: WAL-G warns once and copies the stored bytes.
  damaged('sealed.xyz', sealed);
  const unknown = await runWalg(['st', 'get', 'sealed.xyz', join(destination, 'raw')], { env: baseEnv(home, storage, sodiumEnv), cwd: work });
  assert.equal(unknown.code, 0, unknown.stderr);
  assert.deepEqual(logLines(unknown.stderr), [
    "WARNING: decompressor for extension '.xyz' was not found (supported methods: [lz4 lzma none brotli zstd]), will download uncompressed",
  ]);
  // Decrypted but not decompressed: what is left is the LZ4 frame of the segment.
  const rawCopy = readFileSync(join(destination, 'raw'));
  assert.ok(decompressWithTool('lz4', rawCopy, work).equals(segment));
});
