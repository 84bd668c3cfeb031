// The S3 driver against a real S3 implementation (OpenStack Swift's s3api on loopback), plus its settings rules.
//
// Run as a plain script with WALNUT_S3_BIG_TRANSFER set, this file is instead the child process of the 1 GiB
// streaming test (see bigTransferChild): it measures its own peak memory.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { Folder } from '../../src/storage/driver.ts';
import { openStorage } from '../../src/storage/open.ts';
import { S3_DEFAULTS, decodeRequestHeaders, readS3Config, s3UploadMemoryBound } from '../../src/storage/s3-config.ts';
import type { S3StorageDriver } from '../../src/storage/s3.ts';
import { bodyOf, listedKeys, readAll, storageConformance } from '../helpers/storage-conformance.ts';
import { runWalg } from '../helpers/walg.ts';
import { SWIFT_KEY, SWIFT_USER, startSwiftServer } from '../helpers/swift-server.ts';
import type { SwiftServer } from '../helpers/swift-server.ts';

const BUCKET = 'walnut-s3';
const MiB = 1024 * 1024;
/**
 * The 1 GiB child's peak RSS must stay below this. The upload holds 8 MiB × (4 + 1) = 40 MiB of parts; the child
 * starts at about 105 MiB (Node, its TypeScript stripper, the SDK) and garbage chunks waiting for the collector
 * add some 60 MiB more: measured peaks are 205-220 MiB. A driver that buffered the object would need over 1 GiB.
 */
const BIG_TRANSFER_RSS_LIMIT = 256 * MiB;
const BIG_TRANSFER_BYTES = 1024 * MiB;

type Settings = Record<string, string>;

function lookup(settings: Settings): (name: string) => string | undefined {
  return (name) => settings[name];
}

if (process.env.WALNUT_S3_BIG_TRANSFER) {
  await bigTransferChild(JSON.parse(process.env.WALNUT_S3_BIG_TRANSFER) as Settings);
} else {
  registerTests();
}

