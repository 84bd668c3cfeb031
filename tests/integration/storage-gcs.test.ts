// The GCS driver against the fake GCS JSON-API server: the shared conformance suite, WAL-G's settings and their
// errors, chunked resumable uploads, customer-supplied keys, checked reads, a 1 GiB streamed round trip with
// bounded memory, and a server that goes away mid-upload.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Folder, NotFoundError } from '../../src/storage/driver.ts';
import { crc32cBase64, crc32cUpdate, decodeGoBase64, openGcsStorage, readGcsSettings } from '../../src/storage/gcs.ts';
import type { GcsClientTuning } from '../../src/storage/gcs.ts';
import { openStorage } from '../../src/storage/open.ts';
import { WalgError } from '../../src/errors.ts';
import { bodyOf, collect, readAll, storageConformance } from '../helpers/storage-conformance.ts';
import { startFakeGcs } from '../helpers/fake-gcs-server.ts';
import type { FakeGcsServer } from '../helpers/fake-gcs-server.ts';
import { makeTempDir, removeTempDir } from '../helpers/tmp.ts';

const BUCKET = 'walnut-tests';
const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
/** Peak RSS allowed to the child that moves 1 GiB with GCS_MAX_CHUNK_SIZE = 16 MiB. */
const BIG_OBJECT_RSS_LIMIT_MIB = 256;

let gcs: FakeGcsServer;
let folderCounter = 0;

before(async () => {
  gcs = await startFakeGcs();
});
after(() => gcs?.cleanup());

type Settings = Record<string, string>;

function lookup(values: Settings): (name: string) => string | undefined {
  return (name) => values[name];
}

function freshPrefix(): string {
  return `gs://${BUCKET}/run-${process.pid}-${++folderCounter}`;
}

async function openFolder(server: FakeGcsServer, extra: Settings = {}, tuning: GcsClientTuning = {}, prefix = freshPrefix()): Promise<Folder> {
  return new Folder(await openGcsStorage(prefix, lookup({ WALNUT_GCS_ENDPOINT: server.endpoint, ...extra }), tuning));
}

// A small list page, so the 1010-key test really walks several pages with folders between them.
storageConformance('gcs', () => openFolder(gcs, {}, { listPageSize: 100 }));

