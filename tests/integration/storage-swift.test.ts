// The Swift driver against a real OpenStack Swift on loopback: tempauth (v1), keystone v2/v3 through a stand-in
// identity service, large objects as SLOs, bulk delete and a proxy that dies mid-upload.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Folder } from '../../src/storage/driver.ts';
import { openStorage } from '../../src/storage/open.ts';
import { detectAuthVersion, openSwiftStorage, readSwiftAuthSettings } from '../../src/storage/swift.ts';
import type { SwiftStorageDriver } from '../../src/storage/swift.ts';
import { bodyOf, listedKeys, readAll, storageConformance } from '../helpers/storage-conformance.ts';
import { SWIFT_KEY, SWIFT_USER, startSwiftServer } from '../helpers/swift-server.ts';
import type { SwiftServer } from '../helpers/swift-server.ts';

const CONTAINER = 'walnut-swift';
const MiB = 1024 * 1024;

type Settings = Record<string, string>;

function lookup(settings: Settings): (name: string) => string | undefined {
  return (name) => settings[name];
}

let swift: SwiftServer | undefined;
let folderCount = 0;

before(
  async () => {
    swift = await startSwiftServer();
    await swift.createContainer(CONTAINER);
  },
  { timeout: 90_000 },
);
after(() => swift?.stop());

function v1Settings(extra: Settings = {}): Settings {
  return { OS_AUTH_URL: swift!.authUrl, OS_USERNAME: SWIFT_USER, OS_PASSWORD: SWIFT_KEY, ...extra };
}

function freshPrefix(): string {
  folderCount++;
  return `swift://${CONTAINER}/run-${process.pid}/folder-${folderCount}`;
}

async function freshFolder(extra: Settings = {}): Promise<Folder> {
  return openStorage({ kind: 'swift', value: freshPrefix() }, lookup(v1Settings(extra)));
}

async function swiftRequest(method: string, path: string, query = ''): Promise<Response> {
  return fetch(`${swift!.storageUrl}/${path}${query}`, { method, headers: { 'X-Auth-Token': await swift!.token() } });
}

storageConformance('Swift (native API, tempauth)', () => freshFolder(), { manyKeys: 1010 });

/** Same limit and child as the S3 test's 1 GiB transfer (tests/integration/storage-s3.test.ts, run as a script). */
const BIG_TRANSFER_RSS_LIMIT = 256 * MiB;

