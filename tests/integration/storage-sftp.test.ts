// The SFTP driver against a private OpenSSH server: the shared conformance suite, key and password logins, WAL-G's
// settings and their errors, plain files on the server, a 1 GiB streamed round trip with bounded memory, and a
// server that dies mid-upload.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Folder, NotFoundError } from '../../src/storage/driver.ts';
import { openSftpStorage, readSftpSettings } from '../../src/storage/sftp.ts';
import { openStorage } from '../../src/storage/open.ts';
import { isTransientStorageError } from '../../src/storage/retry.ts';
import { WalgError } from '../../src/errors.ts';
import { bodyOf, collect, readAll, storageConformance } from '../helpers/storage-conformance.ts';
import { startSshd } from '../helpers/sshd-server.ts';
import type { SshdServer } from '../helpers/sshd-server.ts';
import { makeTempDir, removeTempDir } from '../helpers/tmp.ts';

const GIB = 1024 * 1024 * 1024;
/** Peak RSS allowed to the child that moves 1 GiB (8 requests of 255 KiB in flight per transfer). */
const BIG_OBJECT_RSS_LIMIT_MIB = 224;
const runningAsRoot = process.getuid?.() === 0;

let sshd: SshdServer;

before(async () => {
  sshd = await startSshd({ password: runningAsRoot });
});
after(() => sshd?.cleanup());

type Settings = Record<string, string>;

function lookup(values: Settings): (name: string) => string | undefined {
  return (name) => values[name];
}

function keySettings(server: SshdServer, extra: Settings = {}): Settings {
  return { SSH_PORT: String(server.port), SSH_USERNAME: server.user, SSH_PRIVATE_KEY_PATH: server.privateKeyPath, ...extra };
}

async function openFolder(root: string, settings: Settings = keySettings(sshd)): Promise<Folder> {
  return new Folder(await openSftpStorage(`ssh://127.0.0.1${root}`, lookup(settings)));
}

storageConformance('sftp', () => openFolder(sshd.makeStorageDirectory()));

describe('sftp settings', () => {
  test('host, port and the remote root come from the prefix and SSH_PORT, defaulting to 22', async () => {
    const settings = await readSftpSettings('ssh://backup.example.test/srv/wal-g', lookup({ SSH_USERNAME: 'postgres' }));
    assert.equal(settings.host, 'backup.example.test');
    assert.equal(settings.port, 22);
    assert.equal(settings.address, 'backup.example.test:22');
    assert.equal(settings.rootPath, '/srv/wal-g/');
    assert.equal(settings.username, 'postgres');
    const ported = await readSftpSettings('ssh://backup.example.test:2222', lookup({}));
    assert.equal(ported.port, 2222, 'a port in the prefix counts when SSH_PORT is unset');
    assert.equal(ported.rootPath, '', 'no path: the login directory');
    const overridden = await readSftpSettings('ssh://backup.example.test:2222/x', lookup({ SSH_PORT: '2200' }));
    assert.equal(overridden.port, 2200);
    const v6 = await readSftpSettings('ssh://[::1]:2022/x', lookup({}));
    assert.equal(v6.host, '::1');
    assert.equal(v6.address, '[::1]:2022');
  });

  test('a bad SSH_PORT is refused before any connection', async () => {
    await assert.rejects(readSftpSettings('ssh://h/x', lookup({ SSH_PORT: 'ssh' })), {
      message: 'create SSH storage: invalid port "ssh" in SSH_PORT: give a number from 1 to 65535',
    });
  });

  test('an unreadable or invalid private key is reported in WAL-G words, wrapped with the prefix', async () => {
    await assert.rejects(
      openStorage({ kind: 'ssh', value: 'ssh://h/x' }, lookup({ SSH_PRIVATE_KEY_PATH: '/nonexistent/id_ed25519' })),
      {
        message:
          'configure storage with prefix "ssh://h/x": create SSH storage: read SSH private key: open /nonexistent/id_ed25519: no such file or directory',
      },
    );
    const directory = makeTempDir();
    try {
      const garbage = join(directory, 'garbage');
      writeFileSync(garbage, 'not a key\n');
      await assert.rejects(openStorage({ kind: 'ssh', value: 'ssh://h/x' }, lookup({ SSH_PRIVATE_KEY_PATH: garbage })), {
        message: /^configure storage with prefix "ssh:\/\/h\/x": create SSH storage: parse SSH private key: /,
      });
    } finally {
      removeTempDir(directory);
    }
  });

  test('a prefix without a host is refused in WAL-G words', async () => {
    await assert.rejects(openStorage({ kind: 'ssh', value: 'ssh:///x' }, lookup({})), {
      message: 'configure storage with prefix "ssh:///x": parse SSH storage prefix "ssh:///x": missing url scheme="ssh" and/or host=""',
    });
  });
});

