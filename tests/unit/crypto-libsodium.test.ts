// Pins WAL-G's libsodium framing, key rules and error behaviour for src/crypto/libsodium.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import sodium from 'sodium-native';
import { WalgError } from '../../src/errors.ts';
import {
  LibsodiumCrypter,
  libsodiumKeyFromText,
  loadLibsodiumKey,
  LIBSODIUM_CIPHERTEXT_CHUNK_BYTES,
  LIBSODIUM_HEADER_BYTES,
  LIBSODIUM_KEY_BYTES,
  LIBSODIUM_STATE_BYTES,
  LIBSODIUM_TAG_BYTES,
  LIBSODIUM_TAG_FINAL,
  LIBSODIUM_TAG_MESSAGE,
} from '../../src/crypto/libsodium.ts';

test('the secretstream sizes written as literals (so sodium loads lazily) equal sodium-native\'s', () => {
  assert.equal(LIBSODIUM_HEADER_BYTES, sodium.crypto_secretstream_xchacha20poly1305_HEADERBYTES);
  assert.equal(LIBSODIUM_TAG_BYTES, sodium.crypto_secretstream_xchacha20poly1305_ABYTES);
  assert.equal(LIBSODIUM_KEY_BYTES, sodium.crypto_secretstream_xchacha20poly1305_KEYBYTES);
  assert.equal(LIBSODIUM_STATE_BYTES, sodium.crypto_secretstream_xchacha20poly1305_STATEBYTES);
  assert.equal(LIBSODIUM_TAG_MESSAGE, sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
  assert.equal(LIBSODIUM_TAG_FINAL, sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL);
});

const KEY = Buffer.from('8L6DsZI/Ff3eRywJbLknqTc2WJWQy3DUoHQawdQH+Ww=', 'base64');
const crypter = new LibsodiumCrypter(KEY);

/** Splits data into writes of varying, odd sizes so chunk boundaries never line up with writes. */
function oddPieces(data: Buffer, sizes = [1, 7, 8200, 3, 65536, 8191, 100_003]): Buffer[] {
  const pieces: Buffer[] = [];
  for (let offset = 0, index = 0; offset < data.length; index++) {
    const size = sizes[index % sizes.length];
    pieces.push(data.subarray(offset, offset + size));
    offset += size;
  }
  return pieces;
}

async function through(transform: Transform, pieces: Buffer[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  await pipeline(Readable.from(pieces), transform, async (source: AsyncIterable<Buffer>) => {
    for await (const part of source) parts.push(part);
  });
  return Buffer.concat(parts);
}

async function rejection(promise: Promise<unknown>): Promise<WalgError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof WalgError, `expected a WalgError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the stream to fail');
}

/** Decrypts with sodium-native's pull API directly, checking WAL-G's framing chunk by chunk. */
function pullIndependently(ciphertext: Buffer, key: Buffer): { plaintext: Buffer; chunkLengths: number[]; tags: number[] } {
  const state = Buffer.alloc(sodium.crypto_secretstream_xchacha20poly1305_STATEBYTES);
  sodium.crypto_secretstream_xchacha20poly1305_init_pull(state, ciphertext.subarray(0, 24), key);
  const plain: Buffer[] = [];
  const chunkLengths: number[] = [];
  const tags: number[] = [];
  for (let offset = 24; offset < ciphertext.length; offset += 8209) {
    const sealed = ciphertext.subarray(offset, offset + 8209);
    const message = Buffer.alloc(sealed.length - 17);
    const tag = Buffer.alloc(1);
    sodium.crypto_secretstream_xchacha20poly1305_pull(state, message, tag, sealed, null);
    plain.push(message);
    chunkLengths.push(sealed.length);
    tags.push(tag[0]);
  }
  return { plaintext: Buffer.concat(plain), chunkLengths, tags };
}

/** Encrypts like WAL-G's writer does, with sodium-native's push API directly. */
function pushIndependently(plaintext: Buffer, key: Buffer, finalOnFullChunk = false): Buffer {
  const state = Buffer.alloc(sodium.crypto_secretstream_xchacha20poly1305_STATEBYTES);
  const header = Buffer.alloc(24);
  sodium.crypto_secretstream_xchacha20poly1305_init_push(state, header, key);
  const out = [header];
  let offset = 0;
  while (plaintext.length - offset >= 8192) {
    const last = finalOnFullChunk && plaintext.length - offset === 8192;
    const sealed = Buffer.alloc(8209);
    sodium.crypto_secretstream_xchacha20poly1305_push(state, sealed, plaintext.subarray(offset, offset + 8192), null, last ? 3 : 0);
    out.push(sealed);
    offset += 8192;
    if (last) return Buffer.concat(out);
  }
  const tail = plaintext.subarray(offset);
  const sealed = Buffer.alloc(tail.length + 17);
  sodium.crypto_secretstream_xchacha20poly1305_push(state, sealed, tail, null, 3);
  out.push(sealed);
  return Buffer.concat(out);
}

for (const size of [0, 1, 8191, 8192, 8193, 3 * 1024 * 1024 + 5]) {
  test(`libsodium round trip of ${size} bytes written in odd pieces gives the input back`, async () => {
    const plaintext = randomBytes(size);
    const ciphertext = await through(crypter.encrypter(), oddPieces(plaintext));
    const decrypted = await through(crypter.decrypter(), oddPieces(ciphertext, [5, 8209, 17, 70_001, 1]));
    assert.ok(decrypted.equals(plaintext));
  });
}

for (const size of [0, 1, 8191, 8192, 8193, 16384, 20000]) {
  test(`libsodium output for ${size} bytes has WAL-G framing: 24-byte header, 8209-byte MESSAGE chunks, one short FINAL chunk`, async () => {
    const plaintext = randomBytes(size);
    const ciphertext = await through(crypter.encrypter(), oddPieces(plaintext));
    const fullChunks = Math.floor(size / 8192);
    const finalLength = (size % 8192) + 17;
    assert.equal(ciphertext.length, LIBSODIUM_HEADER_BYTES + fullChunks * LIBSODIUM_CIPHERTEXT_CHUNK_BYTES + finalLength);
    const pulled = pullIndependently(ciphertext, KEY);
    assert.ok(pulled.plaintext.equals(plaintext));
    assert.deepEqual(pulled.chunkLengths, [...Array(fullChunks).fill(8209), finalLength]);
    assert.deepEqual(pulled.tags, [...Array(fullChunks).fill(sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE), 3]);
  });
}

test('libsodium decrypter reads a stream written the way WAL-G writes it', async () => {
  const plaintext = randomBytes(8192 * 3 + 10);
  const decrypted = await through(crypter.decrypter(), oddPieces(pushIndependently(plaintext, KEY)));
  assert.ok(decrypted.equals(plaintext));
  const exact = randomBytes(8192 * 2);
  assert.ok((await through(crypter.decrypter(), [pushIndependently(exact, KEY)])).equals(exact));
});

test('libsodium decrypter accepts a FINAL tag on a full last chunk', async () => {
  const plaintext = randomBytes(8192 * 2);
  const decrypted = await through(crypter.decrypter(), [pushIndependently(plaintext, KEY, true)]);
  assert.ok(decrypted.equals(plaintext));
});

test('libsodium decrypter names the key setting when the key is wrong, and shows no key material', async () => {
  const ciphertext = await through(crypter.encrypter(), [randomBytes(20000)]);
  const wrong = new LibsodiumCrypter(Buffer.alloc(32, 1), 'WALG_LIBSODIUM_KEY');
  const error = await rejection(through(wrong.decrypter(), [ciphertext]));
  assert.match(error.message, /^libsodium: decryption failed — is WALG_LIBSODIUM_KEY the key this object was written with\?/);
  assert.doesNotMatch(error.message, /8L6D|AQEBAQ|0101/);
  const fromFile = new LibsodiumCrypter(Buffer.alloc(32, 1), 'WALG_LIBSODIUM_KEY_PATH');
  const fileError = await rejection(through(fromFile.decrypter(), [ciphertext.subarray(0, 100)]));
  assert.match(fileError.message, /is the key in WALG_LIBSODIUM_KEY_PATH the key/);
});

test('libsodium decrypter rejects a stream cut at a chunk boundary (no FINAL chunk) as truncated', async () => {
  const ciphertext = await through(crypter.encrypter(), [randomBytes(8192 * 3 + 100)]);
  for (const chunks of [0, 1, 3]) {
    const cut = ciphertext.subarray(0, 24 + chunks * 8209);
    const error = await rejection(through(crypter.decrypter(), [cut]));
    assert.match(error.message, /^libsodium: truncated object/);
  }
});

test('libsodium decrypter rejects a stream cut inside a chunk or inside the header as truncated', async () => {
  const ciphertext = await through(crypter.encrypter(), [randomBytes(8192 * 2 + 100)]);
  for (const length of [0, 10, 24 + 8209 + 10, 24 + 8209 + 8209 + 5, ciphertext.length - 1]) {
    const error = await rejection(through(crypter.decrypter(), [ciphertext.subarray(0, length)]));
    assert.match(error.message, /^libsodium: truncated/, `cut at ${length}: ${error.message}`);
  }
});

test('libsodium decrypter rejects any flipped byte', async () => {
  const ciphertext = await through(crypter.encrypter(), [randomBytes(8192 * 3 + 100)]);
  for (const position of [3, 24 + 5, 24 + 8209 + 4000, 24 + 2 * 8209 + 8208, ciphertext.length - 1]) {
    const damaged = Buffer.from(ciphertext);
    damaged[position] ^= 0x40;
    const error = await rejection(through(crypter.decrypter(), [damaged]));
    assert.match(error.message, /^libsodium: (decryption failed|damaged|truncated or damaged)/, `byte ${position}: ${error.message}`);
  }
});

test('libsodium decrypter rejects bytes appended after the final chunk', async () => {
  const ciphertext = await through(crypter.encrypter(), [randomBytes(8192 + 5)]);
  const error = await rejection(through(crypter.decrypter(), [ciphertext, Buffer.from('tail')]));
  assert.match(error.message, /^libsodium: /);
  const full = pushIndependently(randomBytes(8192), KEY, true);
  const afterFinal = await rejection(through(crypter.decrypter(), [full, randomBytes(8209 + 17)]));
  assert.match(afterFinal.message, /data follows the final chunk/);
});

test('libsodium key transform base64 needs exactly 32 decoded bytes', () => {
  assert.ok(libsodiumKeyFromText(KEY.toString('base64'), 'base64').equals(KEY));
  assert.throws(() => libsodiumKeyFromText(Buffer.alloc(31).toString('base64'), 'base64'), {
    message: 'key must be exactly 32 bytes (got 31 bytes)',
  });
  assert.throws(() => libsodiumKeyFromText('not*base64', 'base64'), /^Error: while base64 decoding key: illegal base64 data at input byte 3$/);
  assert.throws(() => libsodiumKeyFromText(KEY.toString('base64').replace(/=$/, ''), 'base64'), /illegal base64 data/);
});

test('libsodium key transform hex needs exactly 32 decoded bytes', () => {
  assert.ok(libsodiumKeyFromText(KEY.toString('hex'), 'hex').equals(KEY));
  assert.throws(() => libsodiumKeyFromText('abcd', 'hex'), { message: 'key must be exactly 32 bytes (got 2 bytes)' });
  assert.throws(() => libsodiumKeyFromText('abc', 'hex'), { message: 'while hex decoding key: encoding/hex: odd length hex string' });
  assert.throws(() => libsodiumKeyFromText('zz', 'hex'), { message: "while hex decoding key: encoding/hex: invalid byte: U+007A 'z'" });
});

test('libsodium key transform none pads 25..31 bytes with zeros, truncates past 32 and rejects fewer than 25', () => {
  assert.ok(libsodiumKeyFromText('a'.repeat(25), 'none').equals(Buffer.concat([Buffer.from('a'.repeat(25)), Buffer.alloc(7)])));
  assert.ok(libsodiumKeyFromText('b'.repeat(40), 'none').equals(Buffer.from('b'.repeat(32))));
  assert.ok(libsodiumKeyFromText('c'.repeat(32), 'none').equals(Buffer.from('c'.repeat(32))));
  assert.throws(() => libsodiumKeyFromText('short', 'none'), { message: 'key length must not be less than 25, got 5' });
  // The byte length counts, not the character count.
  assert.equal(libsodiumKeyFromText('é'.repeat(13), 'none').subarray(0, 26).toString(), 'é'.repeat(13));
});

test('libsodium key transform rejects an unknown transform with WAL-G text', () => {
  assert.throws(() => libsodiumKeyFromText(KEY.toString('hex'), 'rot13'), {
    message: "unknown key transform 'rot13' (must be base64, hex or none)",
  });
});

test('WALG_LIBSODIUM_KEY_PATH content is whitespace-trimmed before the transform', () => {
  const dir = mkdtempSync(join(tmpdir(), 'walnut-libsodium-'));
  try {
    const path = join(dir, 'key');
    writeFileSync(path, `  ${KEY.toString('hex')}\n\n`);
    assert.ok(loadLibsodiumKey({ setting: 'WALG_LIBSODIUM_KEY_PATH', path, transform: 'hex' }).equals(KEY));
    assert.throws(
      () => loadLibsodiumKey({ setting: 'WALG_LIBSODIUM_KEY_PATH', path: join(dir, 'missing'), transform: 'hex' }),
      /^WalgError: libsodium Crypter: unable to read key from file .*missing \(WALG_LIBSODIUM_KEY_PATH\): ENOENT$/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('libsodium key errors do not echo the key', () => {
  const secret = 'my-secret-but-short';
  assert.throws(
    () => loadLibsodiumKey({ setting: 'WALG_LIBSODIUM_KEY', text: secret, transform: 'none' }),
    (err: Error) => err instanceof WalgError && !err.message.includes(secret) && /got 19/.test(err.message),
  );
});
