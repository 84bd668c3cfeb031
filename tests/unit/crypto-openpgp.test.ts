// Pins the OpenPGP crypter: WAL-G's message shape, gpg interoperability, key handling and error texts.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as openpgp from 'openpgp';
import { WalgError } from '../../src/errors.ts';
import { OpenPgpCrypter, chooseSymmetricAlgorithm, inlineOpenPgpKey, openPgpKeyFile } from '../../src/crypto/openpgp.ts';

const manifest = JSON.parse(
  readFileSync('/work/shared/compat-fixtures/pg14-brotli-pgp-remote/manifest.json', 'utf8'),
) as { settings: Record<string, string> };
const FIXTURE_KEY = manifest.settings.WALG_PGP_KEY; // armored private key, passphrase-protected
const PASSPHRASE = manifest.settings.WALG_PGP_KEY_PASSPHRASE;
const FIXTURE_KEY_ID = 'BAE5908015A8C0DE';

const fixtureCrypter = new OpenPgpCrypter(inlineOpenPgpKey(FIXTURE_KEY), PASSPHRASE);
const scratch = mkdtempSync(join(tmpdir(), 'walnut-pgp-'));
let otherKey: { privateKey: string; publicKey: string };

before(async () => {
  otherKey = await openpgp.generateKey({ userIDs: [{ name: 'someone else' }], format: 'armored' });
});

after(() => {
  if (gpgAvailable) spawnSync('gpgconf', ['--kill', 'gpg-agent'], { env: gpgEnv() });
  rmSync(scratch, { recursive: true, force: true });
});

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

// ---- gpg CLI in a private GNUPGHOME holding the fixture key ----

const gpgAvailable = spawnSync('gpg', ['--version']).status === 0;
const gpgHome = join(scratch, 'gnupg');

function gpgEnv(): NodeJS.ProcessEnv {
  return { ...process.env, GNUPGHOME: gpgHome };
}