describe('Swift driver on a real Swift', () => {
  test(`a 1 GiB streamed upload and download stays under ${BIG_TRANSFER_RSS_LIMIT / MiB} MiB of RSS`, { timeout: 300_000 }, async () => {
    const settings = { ...v1Settings(), WALNUT_STORAGE_KIND: 'swift', prefix: freshPrefix() };
    const child = spawn(process.execPath, [fileURLToPath(new URL('./storage-s3.test.ts', import.meta.url))], {
      env: { ...process.env, WALNUT_S3_BIG_TRANSFER: JSON.stringify(settings) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 0, `the transfer child failed:\n${stderr}`);
    const report = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as { bytes: number; uploadedHash: string; downloadedHash: string; peakRss: number };
    assert.equal(report.bytes, 1024 * MiB);
    assert.equal(report.uploadedHash, report.downloadedHash);
    assert.ok(report.peakRss < BIG_TRANSFER_RSS_LIMIT, `peak RSS ${Math.round(report.peakRss / MiB)} MiB`);
  });

  test('object names are the prefix path plus the key, as WAL-G builds them', async () => {
    const folder = await openStorage({ kind: 'swift', value: `swift://${CONTAINER}/layout-${process.pid}` }, lookup(v1Settings()));
    await folder.subFolder('wal_005').put('000000010000000000000001.br', bodyOf('abc'));
    const response = await swiftRequest('HEAD', `${CONTAINER}/layout-${process.pid}/wal_005/000000010000000000000001.br`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-length'), '3');
    await folder.close();
  });

  test('an object over the large-object threshold is stored as an SLO, reads back whole and deletes with its segments', async () => {
    const prefix = freshPrefix();
    const driver = await openSwiftStorage(prefix, lookup(v1Settings()), { largeObjectThreshold: MiB, segmentSize: MiB });
    const folder = new Folder(driver);
    try {
      const data = randomBytes(3 * MiB + 512 * 1024);
      await folder.put('base/part_1.tar.br', Readable.from(chunksOf(data, 300 * 1024)), { sizeHint: data.length });
      const head = await swiftRequest('HEAD', `${CONTAINER}/${driver.objectName('base/part_1.tar.br')}`);
      assert.equal(head.headers.get('x-static-large-object'), 'True');
      assert.ok((await readAll(await folder.get('base/part_1.tar.br'))).equals(data));
      const slice = await readAll(await folder.get('base/part_1.tar.br', { offset: MiB - 10, length: MiB + 20 }));
      assert.ok(slice.equals(data.subarray(MiB - 10, 2 * MiB + 10)));
      const [listed] = [...(await collectObjects(folder, 'base/'))];
      assert.equal(listed.size, data.length);
      assert.equal((await folder.stat('base/part_1.tar.br'))?.size, data.length);

      const segments = await segmentNames(driver, 'base/part_1.tar.br');
      assert.equal(segments.length, 4);

      // A copy gets its own segments: deleting the original must not break it.
      await folder.copy('base/part_1.tar.br', 'copy/part_1.tar.br');
      await folder.deleteMany(['base/part_1.tar.br']);
      assert.deepEqual(await segmentNames(driver, 'base/part_1.tar.br'), []);
      assert.ok((await readAll(await folder.get('copy/part_1.tar.br'))).equals(data));
      await folder.deleteMany(['copy/part_1.tar.br', 'never-existed']);
      assert.deepEqual(await segmentNames(driver, 'copy/part_1.tar.br'), []);
      assert.deepEqual(await listedKeys(folder, '', { recursive: true }), []);
    } finally {
      await folder.close();
    }
  });

  test('a large object whose body fails midway leaves no manifest and no segments', async () => {
    const prefix = freshPrefix();
    const driver = await openSwiftStorage(prefix, lookup(v1Settings()), { largeObjectThreshold: MiB, segmentSize: MiB });
    const folder = new Folder(driver);
    const body = new Readable({ read() {} });
    const putting = folder.put('broken.tar', body, { sizeHint: 4 * MiB });
    body.push(randomBytes(2 * MiB + 100));
    await sleep(300);
    body.destroy(new Error('tar writer failed'));
    await assert.rejects(putting, /tar writer failed/);
    assert.equal(await folder.stat('broken.tar'), undefined);
    assert.deepEqual(await segmentNames(driver, 'broken.tar'), []);
    await folder.close();
  });

  test('a proxy that goes away mid-upload fails the put with the object name, and nothing is stored', async () => {
    const folder = await freshFolder();
    const body = new Readable({ read() {} });
    const started = Date.now();
    const putting = folder.put('interrupted.lz4', body);
    putting.catch(() => {});
    body.push(randomBytes(4 * MiB));
    await sleep(500);
    try {
      await swift!.stopProxy();
      body.push(randomBytes(MiB));
      await assert.rejects(putting, (error: Error) => {
        assert.match(error.message, /^put Swift object ".*\/interrupted\.lz4": /);
        assert.match(error.message, /ECONNRESET|socket hang up|EPIPE|ECONNREFUSED/);
        return true;
      });
      assert.ok(Date.now() - started < 20_000);
    } finally {
      body.destroy();
      await swift!.startProxy();
    }
    assert.equal(await folder.stat('interrupted.lz4'), undefined);
    assert.deepEqual(await listedKeys(folder, '', { recursive: true }), []);
    await folder.close();
  });

  test('a wrong password fails at open with the Go library\'s words', async () => {
    await assert.rejects(openStorage({ kind: 'swift', value: `swift://${CONTAINER}/x` }, lookup(v1Settings({ OS_PASSWORD: 'wrong' }))), {
      message: `configure storage with prefix "swift://${CONTAINER}/x": create Swift storage: authenticate: Authorization Failed`,
    });
  });

  test('a missing container fails at open', async () => {
    await assert.rejects(openStorage({ kind: 'swift', value: 'swift://no-such-container/x' }, lookup(v1Settings())), {
      message: 'configure storage with prefix "swift://no-such-container/x": create Swift storage: get container by name: Container Not Found',
    });
  });

  test('deleteMany uses the bulk delete middleware: one request for many keys', async () => {
    const folder = await freshFolder();
    const keys = Array.from({ length: 25 }, (_, index) => `bulk/${index}`);
    for (const key of keys) await folder.put(key, bodyOf(key));
    const driver = folder.driver as SwiftStorageDriver;
    assert.equal(driver.info.bulkDelete, true);
    const calls: string[] = [];
    const original = driver.client.call.bind(driver.client);
    driver.client.call = (options) => {
      calls.push(`${options.method} ${options.query?.['bulk-delete'] ? 'bulk-delete' : options.path.join('/')}`);
      return original(options);
    };
    await folder.deleteMany(keys);
    assert.deepEqual(
      calls.filter((call) => call.startsWith('POST') || call.startsWith('DELETE')),
      ['POST bulk-delete'],
    );
    assert.deepEqual(await listedKeys(folder, 'bulk/'), []);
    await folder.close();
  });
});

describe('Swift keystone authentication (v2 and v3) against a stand-in identity service', () => {
  let identity: Server;
  let identityUrl = '';
  const requests: { path: string; body: unknown }[] = [];

  before(async () => {
    identity = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        void (async () => {
          const body = JSON.parse(Buffer.concat(chunks).toString() || '{}');
          requests.push({ path: request.url ?? '', body });
          const token = await swift!.token();
          const storageUrl = swift!.storageUrl;
          if (request.url === '/v2.0/tokens') {
            const password = body.auth?.passwordCredentials?.password;
            if (password !== 'secret') return void response.writeHead(401).end();
            response.writeHead(200, { 'Content-Type': 'application/json' });
            response.end(
              JSON.stringify({
                access: {
                  token: { id: token, expires: new Date(Date.now() + 3600_000).toISOString() },
                  serviceCatalog: [
                    { type: 'identity', endpoints: [{ region: 'RegionTwo', publicURL: 'http://127.0.0.1:1/wrong' }] },
                    {
                      type: 'object-store',
                      endpoints: [
                        { region: 'RegionOne', publicURL: 'http://127.0.0.1:1/wrong-region' },
                        { region: 'RegionTwo', publicURL: storageUrl, internalURL: 'http://127.0.0.1:1/internal' },
                      ],
                    },
                  ],
                },
              }),
            );
            return;
          }
          if (request.url === '/v3/auth/tokens') {
            if (body.auth?.identity?.password?.user?.password !== 'secret') return void response.writeHead(401).end();
            response.writeHead(201, { 'Content-Type': 'application/json', 'X-Subject-Token': token });
            response.end(
              JSON.stringify({
                token: {
                  expires_at: new Date(Date.now() + 3600_000).toISOString(),
                  catalog: [
                    {
                      type: 'object-store',
                      endpoints: [
                        { interface: 'internal', region: 'RegionTwo', url: 'http://127.0.0.1:1/internal' },
                        { interface: 'public', region: 'RegionOne', url: 'http://127.0.0.1:1/wrong-region' },
                        { interface: 'public', region: 'RegionTwo', url: storageUrl },
                      ],
                    },
                  ],
                },
              }),
            );
            return;
          }
          response.writeHead(404).end();
        })();
      });
    });
    await new Promise<void>((resolve) => identity.listen(0, '127.0.0.1', resolve));
    const address = identity.address();
    identityUrl = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
  });
  after(() => new Promise<void>((resolve) => identity.close(() => resolve())));

  test('v2: tenant and password go in passwordCredentials, the region picks the object-store endpoint', async () => {
    requests.length = 0;
    const settings = { OS_AUTH_URL: `${identityUrl}/v2.0`, OS_USERNAME: 'alice', OS_PASSWORD: 'secret', OS_TENANT_NAME: 'backups', OS_REGION_NAME: 'RegionTwo' };
    const folder = await openStorage({ kind: 'swift', value: `swift://${CONTAINER}/keystone-v2-${process.pid}` }, lookup(settings));
    await folder.put('object', bodyOf('through v2'));
    assert.equal((await readAll(await folder.get('object'))).toString(), 'through v2');
    await folder.deleteMany(['object']);
    await folder.close();
    assert.deepEqual(requests[0], {
      path: '/v2.0/tokens',
      body: { auth: { passwordCredentials: { username: 'alice', password: 'secret' }, tenantName: 'backups' } },
    });
  });

  test('v3: user and project domains are sent, the public endpoint of the region is used', async () => {
    requests.length = 0;
    const settings = {
      OS_AUTH_URL: `${identityUrl}/v3`,
      OS_USERNAME: 'alice',
      OS_PASSWORD: 'secret',
      OS_TENANT_NAME: 'backups',
      OS_REGION_NAME: 'RegionTwo',
    };
    const previousDomain = process.env.OS_USER_DOMAIN_NAME;
    process.env.OS_USER_DOMAIN_NAME = 'people';
    try {
      const folder = await openStorage({ kind: 'swift', value: `swift://${CONTAINER}/keystone-v3-${process.pid}` }, lookup(settings));
      await folder.put('object', bodyOf('through v3'));
      assert.equal((await readAll(await folder.get('object'))).toString(), 'through v3');
      await folder.close();
    } finally {
      if (previousDomain === undefined) delete process.env.OS_USER_DOMAIN_NAME;
      else process.env.OS_USER_DOMAIN_NAME = previousDomain;
    }
    assert.deepEqual(requests[0], {
      path: '/v3/auth/tokens',
      body: {
        auth: {
          identity: { methods: ['password'], password: { user: { password: 'secret', name: 'alice', domain: { name: 'people' } } } },
          scope: { project: { name: 'backups', domain: { name: 'people' } } },
        },
      },
    });
  });

  test('a wrong keystone password is "Authorization Failed"', async () => {
    const settings = { OS_AUTH_URL: `${identityUrl}/v3`, OS_USERNAME: 'alice', OS_PASSWORD: 'nope', OS_TENANT_NAME: 'backups' };
    await assert.rejects(openStorage({ kind: 'swift', value: `swift://${CONTAINER}/x` }, lookup(settings)), /authenticate: Authorization Failed$/);
  });
});