describe('gcs settings', () => {
  test('the bucket and root path come from the prefix, normalized by default', () => {
    const settings = readGcsSettings('gs://backups//pg/main/', lookup({}));
    assert.equal(settings.bucket, 'backups');
    assert.equal(settings.rootPath, 'pg/main/');
    assert.equal(settings.normalizePrefix, true);
  });

  test('GCS_NORMALIZE_PREFIX=false keeps doubled slashes, for WAL-E layouts', () => {
    const settings = readGcsSettings('gs://backups//pg//main', lookup({ GCS_NORMALIZE_PREFIX: 'false' }));
    assert.equal(settings.rootPath, 'pg//main/');
    assert.throws(() => readGcsSettings('gs://b/p', lookup({ GCS_NORMALIZE_PREFIX: 'nope' })), {
      message: 'setting "GCS_NORMALIZE_PREFIX" must be a boolean: strconv.ParseBool: parsing "nope": invalid syntax',
    });
  });

  test('defaults are WAL-G\'s: 1 hour per operation, 50 MiB chunks, 16 retries', () => {
    const settings = readGcsSettings('gs://b/p', lookup({}));
    assert.equal(settings.contextTimeoutMs, 3600 * 1000);
    assert.equal(settings.maxChunkSize, 50 * MIB);
    assert.equal(settings.uploadChunkSize, 50 * MIB);
    assert.equal(settings.maxRetries, 16);
    assert.equal(settings.encryptionKey, undefined);
  });

  test('GCS_MAX_CHUNK_SIZE is rounded up to the 256 KiB steps resumable uploads need', () => {
    assert.equal(readGcsSettings('gs://b/p', lookup({ GCS_MAX_CHUNK_SIZE: '1000000' })).uploadChunkSize, 4 * 256 * 1024);
    assert.equal(readGcsSettings('gs://b/p', lookup({ GCS_MAX_CHUNK_SIZE: '1' })).uploadChunkSize, 256 * 1024);
    assert.equal(readGcsSettings('gs://b/p', lookup({ GCS_MAX_CHUNK_SIZE: String(8 * MIB) })).uploadChunkSize, 8 * MIB);
  });

  test('bad numbers are refused with Go strconv texts', () => {
    assert.throws(() => readGcsSettings('gs://b/p', lookup({ GCS_MAX_RETRIES: 'many' })), {
      message: 'setting "GCS_MAX_RETRIES" must be an integer: strconv.Atoi: parsing "many": invalid syntax',
    });
    assert.throws(() => readGcsSettings('gs://b/p', lookup({ GCS_CONTEXT_TIMEOUT: '1h' })), {
      message: 'setting "GCS_CONTEXT_TIMEOUT" must be an integer: strconv.Atoi: parsing "1h": invalid syntax',
    });
    assert.throws(() => readGcsSettings('gs://b/p', lookup({ GCS_MAX_CHUNK_SIZE: '50MB' })), {
      message: 'setting "GCS_MAX_CHUNK_SIZE" must be a 64-bit integer: strconv.ParseInt: parsing "50MB": invalid syntax',
    });
  });

  test('GCS_ENCRYPTION_KEY must be base64 of 32 bytes, with WAL-G\'s error texts', async () => {
    const key = randomBytes(32);
    assert.ok(readGcsSettings('gs://b/p', lookup({ GCS_ENCRYPTION_KEY: key.toString('base64') })).encryptionKey?.equals(key));
    assert.throws(() => readGcsSettings('gs://b/p', lookup({ GCS_ENCRYPTION_KEY: 'not base64!' })), {
      message: 'decode base64 Customer Supplied Encryption Key: illegal base64 data at input byte 3',
    });
    assert.throws(() => readGcsSettings('gs://b/p', lookup({ GCS_ENCRYPTION_KEY: randomBytes(16).toString('base64') })), {
      message: 'invalid Customer Supplied Encryption Key: expected to be 32-byte long',
    });
    await assert.rejects(openStorage({ kind: 'gs', value: 'gs://b/p' }, lookup({ GCS_ENCRYPTION_KEY: 'YWJj' })), {
      message: 'configure storage with prefix "gs://b/p": invalid Customer Supplied Encryption Key: expected to be 32-byte long',
    });
  });

  test('base64 decoding reports the byte Go reports', () => {
    assert.equal(decodeGoBase64('YWJj').toString(), 'abc');
    assert.equal(decodeGoBase64('YW\nJj\r\n').toString(), 'abc');
    assert.equal(decodeGoBase64('YWI=').toString(), 'ab');
    assert.equal(decodeGoBase64('YQ==').toString(), 'a');
    assert.equal(decodeGoBase64('').length, 0);
    const failure = (text: string): string => {
      try {
        decodeGoBase64(text);
      } catch (error) {
        return (error as Error).message;
      }
      return 'decoded';
    };
    assert.equal(failure('YWJ'), 'illegal base64 data at input byte 0');
    assert.equal(failure('YWJjZ'), 'illegal base64 data at input byte 4');
    assert.equal(failure('Y==='), 'illegal base64 data at input byte 1');
    assert.equal(failure('YQ='), 'illegal base64 data at input byte 3');
    assert.equal(failure('YQ==YWJj'), 'illegal base64 data at input byte 4');
    assert.equal(failure('YW-j'), 'illegal base64 data at input byte 2');
  });

  test('a prefix without a bucket is refused in WAL-G words', async () => {
    await assert.rejects(openStorage({ kind: 'gs', value: 'gs:///path' }, lookup({})), {
      message:
        'configure storage with prefix "gs:///path": extract bucket and path from prefix "gs:///path": missing url scheme="gs" and/or host=""',
    });
  });

  test('the CRC32C is the Castagnoli one GCS uses, and chains across pieces', () => {
    // The standard check value of CRC-32C.
    assert.equal(crc32cUpdate(0, Buffer.from('123456789')), 0xe3069283);
    const data = randomBytes(100_003);
    assert.equal(crc32cUpdate(crc32cUpdate(0, data.subarray(0, 7)), data.subarray(7)), crc32cUpdate(0, data));
    assert.equal(crc32cBase64(0xe3069283), '4waSgw==');
  });
});

