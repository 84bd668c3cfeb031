// Pins which crypter the settings select, in WAL-G's order, and the "can't configure crypter" errors.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { WalgError } from '../../src/errors.ts';
import { crypterFromSettings } from '../../src/crypto/select-crypter.ts';
import { externalGpgKeySource } from '../../src/crypto/external-gpg.ts';

const SODIUM_KEY_BASE64 = '8L6DsZI/Ff3eRywJbLknqTc2WJWQy3DUoHQawdQH+Ww=';
const ARMORED = '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnot parsed until used\n-----END PGP PUBLIC KEY BLOCK-----';

function settings(values: Record<string, string>): (name: string) => string | undefined {
  return (name) => values[name];
}

function configureError(values: Record<string, string>): string {
  try {
    crypterFromSettings(settings(values));
  } catch (err) {
    assert.ok(err instanceof WalgError);
    return err.message;
  }
  assert.fail('expected a configuration error');
}

async function through(transform: Transform, input: Buffer): Promise<Buffer> {
  const parts: Buffer[] = [];
  await pipeline(Readable.from([input]), transform, async (source: AsyncIterable<Buffer>) => {
    for await (const part of source) parts.push(part);
  });
  return Buffer.concat(parts);
}

test('no encryption setting means no crypter', () => {
  assert.equal(crypterFromSettings(settings({})), undefined);
  assert.equal(crypterFromSettings(settings({ WALG_LIBSODIUM_KEY_TRANSFORM: 'base64', WALG_PGP_KEY_PASSPHRASE: 'x' })), undefined);
});

test('empty values count as unset', () => {
  assert.equal(crypterFromSettings(settings({ WALG_PGP_KEY: '', WALG_LIBSODIUM_KEY: '' })), undefined);
});

test('WALG_LIBSODIUM_KEY selects libsodium with WALG_LIBSODIUM_KEY_TRANSFORM', async () => {
  const crypter = crypterFromSettings(settings({ WALG_LIBSODIUM_KEY: SODIUM_KEY_BASE64, WALG_LIBSODIUM_KEY_TRANSFORM: 'base64' }));
  assert.equal(crypter?.kind, 'libsodium');
  const sealed = await through(crypter.encrypter(), Buffer.from('abc'));
  assert.equal((await through(crypter.decrypter(), sealed)).toString(), 'abc');
});

test('WALG_LIBSODIUM_KEY wins over WALG_LIBSODIUM_KEY_PATH, and the path is used alone', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'walnut-select-'));
  try {
    const path = join(dir, 'key');
    writeFileSync(path, `${Buffer.from(SODIUM_KEY_BASE64, 'base64').toString('hex')}\n`);
    const fromPath = crypterFromSettings(settings({ WALG_LIBSODIUM_KEY_PATH: path, WALG_LIBSODIUM_KEY_TRANSFORM: 'hex' }));
    const inline = crypterFromSettings(settings({ WALG_LIBSODIUM_KEY: SODIUM_KEY_BASE64, WALG_LIBSODIUM_KEY_PATH: path, WALG_LIBSODIUM_KEY_TRANSFORM: 'base64' }));
    assert.ok(fromPath && inline);
    const sealed = await through(inline.encrypter(), Buffer.from('same key'));
    assert.equal((await through(fromPath.decrypter(), sealed)).toString(), 'same key');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the default key transform is none', () => {
  assert.equal(configureError({ WALG_LIBSODIUM_KEY: SODIUM_KEY_BASE64.slice(0, 20) }),
    "can't configure crypter: libsodium Crypter: during key transform: key length must not be less than 25, got 20; check WALG_LIBSODIUM_KEY and WALG_LIBSODIUM_KEY_TRANSFORM");
  assert.equal(crypterFromSettings(settings({ WALG_LIBSODIUM_KEY: 'x'.repeat(25) }))?.kind, 'libsodium');
});

