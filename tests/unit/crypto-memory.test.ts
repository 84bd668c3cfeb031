// Measures that both crypters stream: 256 MiB through encrypt → decrypt in a child process stays far below 256 MiB of growth.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SOURCE_ROOT = fileURLToPath(new URL('../../src/crypto/', import.meta.url));
const STREAM_MIB = 256;
// Holding the object (or even half of it) anywhere would exceed this; GC slack and buffers stay well under it.
const GROWTH_LIMIT_MIB = 128;

// Runs in the child: sets up the crypter, records the resident size, then streams STREAM_MIB of
// generated data through encrypter → decrypter into a hash and reports peak (VmHWM) against that baseline.
const CHILD = `
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
const { LibsodiumCrypter } = await import(${JSON.stringify(`${SOURCE_ROOT}libsodium.ts`)});
const { OpenPgpCrypter, inlineOpenPgpKey } = await import(${JSON.stringify(`${SOURCE_ROOT}openpgp.ts`)});
const kib = (field) => Number(readFileSync('/proc/self/status', 'utf8').match(new RegExp(field + ':\\\\s+(\\\\d+)'))[1]);
let crypter;
if (process.env.CRYPTER === 'libsodium') {
  crypter = new LibsodiumCrypter(Buffer.alloc(32, 9));
} else {
  const manifest = JSON.parse(readFileSync('/work/shared/compat-fixtures/pg14-brotli-pgp-remote/manifest.json', 'utf8'));
  crypter = new OpenPgpCrypter(inlineOpenPgpKey(manifest.settings.WALG_PGP_KEY), manifest.settings.WALG_PGP_KEY_PASSPHRASE);
  await crypter.recipients();
  await crypter.decryptionKeys();
}
function source(mib, hash) {
  let left = mib * 1024 * 1024;
  let counter = 0;
  return new Readable({
    read() {
      if (left <= 0) return this.push(null);
      const block = Buffer.alloc(Math.min(left, 65536 + 13), counter++ & 0xff);
      block.writeUInt32LE(counter, 0);
      left -= block.length;
      hash.update(block);
      this.push(block);
    },
  });
}
async function roundTrip(mib) {
  const sent = createHash('sha256');
  const received = createHash('sha256');
  let bytes = 0;
  await pipeline(source(mib, sent), crypter.encrypter(), crypter.decrypter(), new Writable({
    write(chunk, _encoding, done) { bytes += chunk.length; received.update(chunk); done(); },
  }));
  return { bytes, same: sent.digest('hex') === received.digest('hex') };
}
await roundTrip(1); // warm up code paths before taking the baseline
const baselineKiB = kib('VmRSS');
const result = await roundTrip(${STREAM_MIB});
console.log(JSON.stringify({ ...result, baselineKiB, peakKiB: kib('VmHWM') }));
`;

function runScript(script: string, env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (data: Buffer) => (stdout += data));
    child.stderr.on('data', (data: Buffer) => (stderr += data));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`child exited ${code}: ${stderr}`));
      resolve(stdout.trim().split('\n').pop() ?? '{}');
    });
  });
}

async function runChild(crypter: string): Promise<{ bytes: number; same: boolean; baselineKiB: number; peakKiB: number }> {
  return JSON.parse(await runScript(CHILD, { CRYPTER: crypter }));
}

test('unlocking a gpg-made private key (65 MiB iterated S2K) does not allocate the S2K input at once', async () => {
  const script = `
    import { readFileSync } from 'node:fs';
    const { OpenPgpCrypter, inlineOpenPgpKey } = await import(${JSON.stringify(`${SOURCE_ROOT}openpgp.ts`)});
    const kib = (field) => Number(readFileSync('/proc/self/status', 'utf8').match(new RegExp(field + ':\\\\s+(\\\\d+)'))[1]);
    const manifest = JSON.parse(readFileSync('/work/shared/compat-fixtures/pg14-brotli-pgp-remote/manifest.json', 'utf8'));
    const crypter = new OpenPgpCrypter(inlineOpenPgpKey(manifest.settings.WALG_PGP_KEY), manifest.settings.WALG_PGP_KEY_PASSPHRASE);
    await crypter.recipients();
    const baselineKiB = kib('VmRSS');
    const keys = await crypter.decryptionKeys();
    console.log(JSON.stringify({ unlocked: keys.every((key) => key.isDecrypted()), baselineKiB, peakKiB: kib('VmHWM') }));
  `;
  const result = JSON.parse(await runScript(script, {})) as { unlocked: boolean; baselineKiB: number; peakKiB: number };
  assert.ok(result.unlocked);
  const growthMiB = (result.peakKiB - result.baselineKiB) / 1024;
  assert.ok(growthMiB < 32, `unlocking grew the peak by ${growthMiB.toFixed(1)} MiB`);
});

for (const crypter of ['libsodium', 'openpgp']) {
  test(`${crypter} encrypts and decrypts ${STREAM_MIB} MiB with less than ${GROWTH_LIMIT_MIB} MiB of memory growth`, async () => {
    const result = await runChild(crypter);
    assert.equal(result.bytes, STREAM_MIB * 1024 * 1024);
    assert.ok(result.same, 'the plaintext came back unchanged');
    const growthMiB = (result.peakKiB - result.baselineKiB) / 1024;
    assert.ok(growthMiB < GROWTH_LIMIT_MIB, `peak grew ${growthMiB.toFixed(1)} MiB above the ${(result.baselineKiB / 1024).toFixed(1)} MiB baseline`);
  });
}