describe('sftp storage against OpenSSH', () => {
  test('openStorage with WALG_SSH_PREFIX writes plain files under the remote root, owned by the SSH user', async () => {
    const root = sshd.makeStorageDirectory();
    const folder = await openStorage({ kind: 'ssh', value: `ssh://127.0.0.1${root}` }, lookup(keySettings(sshd)));
    try {
      await folder.put('basebackups_005/base_000000010000000000000002_backup_stop_sentinel.json', bodyOf('{"LSN":1}'));
      const path = join(root, 'basebackups_005/base_000000010000000000000002_backup_stop_sentinel.json');
      assert.equal(readFileSync(path, 'utf8'), '{"LSN":1}');
      assert.deepEqual(readdirSync(join(root, 'basebackups_005')), ['base_000000010000000000000002_backup_stop_sentinel.json']);
      if (runningAsRoot) assert.notEqual(statSync(path).uid, 0, 'written by the SSH user, not by root');
    } finally {
      await folder.close();
    }
  });

  test('password login works on its own', { skip: runningAsRoot ? false : 'password logins need root to set a password' }, async () => {
    const folder = await openFolder(sshd.makeStorageDirectory(), {
      SSH_PORT: String(sshd.port),
      SSH_USERNAME: sshd.user,
      SSH_PASSWORD: sshd.password!,
    });
    try {
      await folder.put('by-password', bodyOf('ok'));
      assert.equal((await readAll(await folder.get('by-password'))).toString(), 'ok');
    } finally {
      await folder.close();
    }
  });

  test('a refused login names the address and does not show the password', { skip: runningAsRoot ? false : 'needs password logins' }, async () => {
    const wrongPassword = `wrong-${randomBytes(6).toString('hex')}`;
    const folder = await openFolder(sshd.makeStorageDirectory(), { SSH_PORT: String(sshd.port), SSH_USERNAME: sshd.user, SSH_PASSWORD: wrongPassword });
    try {
      const error = await folder.stat('x').then(
        () => assert.fail('stat with a wrong password succeeded'),
        (failure: unknown) => failure,
      );
      assert.ok(error instanceof WalgError);
      assert.match(error.message, new RegExp(`^lazy SSH connection error: failed to connect to 127\\.0\\.0\\.1:${sshd.port} via SSH: .*authentication`, 'i'));
      assert.ok(!error.message.includes(wrongPassword));
      assert.equal(isTransientStorageError(error), false, 'a refused login is not retried');
      const refused = await openFolder(sshd.makeStorageDirectory(), keySettings(sshd, { SSH_PORT: '1' }));
      const unreachable = await refused.stat('x').then(
        () => assert.fail('stat with nothing listening succeeded'),
        (failure: unknown) => failure,
      );
      assert.equal(isTransientStorageError(unreachable), true, 'a refused connection is retried');
      await refused.close();
    } finally {
      await folder.close();
    }
  });

  test('nothing listening: the error names the address', async () => {
    const folder = await openFolder('/tmp', keySettings(sshd, { SSH_PORT: '1' }));
    await assert.rejects(folder.get('x'), { message: /^lazy SSH connection error: failed to connect to 127\.0\.0\.1:1 via SSH: .*ECONNREFUSED/ });
    await folder.close();
  });

  test('temporary files never show and never remain, after a good or a failed put', async () => {
    const root = sshd.makeStorageDirectory();
    const folder = await openFolder(root);
    try {
      await folder.put('dir/ok', bodyOf('fine'));
      const failing = new Readable({ read() {} });
      const putting = folder.put('dir/broken', failing);
      failing.push(Buffer.alloc(600 * 1024, 7));
      await sleep(100);
      failing.destroy(new Error('upstream broke'));
      await assert.rejects(putting, /upstream broke/);
      assert.deepEqual(readdirSync(join(root, 'dir')), ['ok']);
    } finally {
      await folder.close();
    }
  });

  test('a key without a path means the login directory', { skip: runningAsRoot ? false : 'the test user exists only as root' }, async () => {
    const folder = await new Folder(await openSftpStorage('ssh://127.0.0.1', lookup(keySettings(sshd))));
    const key = `walnut-login-directory-test-${randomBytes(6).toString('hex')}`;
    try {
      await folder.put(key, bodyOf('home'));
      assert.equal(readFileSync(join('/home', sshd.user, key), 'utf8'), 'home');
    } finally {
      await folder.deleteMany([key]);
      await folder.close();
    }
    assert.equal(existsSync(join('/home', sshd.user, key)), false);
  });

  test('many transfers at once share one connection', async () => {
    const folder = await openFolder(sshd.makeStorageDirectory());
    try {
      const blobs = Array.from({ length: 24 }, () => randomBytes(300 * 1024 + Math.floor(Math.random() * 1000)));
      await Promise.all(blobs.map((blob, index) => folder.put(`parallel/${index}`, bodyOf(blob))));
      const read = await Promise.all(blobs.map(async (_, index) => readAll(await folder.get(`parallel/${index}`))));
      read.forEach((data, index) => assert.ok(data.equals(blobs[index]), `object ${index}`));
    } finally {
      await folder.close();
    }
  });

  test(`a 1 GiB object streams up and down in a child process whose peak RSS stays under ${BIG_OBJECT_RSS_LIMIT_MIB} MiB`, async () => {
    const root = sshd.makeStorageDirectory();
    const result = await streamBigObjectInChild({
      module: join(import.meta.dirname, '../../src/storage/sftp.ts'),
      open: 'openSftpStorage',
      prefix: `ssh://127.0.0.1${root}`,
      settings: keySettings(sshd),
      size: GIB,
    });
    assert.equal(result.statSize, GIB);
    assert.equal(result.received, GIB);
    assert.equal(result.receivedSha256, result.sentSha256, 'downloaded bytes differ from the uploaded ones');
    assert.ok(result.maxRssMiB < BIG_OBJECT_RSS_LIMIT_MIB, `peak RSS ${result.maxRssMiB} MiB`);
  });

  test('sshd killed mid-upload: put rejects with a clear error, nothing appears under the name, and the driver reconnects', async (t) => {
    const crashing = await startSshd();
    t.after(() => crashing[Symbol.asyncDispose]());
    const root = crashing.makeStorageDirectory();
    const driver = await openSftpStorage(`ssh://127.0.0.1${root}`, lookup(keySettings(crashing)));
    try {
      const body = new Readable({ read() {} });
      // Settled at once, so the rejection is never "unhandled" while the server is being killed.
      const putting = driver.put('basebackups_005/part_001.tar.lz4', body).then(
        () => assert.fail('put succeeded with the server gone'),
        (failure: unknown) => failure,
      );
      body.push(Buffer.alloc(4 * 1024 * 1024, 1));
      // Bytes are on the server (in the hidden temporary file) before it dies.
      for (let waited = 0; !temporaryFileHasData(join(root, 'basebackups_005')); waited += 20) {
        assert.ok(waited < 30_000, 'the upload never started writing');
        await sleep(20);
      }
      await crashing.stop();
      body.push(Buffer.alloc(4 * 1024 * 1024, 2));
      body.push(null);

      const error = await putting;
      assert.ok(error instanceof WalgError, String(error));
      assert.equal(error.exitCode, 1);
      assert.match(error.message, new RegExp(`(write data to file|close file|sync file|create file) "${root}/basebackups_005/part_001\\.tar\\.lz4"|lazy SSH connection error`));
      assert.equal(isTransientStorageError(error), true, `a lost connection is worth a retry (src/storage/retry.ts): ${error.message}`);
      assert.equal(existsSync(join(root, 'basebackups_005/part_001.tar.lz4')), false, 'no file under the final name');

      await crashing.start();
      // The same driver opens a new connection; the half-written temporary file stays hidden.
      assert.equal(await driver.stat('basebackups_005/part_001.tar.lz4'), undefined);
      assert.deepEqual(await collect(driver.list('', { recursive: true })), []);
      await driver.put('after-restart', Readable.from([Buffer.from('back')]));
      assert.equal((await readAll(await driver.get('after-restart'))).toString(), 'back');
    } finally {
      await driver.close();
    }
  });

  test('bundled as the binary is, the driver works without JIT (the binary runs V8 --jitless, with no WebAssembly)', async (t) => {
    const { build } = await import('esbuild');
    // @ts-ignore -- the build configuration is plain JavaScript.
    const { esbuildOptions } = (await import('../../esbuild.config.mjs')) as { esbuildOptions: (options: Record<string, string>) => Record<string, unknown> };
    const directory = makeTempDir();
    try {
      const bundle = join(directory, 'sftp.cjs');
      await build({
        ...esbuildOptions({ version: 'test', revision: 'test', buildDate: 'test', entry: 'src/storage/sftp.ts', outfile: bundle }),
        outfile: bundle,
        minify: false,
      });
      if (readFileSync(bundle, 'utf8').includes('no native wasm support detected')) {
        // ssh2 then cannot connect at all: its crypto start-up needs WebAssembly for chacha20-poly1305.
        t.todo("esbuild.config.mjs must replace ssh2's lib/protocol/crypto/poly1305.js with a stub (see loadSsh2 in src/storage/sftp.ts)");
      }
      const root = sshd.makeStorageDirectory();
      const script = `
        const { openSftpStorage } = require(process.env.BUNDLE);
        const { Readable } = require('node:stream');
        const { createHash, randomBytes } = require('node:crypto');
        (async () => {
          const run = JSON.parse(process.env.RUN);
          const driver = await openSftpStorage(run.prefix, (name) => run.settings[name]);
          const data = randomBytes(8 * 1024 * 1024);
          await driver.put('jitless/object', Readable.from([data.subarray(0, 5000000), data.subarray(5000000)]));
          const hash = createHash('sha256');
          for await (const piece of await driver.get('jitless/object')) hash.update(piece);
          await driver.close();
          process.stdout.write(String(hash.digest('hex') === createHash('sha256').update(data).digest('hex')));
        })().catch((error) => { process.stderr.write(String(error && error.stack || error)); process.exit(1); });
      `;
      const node = join(import.meta.dirname, '../../node_modules/.bin/node');
      const child = spawn(node, ['--jitless', '--no-expose-wasm', '--max-old-space-size=128', '-e', script], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, BUNDLE: bundle, RUN: JSON.stringify({ prefix: `ssh://127.0.0.1${root}`, settings: keySettings(sshd) }) },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
      child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      assert.equal(code, 0, stderr);
      assert.equal(stdout, 'true', 'the bytes read back differ');
      assert.equal(stderr, '', 'nothing may reach stderr');
    } finally {
      removeTempDir(directory);
    }
  });

  test('a missing file is NotFoundError with the remote path; a directory is not an object', async () => {
    const root = sshd.makeStorageDirectory();
    const folder = await openFolder(root);
    try {
      await assert.rejects(folder.get('wal_005/000000010000000000000099.br'), {
        name: 'NotFoundError',
        message: `object '${root}/wal_005/000000010000000000000099.br' not found in storage`,
      });
      await folder.put('dir/x', bodyOf('x'));
      await assert.rejects(folder.get('dir'), NotFoundError);
      await folder.deleteMany(['dir']);
      assert.equal(await folder.exists('dir/x'), true, 'deleting a directory key leaves its contents alone');
    } finally {
      await folder.close();
    }
  });
});