test('libsodium key errors are configuration errors with WAL-G texts', () => {
  assert.match(configureError({ WALG_LIBSODIUM_KEY: 'abcd', WALG_LIBSODIUM_KEY_TRANSFORM: 'hex' }),
    /^can't configure crypter: libsodium Crypter: during key transform: key must be exactly 32 bytes \(got 2 bytes\)/);
  assert.match(configureError({ WALG_LIBSODIUM_KEY: 'abcd', WALG_LIBSODIUM_KEY_TRANSFORM: 'b64' }),
    /unknown key transform 'b64' \(must be base64, hex or none\)/);
  assert.match(configureError({ WALG_LIBSODIUM_KEY_PATH: '/nonexistent/key' }),
    /^can't configure crypter: libsodium Crypter: unable to read key from file \/nonexistent\/key/);
});

test('OpenPGP comes first: WALG_PGP_KEY beats every other method', () => {
  const crypter = crypterFromSettings(settings({
    WALG_PGP_KEY: ARMORED,
    WALG_CSE_KMS_ID: 'arn:aws:kms:key',
    YC_CSE_KMS_KEY_ID: 'yc-key',
    WALG_LIBSODIUM_KEY: SODIUM_KEY_BASE64,
  }));
  assert.equal(crypter?.kind, 'openpgp');
  assert.equal(crypterFromSettings(settings({ WALG_PGP_KEY_PATH: '/some/key.asc' }))?.kind, 'openpgp');
});

test('plain and envelope OpenPGP together are refused with WAL-G text', () => {
  assert.equal(configureError({ WALG_PGP_KEY: ARMORED, WALG_ENVELOPE_PGP_KEY: 'abc' }),
    "can't configure crypter: there is no way to configure plain gpg and envelope gpg at the same time, please choose one");
  assert.match(configureError({ GPG_KEY_ID: 'x', WALG_ENVELOPE_PGP_KEY_PATH: '/k' }), /plain gpg and envelope gpg/);
});

test('envelope OpenPGP needs its KMS key id, then is reported as not supported yet', () => {
  assert.equal(configureError({ WALG_ENVELOPE_PGP_KEY: 'abc' }),
    "can't configure crypter: yandex cloud KMS key for client-side encryption and decryption must be configured");
  assert.match(configureError({ WALG_ENVELOPE_PGP_KEY_PATH: '/k', WALG_ENVELOPE_PGP_YC_CSE_KMS_KEY_ID: 'id' }),
    /^can't configure crypter: envelope OpenPGP .* \(WALG_ENVELOPE_PGP_KEY \/ WALG_ENVELOPE_PGP_KEY_PATH\) is not supported yet/);
});

test('KMS methods are reported as not supported yet, in WAL-G order, before libsodium', () => {
  assert.match(configureError({ WALG_CSE_KMS_ID: 'arn', YC_CSE_KMS_KEY_ID: 'yc', WALG_LIBSODIUM_KEY: SODIUM_KEY_BASE64 }),
    /^can't configure crypter: AWS KMS client-side encryption \(WALG_CSE_KMS_ID\) is not supported yet/);
  assert.match(configureError({ YC_CSE_KMS_KEY_ID: 'yc', WALG_LIBSODIUM_KEY: SODIUM_KEY_BASE64 }),
    /^can't configure crypter: Yandex Cloud KMS client-side encryption \(YC_CSE_KMS_KEY_ID\) is not supported yet/);
});

test('bare GPG_KEY_ID enters the legacy path, which reads the id from WALG_GPG_KEY_ID or WALE_GPG_KEY_ID', () => {
  assert.equal(configureError({ GPG_KEY_ID: 'ABCDEF' }), "can't configure crypter: there is no any supported gpg crypter configuration");
  assert.equal(crypterFromSettings(settings({ GPG_KEY_ID: 'x', WALE_GPG_KEY_ID: 'ABCDEF' }))?.kind, 'openpgp');
  // WAL-G quirk: without the bare GPG_KEY_ID the prefixed ids alone configure nothing.
  assert.equal(crypterFromSettings(settings({ WALE_GPG_KEY_ID: 'ABCDEF' })), undefined);
});

test('the legacy key source exports through gpg and caches the public key in WAL-G format', () => {
  const dir = mkdtempSync(join(tmpdir(), 'walnut-gpg-'));
  try {
    const fakeGpg = join(dir, 'gpg');
    const calls = join(dir, 'calls');
    writeFileSync(fakeGpg, `#!/bin/sh\necho "$@" >> ${calls}\necho "ARMOR for $3"\n`);
    chmodSync(fakeGpg, 0o755);
    const cacheFile = join(dir, 'cache.json');
    const source = externalGpgKeySource('ABCDEF', { gpgBinary: fakeGpg, cacheFile });
    assert.equal(source.publicKeyArmor(), 'ARMOR for ABCDEF\n');
    assert.equal(source.publicKeyArmor(), 'ARMOR for ABCDEF\n'); // from the cache this time
    assert.equal(source.privateKeyArmor(), 'ARMOR for ABCDEF\n');
    assert.deepEqual(readLines(calls), ['-a --export ABCDEF', '-a --export-secret-key ABCDEF']);
    const cache = JSON.parse(readText(cacheFile)) as { keyId: string; body: string };
    assert.equal(cache.keyId, 'ABCDEF');
    assert.equal(Buffer.from(cache.body, 'base64').toString(), 'ARMOR for ABCDEF\n');

    const complaining = join(dir, 'gpg-complaining');
    writeFileSync(complaining, '#!/bin/sh\necho "gpg: WARNING: nothing exported" >&2\n');
    chmodSync(complaining, 0o755);
    assert.throws(() => externalGpgKeySource('NOPE', { gpgBinary: complaining, cacheFile: undefined }).publicKeyArmor(), {
      message: "Got error while exporting gpg key: 'gpg: WARNING: nothing exported'",
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function readText(path: string): string {
  return readFileSync(path, 'utf8');
}
function readLines(path: string): string[] {
  return readText(path).trim().split('\n');
}