function registerTests(): void {
  let swift: SwiftServer | undefined;
  let folderCount = 0;

  before(
    async () => {
      swift = await startSwiftServer();
      await swift.createContainer(BUCKET);
    },
    { timeout: 90_000 },
  );
  after(() => swift?.stop());

  function s3Settings(extra: Settings = {}): Settings {
    return {
      AWS_ENDPOINT: swift!.proxyUrl,
      AWS_S3_FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: SWIFT_USER,
      AWS_SECRET_ACCESS_KEY: SWIFT_KEY,
      ...extra,
    };
  }

  /** A Folder over a fresh path in the test bucket. */
  async function freshFolder(extra: Settings = {}): Promise<Folder> {
    folderCount++;
    return openStorage({ kind: 's3', value: `s3://${BUCKET}/run-${process.pid}/folder-${folderCount}` }, lookup(s3Settings(extra)));
  }

  function driverOf(folder: Folder): S3StorageDriver {
    return folder.driver as S3StorageDriver;
  }

  storageConformance('S3 (Swift s3api, path style)', () => freshFolder(), { manyKeys: 1010 });

  describe('S3 driver on a real S3 implementation', () => {
    test('object keys are the prefix path plus the key, as WAL-G builds them', async () => {
      const folder = await openStorage({ kind: 's3', value: `s3://${BUCKET}/layout-${process.pid}/` }, lookup(s3Settings()));
      try {
        await folder.subFolder('wal_005').put('000000010000000000000001.br', bodyOf('x'));
        const driver = driverOf(folder);
        const { HeadObjectCommand } = await import('@aws-sdk/client-s3');
        const head = await driver.client.send(
          new HeadObjectCommand({ Bucket: BUCKET, Key: `layout-${process.pid}/wal_005/000000010000000000000001.br` }),
        );
        assert.equal(head.ContentLength, 1);
      } finally {
        await folder.close();
      }
    });

    test('the binary sends requests to the host S3_ENDPOINT_SOURCE names, signed for AWS_ENDPOINT\'s host', async () => {
      // The configured endpoint does not resolve; only the endpoint source's answer reaches Swift. The binary runs
      // under --jitless, where Node's fetch cannot parse HTTP (it needs WebAssembly): this is the path that broke.
      let asked = 0;
      const source = createServer((request, response) => {
        asked++;
        response.end('127.0.0.1');
      });
      await new Promise<void>((resolve) => source.listen(0, '127.0.0.1', resolve));
      try {
        const { port } = new URL(swift!.proxyUrl);
        const prefix = `s3://${BUCKET}/endpoint-source-${process.pid}`;
        const env = {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          ...s3Settings({
            AWS_ENDPOINT: `http://s3.walnut.invalid:${port}`,
            S3_ENDPOINT_SOURCE: `http://127.0.0.1:${(source.address() as AddressInfo).port}/`,
            S3_ENDPOINT_PORT: port,
            WALG_S3_PREFIX: prefix,
          }),
        };
        const dir = mkdtempSync(join(tmpdir(), 'walnut-endpoint-source-'));
        writeFileSync(join(dir, 'object'), 'through the endpoint source');
        const put = await runWalg(['st', 'put', join(dir, 'object'), 'sourced/object', '--no-compress'], { env, timeoutMs: 60_000 });
        assert.equal(put.code, 0, put.stderr);
        const listed = await runWalg(['st', 'ls', 'sourced/'], { env, timeoutMs: 60_000 });
        assert.equal(listed.code, 0, listed.stderr);
        assert.match(listed.stdout, /object/);
        assert.ok(asked >= 2, `the endpoint source was asked ${asked} times`);
        rmSync(dir, { recursive: true, force: true });
      } finally {
        source.close();
      }
    });

    test('an object larger than S3_MAX_PART_SIZE goes up as a multipart upload and reads back whole', async () => {
      const folder = await freshFolder({ S3_MAX_PART_SIZE: String(5 * MiB), UPLOAD_CONCURRENCY: '2' });
      try {
        const data = randomBytes(12 * MiB);
        await folder.put('multipart.bin', Readable.from(chunksOf(data, 64 * 1024)));
        assert.ok((await readAll(await folder.get('multipart.bin'))).equals(data));
        const { HeadObjectCommand } = await import('@aws-sdk/client-s3');
        const head = await driverOf(folder).client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: driverOf(folder).objectKey('multipart.bin') }));
        // A multipart ETag is the MD5 of the part MD5s with the part count: 12 MiB in 5 MiB parts is 3 parts.
        assert.match(head.ETag ?? '', /-3"?$/);
        assert.equal((await folder.stat('multipart.bin'))?.size, 12 * MiB);
      } finally {
        await folder.close();
      }
    });

    test('S3_DELETE_BATCH_SIZE=7 deletes 20 keys in DeleteObjects calls of 7, 7 and 6', async () => {
      const folder = await freshFolder({ S3_DELETE_BATCH_SIZE: '7' });
      try {
        const keys = Array.from({ length: 20 }, (_, index) => `batch/${String(index).padStart(2, '0')}`);
        for (const key of keys) await folder.put(key, bodyOf(key));
        const batches: number[] = [];
        driverOf(folder).client.middlewareStack.add(
          (next, context) => async (args) => {
            if (context.commandName === 'DeleteObjectsCommand') {
              batches.push((args.input as { Delete: { Objects: unknown[] } }).Delete.Objects.length);
            }
            return next(args);
          },
          { step: 'initialize', name: 'countDeleteBatches' },
        );
        await folder.deleteMany(keys);
        assert.deepEqual(batches, [7, 7, 6]);
        assert.deepEqual(await listedKeys(folder, 'batch/'), []);
      } finally {
        await folder.close();
      }
    });

    test('ListObjects v1 (S3_USE_LIST_OBJECTS_V1) pages through more than 1000 keys in order', async () => {
      const folder = await freshFolder({ S3_USE_LIST_OBJECTS_V1: 'true' });
      try {
        const keys = Array.from({ length: 1003 }, (_, index) => `v1/${String(index).padStart(4, '0')}`);
        await inParallel(keys, 16, (key) => folder.put(key, bodyOf('')));
        await folder.put('v1/0500/inner', bodyOf('x'));
        const flat = await listedKeys(folder, 'v1/');
        assert.equal(flat.length, 1004);
        assert.equal(flat[501], 'v1/0500/');
        const recursive = await listedKeys(folder, 'v1/', { recursive: true });
        assert.equal(recursive.length, 1004);
        assert.equal(new Set(recursive).size, 1004);
        await folder.deleteMany(recursive);
      } finally {
        await folder.close();
      }
    });

    test('S3_REQUEST_ADDITIONAL_HEADERS are sent with every request', async () => {
      const folder = await freshFolder({ S3_REQUEST_ADDITIONAL_HEADERS: '{"x-amz-meta-written-by": "walnut"}' });
      try {
        await folder.put('with-header', bodyOf('x'));
        const { HeadObjectCommand } = await import('@aws-sdk/client-s3');
        const head = await driverOf(folder).client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: driverOf(folder).objectKey('with-header') }));
        assert.equal(head.Metadata?.['written-by'], 'walnut');
      } finally {
        await folder.close();
      }
    });

    test('S3_SKIP_VALIDATION=false refuses a wrong secret at open with "bad credentials"', async () => {
      await assert.rejects(
        openStorage({ kind: 's3', value: `s3://${BUCKET}/x` }, lookup(s3Settings({ S3_SKIP_VALIDATION: 'false', AWS_SECRET_ACCESS_KEY: 'wrong' }))),
        /^Error: configure storage with prefix "s3:\/\/walnut-s3\/x": bad credentials: SignatureDoesNotMatch|bad credentials: .*(SignatureDoesNotMatch|AccessDenied|403)/,
      );
      const folder = await openStorage({ kind: 's3', value: `s3://${BUCKET}/x` }, lookup(s3Settings({ S3_SKIP_VALIDATION: 'false' })));
      await folder.close();
    });

    test('a server that goes away mid-upload fails the put after S3_MAX_RETRIES retries, leaving no object', async () => {
      const folder = await freshFolder({ S3_MAX_PART_SIZE: String(5 * MiB), S3_MAX_RETRIES: '2', UPLOAD_CONCURRENCY: '1' });
      try {
        const body = new Readable({ read() {} });
        const started = Date.now();
        const putting = folder.put('interrupted.bin', body);
        putting.catch(() => {});
        body.push(randomBytes(6 * MiB)); // the first part leaves as soon as the second part starts filling
        await sleep(1500);
        await swift!.stopProxy();
        body.push(randomBytes(6 * MiB));
        body.push(null);
        await assert.rejects(putting, (error: Error) => {
          assert.match(error.message, /failed to upload '.*\/interrupted\.bin' to bucket 'walnut-s3'/);
          assert.match(error.message, /ECONNREFUSED/);
          assert.match(error.message, /gave up after 3 attempts; S3_MAX_RETRIES=2/);
          return true;
        });
        assert.ok(Date.now() - started < 30_000, 'the retries are bounded in time');
      } finally {
        await swift!.startProxy();
      }
      try {
        assert.equal(await folder.stat('interrupted.bin'), undefined);
        assert.deepEqual(await listedKeys(folder, '', { recursive: true }), []);
      } finally {
        await folder.close();
      }
    });

    test('S3_RANGE_BATCH_ENABLED resumes a download that breaks midway with a Range request', async () => {
      const folder = await freshFolder({ S3_RANGE_BATCH_ENABLED: 'true', S3_RANGE_MAX_RETRIES: '30' });
      try {
        const data = randomBytes(24 * MiB);
        await folder.put('resume.bin', Readable.from(chunksOf(data, MiB)));
        const stream = await folder.get('resume.bin');
        const received: Buffer[] = [];
        let length = 0;
        let broke = false;
        for await (const chunk of stream) {
          received.push(chunk as Buffer);
          length += (chunk as Buffer).length;
          if (!broke && length >= MiB) {
            broke = true;
            // Kill the connection under the reader; the proxy comes back while the reader backs off.
            await swift!.stopProxy();
            setTimeout(() => void swift!.startProxy(), 500);
          }
        }
        assert.ok(broke);
        assert.ok(Buffer.concat(received).equals(data));
      } finally {
        await swift!.startProxy();
        await folder.close();
      }
    });

    test(`a 1 GiB streamed upload and download stays under ${BIG_TRANSFER_RSS_LIMIT / MiB} MiB of RSS`, { timeout: 150_000 }, async () => {
      const settings = s3Settings({ S3_MAX_PART_SIZE: String(8 * MiB), UPLOAD_CONCURRENCY: '4' });
      assert.equal(s3UploadMemoryBound({ maxPartSize: 8 * MiB, uploadConcurrency: 4 }), 40 * MiB);
      const report = await runBigTransferChild({ ...settings, prefix: `s3://${BUCKET}/run-${process.pid}/big` });
      assert.equal(report.uploadedHash, report.downloadedHash);
      assert.equal(report.bytes, 1024 * MiB);
      assert.ok(report.peakRss < BIG_TRANSFER_RSS_LIMIT, `peak RSS ${Math.round(report.peakRss / MiB)} MiB`);
    });
  });

  describe('S3 settings', () => {
    test('an aws:kms setting without a key id fails with WAL-G\'s text, before any request', async () => {
      await assert.rejects(
        openStorage({ kind: 's3', value: 's3://bucket/path' }, lookup({ S3_SSE: 'aws:kms', AWS_ENDPOINT: 'http://127.0.0.1:9' })),
        {
          message:
            'configure storage with prefix "s3://bucket/path": create S3 storage: create new S3 uploader: ' +
            "server-side encryption KMS key ID must be set if 'aws:kms' encryption is used",
        },
      );
      // The rule goes both ways: a key id needs aws:kms.
      assert.throws(() => readS3Config('s3://b/p', lookup({ S3_SSE: 'AES256', S3_SSE_KMS_ID: 'key' })), /KMS key ID must be set/);
      assert.equal(readS3Config('s3://b/p', lookup({ S3_SSE: 'aws:kms', S3_SSE_KMS_ID: 'key' })).sseKmsKeyId, 'key');
    });

    test('defaults are WAL-G\'s and the bucket and root path come from the prefix', () => {
      const config = readS3Config('s3://my-bucket//backups/pg/', lookup({}));
      assert.equal(config.bucket, 'my-bucket');
      assert.equal(config.rootPath, 'backups/pg/');
      assert.equal(config.maxPartSize, 20 * MiB);
      assert.equal(config.maxRetries, 15);
      assert.equal(config.deleteBatchSize, 1000);
      assert.equal(config.storageClass, 'STANDARD');
      assert.equal(config.skipValidation, true);
      assert.equal(config.rangeMaxRetries, 10);
      assert.equal(config.uploadConcurrency, S3_DEFAULTS.uploadConcurrency);
      assert.equal(config.region, undefined);
      assert.equal(readS3Config('s3://bucket', lookup({})).rootPath, '');
    });

    test('static keys fall back to the short names and are trimmed', () => {
      const config = readS3Config('s3://b', lookup({ AWS_ACCESS_KEY: ' id ', AWS_SECRET_KEY: '\tsecret\n' }));
      assert.equal(config.accessKey, 'id');
      assert.equal(config.secretKey, 'secret');
    });

    test('malformed booleans and integers are reported with Go\'s strconv text', () => {
      assert.throws(() => readS3Config('s3://b', lookup({ AWS_S3_FORCE_PATH_STYLE: 'yes' })), {
        message: 'setting "AWS_S3_FORCE_PATH_STYLE" must be a boolean: strconv.ParseBool: parsing "yes": invalid syntax',
      });
      assert.throws(() => readS3Config('s3://b', lookup({ S3_MAX_RETRIES: '1.5' })), {
        message: 'setting "S3_MAX_RETRIES" must be an integer: strconv.Atoi: parsing "1.5": invalid syntax',
      });
      assert.throws(() => readS3Config('s3://b', lookup({ S3_MAX_PART_SIZE: '1048576' })), /below the 5242880 bytes/);
    });

    test('a custom endpoint without AWS_REGION means us-east-1, as WAL-G assumes for S3 compatibles', async () => {
      const folder = await openStorage({ kind: 's3', value: 's3://bucket/path' }, lookup({ AWS_ENDPOINT: 'http://127.0.0.1:9', AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b' }));
      try {
        assert.equal(await (folder.driver as S3StorageDriver).client.config.region(), 'us-east-1');
      } finally {
        await folder.close();
      }
      const explicit = await openStorage({ kind: 's3', value: 's3://bucket' }, lookup({ AWS_ENDPOINT: 'http://127.0.0.1:9', AWS_REGION: 'eu-north-1' }));
      try {
        assert.equal(await (explicit.driver as S3StorageDriver).client.config.region(), 'eu-north-1');
      } finally {
        await explicit.close();
      }
    });

    test('additional headers are read from a YAML/JSON map or a list of one-entry maps', () => {
      assert.deepEqual(decodeRequestHeaders('{"X-A": "1", X-B: two}'), [['X-A', '1'], ['X-B', 'two']]);
      assert.deepEqual(decodeRequestHeaders('[{X-A: 1}, {"X-B": "2"}]'), [['X-A', '1'], ['X-B', '2']]);
      assert.deepEqual(decodeRequestHeaders('X-A: 1\nX-B: "2"'), [['X-A', '1'], ['X-B', '2']]);
      assert.deepEqual(decodeRequestHeaders('- X-A: 1\n- X-B: 2'), [['X-A', '1'], ['X-B', '2']]);
      assert.throws(() => decodeRequestHeaders('{"X-A": '), /decode additional headers for S3 requests/);
    });

    test('the upload memory bound is part size times (UPLOAD_CONCURRENCY + 1)', () => {
      const config = readS3Config('s3://b', lookup({}));
      assert.equal(s3UploadMemoryBound(config), 20 * MiB * 17);
    });
  });
}

// ---------------------------------------------------------------------------------------------------------------
// The 1 GiB child process

interface BigTransferReport {
  bytes: number;
  uploadedHash: string;
  downloadedHash: string;
  peakRss: number;
}

async function runBigTransferChild(settings: Settings): Promise<BigTransferReport> {
  const node = process.execPath;
  const child = spawn(node, [fileURLToPath(import.meta.url)], {
    env: { ...process.env, WALNUT_S3_BIG_TRANSFER: JSON.stringify(settings) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0, `the transfer child failed:\n${stderr}`);
  process.stderr.write(stderr);
  const line = stdout.trim().split('\n').at(-1) ?? '';
  return JSON.parse(line) as BigTransferReport;
}

/** Deterministic data made on the fly: a random 1 MiB block with each chunk's number stamped in. */
function* generatedChunks(total: number): Generator<Buffer> {
  const block = randomBytes(MiB);
  for (let offset = 0, index = 0; offset < total; offset += MiB, index++) {
    const chunk = Buffer.from(block.subarray(0, Math.min(MiB, total - offset)));
    chunk.writeUInt32BE(index, 0);
    yield chunk;
  }
}

async function bigTransferChild(settings: Settings): Promise<void> {
  // The Swift tests run this child too, for the native API (WALNUT_STORAGE_KIND=swift).
  const kind = (settings.WALNUT_STORAGE_KIND ?? 's3') as 's3' | 'swift';
  const folder = await openStorage({ kind, value: settings.prefix }, lookup(settings));
  if (process.env.WALNUT_DEBUG_MEMORY) {
    process.stderr.write(`after open: peak ${Math.round(peakRss() / MiB)} MiB\n`);
    setInterval(() => {
      const usage = process.memoryUsage();
      process.stderr.write(`rss ${Math.round(usage.rss / MiB)} heap ${Math.round(usage.heapTotal / MiB)} external ${Math.round(usage.external / MiB)} buffers ${Math.round(usage.arrayBuffers / MiB)}\n`);
    }, 500).unref();
  }
  const uploaded = createHash('sha256');
  const source = Readable.from(
    (function* () {
      for (const chunk of generatedChunks(BIG_TRANSFER_BYTES)) {
        uploaded.update(chunk);
        yield chunk;
      }
    })(),
    { objectMode: false },
  );
  await folder.put('one-gibibyte.bin', source);
  const peakAfterUpload = peakRss();
  const downloaded = createHash('sha256');
  let bytes = 0;
  for await (const chunk of await folder.get('one-gibibyte.bin')) {
    downloaded.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  await folder.deleteMany(['one-gibibyte.bin']);
  await folder.close();
  const report: BigTransferReport = {
    bytes,
    uploadedHash: uploaded.digest('hex'),
    downloadedHash: downloaded.digest('hex'),
    peakRss: peakRss(),
  };
  process.stderr.write(`peak RSS after upload ${Math.round(peakAfterUpload / MiB)} MiB, at the end ${Math.round(report.peakRss / MiB)} MiB\n`);
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

/** VmHWM: the highest resident set size this process has had. */
function peakRss(): number {
  const peak = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return Number(peak?.[1] ?? 0) * 1024;
}

// ---------------------------------------------------------------------------------------------------------------

function* chunksOf(data: Buffer, size: number): Generator<Buffer> {
  for (let offset = 0; offset < data.length; offset += size) yield data.subarray(offset, offset + size);
}

async function inParallel<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