describe('Swift settings', () => {
  test('the auth version comes from the URL unless ST_AUTH_VERSION says', () => {
    assert.equal(detectAuthVersion('https://keystone.example/v3'), 3);
    assert.equal(detectAuthVersion('https://keystone.example/v2.0'), 2);
    assert.equal(detectAuthVersion('http://swift.example/auth/v1.0'), 1);
    assert.equal(readSwiftAuthSettings(lookup({}), { ST_AUTH_VERSION: '2' }).authVersion, 2);
  });

  test('WAL-G settings win over the environment; OS_PROJECT_NAME stands in for OS_TENANT_NAME', () => {
    const settings = readSwiftAuthSettings(lookup({ OS_USERNAME: 'from-setting' }), {
      OS_USERNAME: 'from-env',
      OS_PROJECT_NAME: 'project',
      OS_ENDPOINT_TYPE: 'internal',
      GOSWIFT_TIMEOUT: '1m30s',
    });
    assert.equal(settings.userName, 'from-setting');
    assert.equal(settings.tenant, 'project');
    assert.equal(settings.endpointType, 'internal');
    assert.equal(settings.dataTimeoutMs, 90_000);
  });
});

async function collectObjects(folder: Folder, prefix: string): Promise<{ key: string; size: number }[]> {
  const objects: { key: string; size: number }[] = [];
  for await (const entry of folder.list(prefix)) if (entry.kind === 'object') objects.push({ key: entry.key, size: entry.size });
  return objects;
}

/** The segment objects of a large object written by the driver. */
async function segmentNames(driver: SwiftStorageDriver, key: string): Promise<string[]> {
  const response = await swiftRequest('GET', driver.segmentsContainer, `?format=json&prefix=${encodeURIComponent(`${driver.objectName(key)}/`)}`);
  if (response.status === 404) return [];
  const text = await response.text();
  return text === '' ? [] : (JSON.parse(text) as { name: string }[]).map((entry) => entry.name);
}

function* chunksOf(data: Buffer, size: number): Generator<Buffer> {
  for (let offset = 0; offset < data.length; offset += size) yield data.subarray(offset, offset + size);
}