/** True once a hidden temporary file with some bytes in it exists in `directory`. */
function temporaryFileHasData(directory: string): boolean {
  if (!existsSync(directory)) return false;
  return readdirSync(directory).some((name) => name.includes('.walnut-tmp-') && statSync(join(directory, name)).size > 0);
}

interface BigObjectRun {
  module: string;
  open: string;
  prefix: string;
  settings: Settings;
  size: number;
}

interface BigObjectResult {
  statSize: number;
  received: number;
  sentSha256: string;
  receivedSha256: string;
  maxRssMiB: number;
}

/**
 * Runs put + stat + get + delete of a generated object in a fresh Node process with the binary's heap limits,
 * hashing both ways; the data is made on the fly and never held whole.
 */
async function streamBigObjectInChild(run: BigObjectRun): Promise<BigObjectResult> {
  const script = `
    import { createHash, randomBytes } from 'node:crypto';
    import { Readable } from 'node:stream';
    const run = JSON.parse(process.env.WALNUT_BIG_OBJECT_RUN);
    const driver = await (await import(run.moduleUrl))[run.open](run.prefix, (name) => run.settings[name]);
    const pattern = randomBytes(1024 * 1024);
    const sent = createHash('sha256');
    function* generate() {
      for (let index = 0, produced = 0; produced < run.size; index++) {
        const piece = Buffer.allocUnsafe(Math.min(pattern.length, run.size - produced));
        pattern.copy(piece, 0, 0, piece.length);
        if (piece.length >= 4) piece.writeUInt32BE(index, 0);
        sent.update(piece);
        produced += piece.length;
        yield piece;
      }
    }
    await driver.put('big/object', Readable.from(generate(), { objectMode: false }), { sizeHint: run.size });
    const info = await driver.stat('big/object');
    const received = createHash('sha256');
    let count = 0;
    for await (const piece of await driver.get('big/object')) { received.update(piece); count += piece.length; }
    await driver.deleteMany(['big/object']);
    await driver.close();
    process.stdout.write(JSON.stringify({
      statSize: info?.size ?? -1, received: count, sentSha256: sent.digest('hex'), receivedSha256: received.digest('hex'),
      maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
    }));
  `;
  const node = join(import.meta.dirname, '../../node_modules/.bin/node');
  const child = spawn(node, ['--max-old-space-size=128', '--max-semi-space-size=2', '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, WALNUT_BIG_OBJECT_RUN: JSON.stringify({ ...run, moduleUrl: pathToFileURL(run.module).href }) },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(code, 0, `child failed: ${stderr}`);
  return JSON.parse(stdout) as BigObjectResult;
}