describe('gcs storage against the fake server', () => {
  test('openStorage with WALG_GS_PREFIX stores objects under the prefix path', async () => {
    const prefix = freshPrefix();
    const folder = await openStorage({ kind: 'gs', value: prefix }, lookup({ WALNUT_GCS_ENDPOINT: gcs.endpoint }));
    await folder.put('wal_005/000000010000000000000001.br', bodyOf('segment'));
    const rootPath = prefix.slice(`gs://${BUCKET}/`.length);
    assert.ok(gcs.objectNames(BUCKET).includes(`${rootPath}/wal_005/000000010000000000000001.br`));
  });

  test('uploads go in GCS_MAX_CHUNK_SIZE pieces and the object appears only after the last one', async (t) => {
    const server = await startFakeGcs();
    t.after(() => server[Symbol.asyncDispose]());
    const folder = await openFolder(server, { GCS_MAX_CHUNK_SIZE: String(MIB) }, {}, `gs://${BUCKET}/chunks`);
    const data = randomBytes(5 * MIB + 3);
    await folder.put('part_001.tar.br', bodyOf(data.subarray(0, 12345), data.subarray(12345)));
    assert.equal(server.statistics.resumableSessions, 1);
    assert.equal(server.statistics.resumableChunkRequests, 6);
    assert.equal(server.statistics.largestResumableChunk, MIB);
    assert.ok((await readAll(await folder.get('part_001.tar.br'))).equals(data));
  });

  test('an upload resumes where the server left off when the connection drops between chunks', async (t) => {
    const server = await startFakeGcs();
    t.after(() => server[Symbol.asyncDispose]());
    const folder = await openFolder(server, { GCS_MAX_CHUNK_SIZE: String(MIB), GCS_MAX_RETRIES: '10' }, { maxRetryDelayMs: 300 }, `gs://${BUCKET}/resume`);
    const data = randomBytes(4 * MIB);
    const body = new Readable({ read() {} });
    const putting = folder.put('resumed', body).then(
      () => undefined,
      (failure: unknown) => failure,
    );
    body.push(data.subarray(0, 2 * MIB + 10));
    // Two whole chunks are on the server before it goes away.
    for (let waited = 0; server.statistics.resumableChunkRequests < 2; waited += 20) {
      assert.ok(waited < 20_000, 'the first two chunks never arrived');
      await sleep(20);
    }
    await server.stop();
    body.push(data.subarray(2 * MIB + 10));
    body.push(null);
    await sleep(500);
    await server.start();
    assert.equal(await putting, undefined, 'the upload should have resumed');
    assert.ok((await readAll(await folder.get('resumed'))).equals(data));
    assert.equal(server.statistics.resumableSessions, 1, 'one session, resumed rather than restarted');
  });

  test('the server stopped mid-upload: put rejects with a clear error and nothing appears under the name', async (t) => {
    const server = await startFakeGcs();
    t.after(() => server[Symbol.asyncDispose]());
    const folder = await openFolder(server, { GCS_MAX_CHUNK_SIZE: String(MIB), GCS_MAX_RETRIES: '2' }, { maxRetryDelayMs: 100 }, `gs://${BUCKET}/crash`);
    const body = new Readable({ read() {} });
    // Settled at once, so the rejection is never "unhandled" while the server goes away.
    const putting = folder.put('basebackups_005/part_001.tar.lz4', body).then(
      () => assert.fail('put succeeded with the server gone'),
      (failure: unknown) => failure,
    );
    body.push(Buffer.alloc(3 * MIB, 1));
    await sleep(300);
    await server.stop();
    body.push(Buffer.alloc(3 * MIB, 2));
    body.push(null);

    const error = await putting;
    assert.ok(error instanceof WalgError, String(error));
    assert.equal(error.exitCode, 1);
    assert.match(error.message, /^upload object "crash\/basebackups_005\/part_001\.tar\.lz4" to GCS: .*ECONNREFUSED/);

    await server.start();
    assert.equal(await folder.stat('basebackups_005/part_001.tar.lz4'), undefined);
    assert.deepEqual(server.objectNames(BUCKET), []);
  });

  test('GCS_CONTEXT_TIMEOUT bounds an upload that stalls, and the abandoned session is cancelled', async () => {
    const folder = await openFolder(gcs, { GCS_CONTEXT_TIMEOUT: '1' });
    const cancelledBefore = gcs.statistics.cancelledSessions;
    const body = new Readable({ read() {} });
    const putting = folder.put('stalled', body);
    body.push(Buffer.alloc(1000));
    // The body never ends: the deadline has to end the upload.
    await assert.rejects(putting, { message: /^upload object ".*stalled" to GCS: context deadline exceeded/ });
    assert.equal(await folder.stat('stalled'), undefined);
    assert.equal(gcs.statistics.cancelledSessions, cancelledBefore + 1);
  });

  test('put with overwrite false is refused by the server when the object appears meanwhile', async () => {
    const folder = await openFolder(gcs);
    const body = new Readable({ read() {} });
    const putting = folder.put('race', body, { overwrite: false }).then(
      () => undefined,
      (failure: unknown) => failure,
    );
    await sleep(100);
    await folder.put('race', bodyOf('the other writer'));
    body.push(Buffer.from('late writer'));
    body.push(null);
    const error = await putting;
    assert.ok(error instanceof WalgError && error.name === 'ObjectExistsError', String(error));
    assert.equal((await readAll(await folder.get('race'))).toString(), 'the other writer');
  });

  test('objects written with GCS_ENCRYPTION_KEY need that key to be read', async () => {
    const key = randomBytes(32).toString('base64');
    const prefix = freshPrefix();
    const encrypted = await openFolder(gcs, { GCS_ENCRYPTION_KEY: key }, {}, prefix);
    await encrypted.put('secret', bodyOf('customer-encrypted bytes'));
    assert.equal((await readAll(await encrypted.get('secret'))).toString(), 'customer-encrypted bytes');
    assert.equal((await readAll(await encrypted.get('secret', { offset: 9, length: 9 }))).toString(), 'encrypted');
    await encrypted.copy('secret', 'secret-copy');
    assert.equal((await readAll(await encrypted.get('secret-copy'))).toString(), 'customer-encrypted bytes');

    const withoutKey = await openFolder(gcs, {}, {}, prefix);
    assert.equal((await withoutKey.stat('secret'))?.size, 24);
    await assert.rejects(readAll(await withoutKey.get('secret')), /encrypted by a customer-supplied encryption key/);
    const otherKey = await openFolder(gcs, { GCS_ENCRYPTION_KEY: randomBytes(32).toString('base64') }, {}, prefix);
    await assert.rejects(readAll(await otherKey.get('secret')), /encryption key is incorrect/);
  });

  test('a whole-object read fails when the stored bytes do not match their MD5', async () => {
    const prefix = freshPrefix();
    const folder = await openFolder(gcs, {}, {}, prefix);
    await folder.put('corrupted', bodyOf(randomBytes(300_000)));
    await flipFirstByte(gcs.objectFile(BUCKET, `${prefix.slice(`gs://${BUCKET}/`.length)}/corrupted`));
    await assert.rejects(readAll(await folder.get('corrupted')), {
      name: 'WalgError',
      message: /^read GCS object ".*\/corrupted": The downloaded data did not match the data from the server/,
    });
    // A ranged read is not checked (GCS keeps no checksum of parts), so it returns the bytes as stored.
    assert.equal((await readAll(await folder.get('corrupted', { offset: 1, length: 10 }))).length, 10);
  });

  test('objects without an MD5 (composed, as WAL-G writes them) are checked with CRC32C instead', async (t) => {
    const server = await startFakeGcs({ withoutMd5: true });
    t.after(() => server[Symbol.asyncDispose]());
    const folder = await openFolder(server, {}, {}, `gs://${BUCKET}/composed`);
    const data = randomBytes(2 * MIB + 1);
    await folder.put('object', bodyOf(data));
    assert.ok((await readAll(await folder.get('object'))).equals(data));
    await flipFirstByte(server.objectFile(BUCKET, 'composed/object'));
    await assert.rejects(readAll(await folder.get('object')), {
      message: /^read GCS object "composed\/object": The downloaded data did not match the data from the server/,
    });
  });

  test('a missing object is NotFoundError; a list of a missing bucket path is empty', async () => {
    const folder = await openFolder(gcs);
    await assert.rejects(folder.get('wal_005/000000010000000000000099.lz4'), {
      name: 'NotFoundError',
      message: /^object '.*wal_005\/000000010000000000000099\.lz4' not found in storage$/,
    });
    await assert.rejects(folder.copy('absent', 'target'), NotFoundError);
    assert.deepEqual(await collect(folder.list('nothing/here/')), []);
  });

  test('bundled as the binary is, the driver works without JIT (the binary runs V8 --jitless, with no WebAssembly)', async () => {
    const { build } = await import('esbuild');
    // @ts-ignore -- the build configuration is plain JavaScript.
    const { esbuildOptions } = (await import('../../esbuild.config.mjs')) as { esbuildOptions: (options: Record<string, string>) => Record<string, unknown> };
    const directory = makeTempDir();
    try {
      const bundle = join(directory, 'gcs.cjs');
      await build({
        ...esbuildOptions({ version: 'test', revision: 'test', buildDate: 'test', entry: 'src/storage/gcs.ts', outfile: bundle }),
        outfile: bundle,
        minify: false,
      });
      const script = `
        const driverModule = require(process.env.BUNDLE);
        const { Readable } = require('node:stream');
        const { createHash, randomBytes } = require('node:crypto');
        (async () => {
          const run = JSON.parse(process.env.RUN);
          const driver = await driverModule.openGcsStorage(run.prefix, (name) => run.settings[name]);
          const data = randomBytes(12 * 1024 * 1024);
          await driver.put('jitless/object', Readable.from([data.subarray(0, 5000000), data.subarray(5000000)]));
          const hash = createHash('sha256');
          for await (const piece of await driver.get('jitless/object')) hash.update(piece);
          await driver.close();
          process.stdout.write(String(hash.digest('hex') === createHash('sha256').update(data).digest('hex')));
        })().catch((error) => { process.stderr.write(String(error && error.stack || error)); process.exit(1); });
      `;
      const node = join(import.meta.dirname, '../../node_modules/.bin/node');
      const child = spawn(node, ['--jitless', '--no-expose-wasm', '--max-old-space-size=128', '--no-deprecation', '-e', script], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, BUNDLE: bundle, RUN: JSON.stringify({ prefix: freshPrefix(), settings: { WALNUT_GCS_ENDPOINT: gcs.endpoint, GCS_MAX_CHUNK_SIZE: String(4 * MIB) } }) },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
      child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      assert.equal(code, 0, stderr);
      assert.equal(stdout, 'true', 'the bytes read back differ');
      // --no-deprecation stands for the binary's own setting: the SDK's dependencies use deprecated Node APIs (punycode, url.parse).
      assert.equal(stderr, '', 'nothing may reach stderr');
    } finally {
      removeTempDir(directory);
    }
  });

  test(`a 1 GiB object streams up and down in a child process whose peak RSS stays under ${BIG_OBJECT_RSS_LIMIT_MIB} MiB`, async () => {
    const result = await streamBigObjectInChild({
      module: join(import.meta.dirname, '../../src/storage/gcs.ts'),
      open: 'openGcsStorage',
      prefix: freshPrefix(),
      settings: { WALNUT_GCS_ENDPOINT: gcs.endpoint, GCS_MAX_CHUNK_SIZE: String(16 * MIB) },
      size: GIB,
    });
    assert.equal(result.statSize, GIB);
    assert.equal(result.received, GIB);
    assert.equal(result.receivedSha256, result.sentSha256, 'downloaded bytes differ from the uploaded ones');
    assert.ok(result.maxRssMiB < BIG_OBJECT_RSS_LIMIT_MIB, `peak RSS ${result.maxRssMiB} MiB`);
  });
});

async function flipFirstByte(path: string): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    const first = Buffer.alloc(1);
    await handle.read(first, 0, 1, 0);
    first[0] ^= 0xff;
    await handle.write(first, 0, 1, 0);
  } finally {
    await handle.close();
  }
}

interface BigObjectRun {
  module: string;
  open: string;
  prefix: string;
  settings: Settings;
  tuning?: Record<string, unknown>;
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
 * hashing both ways; the data is made on the fly and never held whole. (The fake server stays in this process,
 * so the child's RSS is the driver's alone.)
 */
async function streamBigObjectInChild(run: BigObjectRun): Promise<BigObjectResult> {
  const script = `
    import { createHash, randomBytes } from 'node:crypto';
    import { Readable } from 'node:stream';
    const run = JSON.parse(process.env.WALNUT_BIG_OBJECT_RUN);
    const driver = await (await import(run.moduleUrl))[run.open](run.prefix, (name) => run.settings[name], run.tuning ?? {});
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