function gpg(args: string[], input?: Buffer): Buffer {
  const result = spawnSync('gpg', ['--batch', '--quiet', '--pinentry-mode', 'loopback', '--passphrase', PASSPHRASE, ...args], {
    env: gpgEnv(),
    input,
    maxBuffer: 64 << 20,
  });
  assert.equal(result.status, 0, `gpg ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

let gpgReady = false;
function prepareGpg(): void {
  if (gpgReady) return;
  spawnSync('mkdir', ['-m', '700', '-p', gpgHome]);
  gpg(['--import'], Buffer.from(FIXTURE_KEY));
  gpgReady = true;
}

const noGpg = gpgAvailable ? false : 'gpg CLI not installed';

// ---- message shape ----

test("openpgp output is WAL-G's message: binary, v3 PKESK, SEIPD v1, one uncompressed literal named '' at date 0, AES-128", async () => {
  const ciphertext = await through(fixtureCrypter.encrypter(), [Buffer.from('hello'), Buffer.from(' world')]);
  assert.notEqual(ciphertext.subarray(0, 5).toString(), '-----', 'not armored');
  const keys = await fixtureCrypter.decryptionKeys();
  const readBack = () => openpgp.readMessage({ binaryMessage: new Uint8Array(ciphertext) });
  const outer = [...(await readBack()).packets] as unknown as { constructor: { tag: number }; version: number }[];
  assert.deepEqual(
    outer.map((packet) => [packet.constructor.tag, packet.version]),
    [
      [openpgp.enums.packet.publicKeyEncryptedSessionKey, 3],
      [openpgp.enums.packet.symEncryptedIntegrityProtectedData, 1],
    ],
  );
  const [sessionKey] = await openpgp.decryptSessionKeys({ message: await readBack(), decryptionKeys: keys });
  assert.equal(sessionKey.algorithm, 'aes128');
  const decrypted = await (await readBack()).decrypt(keys);
  const inner = [...decrypted.packets] as unknown as { constructor: { tag: number }; format: number; filename: string; date: Date }[];
  assert.deepEqual(inner.map((packet) => packet.constructor.tag), [openpgp.enums.packet.literalData]);
  // WAL-G writes 'u' here; we write 'b' so that gpg -d does not rewrite CR LF (see src/crypto/openpgp.ts).
  assert.equal(inner[0].format, openpgp.enums.literal.binary);
  assert.equal(inner[0].filename, '');
  assert.equal(inner[0].date.getTime(), 0);
  assert.equal(Buffer.from(decrypted.getLiteralData() as Uint8Array).toString(), 'hello world');
});

test('openpgp encrypts to every key in the key ring, and each private key can decrypt', async () => {
  const packets = new openpgp.PacketList();
  for (const armor of [FIXTURE_KEY, otherKey.privateKey]) {
    for (const key of await openpgp.readKeys({ armoredKeys: armor })) packets.push(...key.toPacketList());
  }
  const armoredRing = openpgp.armor(openpgp.enums.armor.privateKey, packets.write());
  const ringCrypter = new OpenPgpCrypter(inlineOpenPgpKey(armoredRing), PASSPHRASE);
  assert.equal((await ringCrypter.recipients()).length, 2);
  const ciphertext = await through(ringCrypter.encrypter(), [Buffer.from('to both')]);
  const message = await openpgp.readMessage({ binaryMessage: new Uint8Array(ciphertext) });
  assert.equal(message.getEncryptionKeyIDs().length, 2);
  const otherCrypter = new OpenPgpCrypter(inlineOpenPgpKey(otherKey.privateKey));
  assert.equal((await through(otherCrypter.decrypter(), [ciphertext])).toString(), 'to both');
  assert.equal((await through(fixtureCrypter.decrypter(), [ciphertext])).toString(), 'to both');
});

test('openpgp cipher choice follows go-crypto: AES-128 if every key allows it, else AES-256 if all allow that, else AES-128', async () => {
  const keyPreferring = (...algorithms: number[]): openpgp.PublicKey =>
    ({ getPrimarySelfSignature: async () => ({ preferredSymmetricAlgorithms: algorithms }) }) as unknown as openpgp.PublicKey;
  const { aes128, aes192, aes256 } = openpgp.enums.symmetric;
  assert.equal(await chooseSymmetricAlgorithm([keyPreferring(aes256, aes192, aes128)]), 'aes128');
  assert.equal(await chooseSymmetricAlgorithm([keyPreferring(aes256, aes192)]), 'aes256');
  assert.equal(await chooseSymmetricAlgorithm([keyPreferring(aes192)]), 'aes128');
  assert.equal(await chooseSymmetricAlgorithm([keyPreferring(aes256, aes128), keyPreferring(aes256)]), 'aes256');
  assert.equal(await chooseSymmetricAlgorithm([keyPreferring(aes128), keyPreferring(aes256)]), 'aes128');
});

// ---- round trips ----

for (const size of [0, 1, 8191, 8192, 8193, 3 * 1024 * 1024 + 5]) {
  test(`openpgp round trip of ${size} bytes written in odd pieces gives the input back`, async () => {
    const plaintext = randomBytes(size);
    const ciphertext = await through(fixtureCrypter.encrypter(), oddPieces(plaintext));
    const decrypted = await through(fixtureCrypter.decrypter(), oddPieces(ciphertext, [5, 8209, 17, 70_001, 1]));
    assert.ok(decrypted.equals(plaintext));
  });
}

test('WALG_PGP_KEY with literal \\n escapes is read like a multi-line key', async () => {
  const escaped = FIXTURE_KEY.trim().replaceAll('\n', '\\n');
  assert.ok(!escaped.includes('\n'));
  const crypter = new OpenPgpCrypter(inlineOpenPgpKey(escaped), PASSPHRASE);
  const ciphertext = await through(crypter.encrypter(), [Buffer.from('escaped')]);
  assert.equal((await through(crypter.decrypter(), [ciphertext])).toString(), 'escaped');
});

test('WALG_PGP_KEY_PATH reads an armored key file and rejects a binary one', async () => {
  const armoredPath = join(scratch, 'key.asc');
  writeFileSync(armoredPath, FIXTURE_KEY);
  const crypter = new OpenPgpCrypter(openPgpKeyFile(armoredPath), PASSPHRASE);
  const ciphertext = await through(crypter.encrypter(), [Buffer.from('from a file')]);
  assert.equal((await through(crypter.decrypter(), [ciphertext])).toString(), 'from a file');

  const binaryPath = join(scratch, 'key.gpg');
  writeFileSync(binaryPath, (await openpgp.readKey({ armoredKey: otherKey.publicKey })).write());
  const error = await rejection(through(new OpenPgpCrypter(openPgpKeyFile(binaryPath)).encrypter(), [Buffer.from('x')]));
  assert.match(error.message, /^openpgp: WALG_PGP_KEY_PATH \(.*key\.gpg\) is not a usable ASCII-armored OpenPGP key ring/);

  const missing = await rejection(through(new OpenPgpCrypter(openPgpKeyFile(join(scratch, 'nope'))).encrypter(), [Buffer.from('x')]));
  assert.match(missing.message, /^openpgp: cannot read the key file .*nope named by WALG_PGP_KEY_PATH: ENOENT$/);
});

test('an unprotected private key decrypts whether or not WALG_PGP_KEY_PASSPHRASE is set', async () => {
  for (const passphrase of [undefined, 'ignored']) {
    const crypter = new OpenPgpCrypter(inlineOpenPgpKey(otherKey.privateKey), passphrase);
    const ciphertext = await through(crypter.encrypter(), [Buffer.from('plain key')]);
    assert.equal((await through(crypter.decrypter(), [ciphertext])).toString(), 'plain key');
  }
});

// ---- gpg interop ----

test('gpg decrypts what the openpgp encrypter writes', { skip: noGpg }, async () => {
  prepareGpg();
  for (const plaintext of [randomBytes(3 * 1024 * 1024 + 17), Buffer.alloc(0), Buffer.from('line one\r\nline two\n')]) {
    const ciphertext = await through(fixtureCrypter.encrypter(), oddPieces(plaintext));
    assert.ok(gpg(['--decrypt'], ciphertext).equals(plaintext));
  }
});

test('the openpgp decrypter reads what gpg -e writes (compressed, to the fixture key)', { skip: noGpg }, async () => {
  prepareGpg();
  const plaintext = Buffer.concat([randomBytes(1024 * 1024), Buffer.alloc(2 * 1024 * 1024, 'compressible ')]);
  const ciphertext = gpg(['--trust-model', 'always', '--encrypt', '--recipient', FIXTURE_KEY_ID], plaintext);
  const decrypted = await through(fixtureCrypter.decrypter(), oddPieces(ciphertext));
  assert.ok(decrypted.equals(plaintext));
  const uncompressed = gpg(['--trust-model', 'always', '--compress-algo', 'none', '--encrypt', '--recipient', FIXTURE_KEY_ID], plaintext);
  assert.ok((await through(fixtureCrypter.decrypter(), [uncompressed])).equals(plaintext));
});

// ---- errors ----

test('openpgp decryption with another private key asks whether it is the right key and names the recipients', async () => {
  const ciphertext = await through(fixtureCrypter.encrypter(), [Buffer.from('secret')]);
  const wrong = new OpenPgpCrypter(inlineOpenPgpKey(otherKey.privateKey));
  const error = await rejection(through(wrong.decrypter(), [ciphertext]));
  assert.match(error.message, /^openpgp: decryption failed — is WALG_PGP_KEY the private key this object was encrypted to\? \(it is encrypted to key 5F932568A5B902F9\)$/);
});

test('a wrong WALG_PGP_KEY_PASSPHRASE is reported without echoing it', async () => {
  const ciphertext = await through(fixtureCrypter.encrypter(), [Buffer.from('secret')]);
  const error = await rejection(through(new OpenPgpCrypter(inlineOpenPgpKey(FIXTURE_KEY), 'not-the-passphrase').decrypter(), [ciphertext]));
  assert.equal(error.message, `openpgp: WALG_PGP_KEY_PASSPHRASE does not unlock the private key ${FIXTURE_KEY_ID} in WALG_PGP_KEY`);
});

test('a protected private key without WALG_PGP_KEY_PASSPHRASE asks for it', async () => {
  const ciphertext = await through(fixtureCrypter.encrypter(), [Buffer.from('secret')]);
  const error = await rejection(through(new OpenPgpCrypter(inlineOpenPgpKey(FIXTURE_KEY)).decrypter(), [ciphertext]));
  assert.match(error.message, /is protected by a passphrase; set WALG_PGP_KEY_PASSPHRASE$/);
});

test('decrypting with only a public key says the private key is needed', async () => {
  const publicOnly = new OpenPgpCrypter(inlineOpenPgpKey(otherKey.publicKey));
  const ciphertext = await through(publicOnly.encrypter(), [Buffer.from('pushed with the public key')]);
  const error = await rejection(through(publicOnly.decrypter(), [ciphertext]));
  assert.match(error.message, /^openpgp: WALG_PGP_KEY holds only public keys; decrypting needs the private key/);
  assert.doesNotMatch(error.message, /BEGIN PGP/);
});

test('a truncated OpenPGP object fails the stream', async () => {
  const ciphertext = await through(fixtureCrypter.encrypter(), [randomBytes(300_000)]);
  for (const length of [ciphertext.length - 1, ciphertext.length - 30, 150_000, 280, 100]) {
    const error = await rejection(through(fixtureCrypter.decrypter(), [ciphertext.subarray(0, length)]));
    assert.match(error.message, /^openpgp: (truncated object|the object is not a valid OpenPGP message|decryption failed)/, `cut at ${length}: ${error.message}`);
  }
});

test('a flipped byte in an OpenPGP object fails the integrity check', async () => {
  const ciphertext = await through(fixtureCrypter.encrypter(), [randomBytes(300_000)]);
  for (const position of [1000, 150_000, ciphertext.length - 5]) {
    const damaged = Buffer.from(ciphertext);
    damaged[position] ^= 0x01;
    const error = await rejection(through(fixtureCrypter.decrypter(), [damaged]));
    assert.match(error.message, /^openpgp: damaged object: the integrity check failed/, `byte ${position}: ${error.message}`);
  }
});

test('data that is not an OpenPGP message is rejected with a hint', async () => {
  const error = await rejection(through(fixtureCrypter.decrypter(), [Buffer.from('plainly not encrypted')]));
  assert.match(error.message, /^openpgp: the object is not a valid OpenPGP message .*another encryption setting/);
});

test('encrypting to a key without an encryption subkey says so', async () => {
  const signOnly = await openpgp.generateKey({ userIDs: [{ name: 'signer' }], subkeys: [], format: 'armored' });
  const error = await rejection(through(new OpenPgpCrypter(inlineOpenPgpKey(signOnly.publicKey)).encrypter(), [Buffer.from('x')]));
  assert.match(error.message, /^openpgp: cannot encrypt to WALG_PGP_KEY: .*no valid encryption subkey/);
});

// ---- stream behaviour ----

test('openpgp streams keep working through a slow consumer (backpressure does not stall)', async () => {
  const plaintext = randomBytes(2 * 1024 * 1024 + 3);
  const slowSink = (parts: Buffer[]) =>
    new Writable({
      highWaterMark: 1,
      write(chunk: Buffer, _encoding, done) {
        parts.push(chunk);
        setImmediate(done);
      },
    });
  const sealed: Buffer[] = [];
  await pipeline(Readable.from(oddPieces(plaintext)), fixtureCrypter.encrypter(), slowSink(sealed));
  const opened: Buffer[] = [];
  await pipeline(Readable.from(oddPieces(Buffer.concat(sealed))), fixtureCrypter.decrypter(), slowSink(opened));
  assert.ok(Buffer.concat(opened).equals(plaintext));
});

test('an openpgp stream whose source fails reports the source error and does not hang', async () => {
  const ciphertext = await through(fixtureCrypter.encrypter(), [randomBytes(500_000)]);
  async function* brokenSource() {
    yield ciphertext.subarray(0, 200_000);
    throw new Error('connection reset by storage');
  }
  await assert.rejects(
    pipeline(Readable.from(brokenSource()), fixtureCrypter.decrypter(), new Writable({ write: (_chunk, _encoding, done) => done() })),
    /connection reset by storage/,
  );
});
