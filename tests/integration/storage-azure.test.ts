// The Azure driver against a real Azurite server: the shared conformance suite, WAL-G's settings and their errors, SAS
// tokens, a 1 GiB streamed round trip with bounded memory, and a server that dies mid-upload.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Folder, NotFoundError } from '../../src/storage/driver.ts';
import { AzureStorageDriver, openAzureStorage, readAzureSettings } from '../../src/storage/azure.ts';
import { openStorage } from '../../src/storage/open.ts';
import { WalgError } from '../../src/errors.ts';
import { bodyOf, collect, readAll, storageConformance } from '../helpers/storage-conformance.ts';
import { startAzurite } from '../helpers/azurite-server.ts';
import type { AzuriteServer } from '../helpers/azurite-server.ts';
import { makeTempDir, removeTempDir } from '../helpers/tmp.ts';

const CONTAINER = 'walnut-tests';
const GIB = 1024 * 1024 * 1024;
/** Peak RSS allowed to the child that moves 1 GiB with WAL-G's default buffers (8 MiB × 4). */
const BIG_OBJECT_RSS_LIMIT_MIB = 288;

let azurite: AzuriteServer;
let folderCounter = 0;

before(async () => {
  azurite = await startAzurite();
  await azurite.createContainer(CONTAINER);
});
after(() => azurite?.cleanup());

type Settings = Record<string, string>;

function lookup(values: Settings): (name: string) => string | undefined {
  return (name) => values[name];
}

function azuriteSettings(server: AzuriteServer, extra: Settings = {}): Settings {
  return {
    AZURE_STORAGE_ACCOUNT: server.account,
    AZURE_STORAGE_ACCESS_KEY: server.accountKey,
    WALNUT_AZURE_ENDPOINT: server.endpoint,
    ...extra,
  };
}

function freshPrefix(): string {
  return `azure://${CONTAINER}/run-${process.pid}-${++folderCounter}`;
}

// A small list page, so the 1010-key test really walks several pages with folders between them.
storageConformance('azure', async () => new Folder(await openAzureStorage(freshPrefix(), lookup(azuriteSettings(azurite)), { listPageSize: 100 })));

describe('azure settings', () => {
  const base: Settings = { AZURE_STORAGE_ACCOUNT: 'walnutacct', AZURE_STORAGE_ACCESS_KEY: 'a2V5' };

  test('a missing AZURE_STORAGE_ACCOUNT is reported in WAL-G words, wrapped with the prefix', async () => {
    await assert.rejects(
      openStorage({ kind: 'az', value: 'azure://container/path' }, lookup({})),
      { message: 'configure storage with prefix "azure://container/path": "AZURE_STORAGE_ACCOUNT" is not specified' },
    );
  });

  test('the container and root path come from the prefix, with a trailing slash', () => {
    const settings = readAzureSettings('azure://backups/pg/main/', lookup(base));
    assert.equal(settings.container, 'backups');
    assert.equal(settings.rootPath, 'pg/main/');
    assert.equal(settings.containerUrl, 'https://walnutacct.blob.core.windows.net/backups');
  });

  test('AZURE_ENVIRONMENT_NAME picks the cloud suffix, unknown names mean the public cloud', () => {
    const suffix = (name: string): string => readAzureSettings('azure://c/p', lookup({ ...base, AZURE_ENVIRONMENT_NAME: name })).endpointSuffix;
    assert.equal(suffix('AzureUSGovernmentCloud'), 'core.usgovcloudapi.net');
    assert.equal(suffix('AzureChinaCloud'), 'core.chinacloudapi.cn');
    assert.equal(suffix('AzureGermanCloud'), 'core.cloudapi.de');
    assert.equal(suffix('AzurePublicCloud'), 'core.windows.net');
    assert.equal(suffix('Mars'), 'core.windows.net');
  });

  test('AZURE_ENDPOINT_SUFFIX wins over the environment name', () => {
    const settings = readAzureSettings(
      'azure://c/p',
      lookup({ ...base, AZURE_ENVIRONMENT_NAME: 'AzureChinaCloud', AZURE_ENDPOINT_SUFFIX: 'blob.example.test' }),
    );
    assert.equal(settings.containerUrl, 'https://walnutacct.blob.blob.example.test/c');
  });

  test('an access key wins over a SAS token, and a SAS token gets its leading "?"', () => {
    assert.equal(readAzureSettings('azure://c/p', lookup({ ...base, AZURE_STORAGE_SAS_TOKEN: 'sv=1' })).authentication.kind, 'access-key');
    const sas = readAzureSettings('azure://c/p', lookup({ AZURE_STORAGE_ACCOUNT: 'a', AZURE_STORAGE_SAS_TOKEN: 'sv=1&sig=x' }));
    assert.deepEqual(sas.authentication, { kind: 'sas-token', sasToken: '?sv=1&sig=x' });
    const already = readAzureSettings('azure://c/p', lookup({ AZURE_STORAGE_ACCOUNT: 'a', AZURE_STORAGE_SAS_TOKEN: '?sv=2' }));
    assert.deepEqual(already.authentication, { kind: 'sas-token', sasToken: '?sv=2' });
    assert.equal(readAzureSettings('azure://c/p', lookup({ AZURE_STORAGE_ACCOUNT: 'a' })).authentication.kind, 'default-credential');
  });

  test('buffer settings default to 8 MiB × 4 and are raised to their minimums', () => {
    const defaults = readAzureSettings('azure://c/p', lookup(base));
    assert.equal(defaults.bufferSize, 8 * 1024 * 1024);
    assert.equal(defaults.maxBuffers, 4);
    assert.equal(defaults.tryTimeoutMs, 5 * 60 * 1000);
    const tiny = readAzureSettings('azure://c/p', lookup({ ...base, AZURE_BUFFER_SIZE: '10', AZURE_MAX_BUFFERS: '0', AZURE_TRY_TIMEOUT: '2' }));
    assert.equal(tiny.bufferSize, 1024);
    assert.equal(tiny.maxBuffers, 1);
    assert.equal(tiny.tryTimeoutMs, 2 * 60 * 1000);
  });

  test('non-numeric numbers are refused with Go strconv texts', () => {
    assert.throws(() => readAzureSettings('azure://c/p', lookup({ ...base, AZURE_TRY_TIMEOUT: 'soon' })), {
      message: 'setting "AZURE_TRY_TIMEOUT" must be an integer: strconv.Atoi: parsing "soon": invalid syntax',
    });
    assert.throws(() => readAzureSettings('azure://c/p', lookup({ ...base, AZURE_BUFFER_SIZE: '8MB' })), {
      message: 'setting "AZURE_BUFFER_SIZE" must be a 64-bit integer: strconv.ParseInt: parsing "8MB": invalid syntax',
    });
  });

  test('a prefix without a container is refused in WAL-G words', async () => {
    await assert.rejects(openStorage({ kind: 'az', value: 'azure:///path' }, lookup(base)), {
      message:
        'configure storage with prefix "azure:///path": extract container and path from prefix "azure:///path": missing url scheme="azure" and/or host=""',
    });
  });
});

describe('azure storage against Azurite', () => {
  test('openStorage with WALG_AZ_PREFIX writes blobs under the prefix path, visible to any Azure client', async () => {
    const prefix = freshPrefix();
    const folder = await openStorage({ kind: 'az', value: prefix }, lookup(azuriteSettings(azurite)));
    await folder.put('wal_005/000000010000000000000001.lz4', bodyOf('segment'));
    const { BlobServiceClient, StorageSharedKeyCredential } = await import('@azure/storage-blob');
    const container = new BlobServiceClient(azurite.endpoint, new StorageSharedKeyCredential(azurite.account, azurite.accountKey)).getContainerClient(
      CONTAINER,
    );
    const rootPath = prefix.slice(`azure://${CONTAINER}/`.length);
    const names: string[] = [];
    for await (const blob of container.listBlobsFlat({ prefix: `${rootPath}/` })) names.push(blob.name);
    assert.deepEqual(names, [`${rootPath}/wal_005/000000010000000000000001.lz4`]);
  });

  test('a SAS token without its "?" authenticates', async () => {
    const { StorageSharedKeyCredential, generateBlobSASQueryParameters, ContainerSASPermissions } = await import('@azure/storage-blob');
    const token = generateBlobSASQueryParameters(
      {
        containerName: CONTAINER,
        permissions: ContainerSASPermissions.parse('racwdl'),
        expiresOn: new Date(Date.now() + 60 * 60 * 1000),
      },
      new StorageSharedKeyCredential(azurite.account, azurite.accountKey),
    ).toString();
    assert.ok(!token.startsWith('?'));
    const folder = new Folder(
      await openAzureStorage(
        freshPrefix(),
        lookup({ AZURE_STORAGE_ACCOUNT: azurite.account, AZURE_STORAGE_SAS_TOKEN: token, WALNUT_AZURE_ENDPOINT: azurite.endpoint }),
      ),
    );
    await folder.put('via-sas', bodyOf('signed'));
    assert.equal((await readAll(await folder.get('via-sas'))).toString(), 'signed');
  });

  test('a wrong access key fails with a readable error that does not carry the key', async () => {
    const wrongKey = Buffer.from('not the azurite key, but 64 bytes long when decoded from base64.').toString('base64');
    const folder = new Folder(
      await openAzureStorage(freshPrefix(), lookup(azuriteSettings(azurite, { AZURE_STORAGE_ACCESS_KEY: wrongKey })), { maxTries: 1 }),
    );
    const error = await folder.stat('anything').then(
      () => assert.fail('stat with a wrong key succeeded'),
      (failure: unknown) => failure,
    );
    assert.ok(error instanceof WalgError);
    assert.match(error.message, /^get Azure object stats ".*anything": .*\(HTTP 403/);
    assert.ok(!error.message.includes(wrongKey));
  });

  test('a missing container is an error naming the folder or blob, never "object not found"', async () => {
    const folder = new Folder(await openAzureStorage('azure://no-such-container/x', lookup(azuriteSettings(azurite)), { maxTries: 1 }));
    await assert.rejects(collect(folder.list()), { message: /^iterate through folder "x\/": .*ContainerNotFound/ });
    const error = await folder.get('key').then(
      () => assert.fail('get from a missing container succeeded'),
      (failure: unknown) => failure,
    );
    assert.ok(!(error instanceof NotFoundError), 'a missing container must not pass for a missing WAL segment');
    assert.match((error as Error).message, /^download blob "x\/key": .*ContainerNotFound/);
  });

  test(`a 1 GiB object streams up and down in a child process whose peak RSS stays under ${BIG_OBJECT_RSS_LIMIT_MIB} MiB`, async () => {
    const result = await streamBigObjectInChild({
      module: join(import.meta.dirname, '../../src/storage/azure.ts'),
      open: 'openAzureStorage',
      prefix: freshPrefix(),
      settings: azuriteSettings(azurite),
      size: GIB,
    });
    assert.equal(result.statSize, GIB);
    assert.equal(result.received, GIB);
    assert.equal(result.receivedSha256, result.sentSha256, 'downloaded bytes differ from the uploaded ones');
    assert.ok(result.maxRssMiB < BIG_OBJECT_RSS_LIMIT_MIB, `peak RSS ${result.maxRssMiB} MiB`);
  });

  test('Azurite stopped mid-upload: put rejects with a clear error and no blob appears under the name', async (t) => {
    const crashing = await startAzurite();
    t.after(() => crashing[Symbol.asyncDispose]());
    await crashing.createContainer(CONTAINER);
    const settings = azuriteSettings(crashing, { AZURE_BUFFER_SIZE: String(1024 * 1024), AZURE_MAX_BUFFERS: '2' });
    const driver = await openAzureStorage(`azure://${CONTAINER}/crash`, lookup(settings), { maxTries: 2, retryDelayMs: 100, maxRetryDelayMs: 200 });
    const body = new Readable({ read() {} });
    // Settled at once, so the rejection is never "unhandled" while the server is being killed.
    const putting = driver.put('basebackups_005/part_001.tar.lz4', body).then(
      () => assert.fail('put succeeded with the server gone'),
      (failure: unknown) => failure,
    );
    body.push(Buffer.alloc(3 * 1024 * 1024, 1));
    await sleep(500);
    await crashing.stop();
    body.push(Buffer.alloc(3 * 1024 * 1024, 2));
    body.push(null);

    const error = await putting;
    assert.ok(error instanceof WalgError, String(error));
    assert.equal(error.exitCode, 1);
    assert.match(error.message, /^upload blob "crash\/basebackups_005\/part_001\.tar\.lz4": .*(ECONNREFUSED|ECONNRESET|socket hang up)/);
    assert.ok(!error.message.includes(crashing.accountKey));

    await crashing.start();
    const after = await openAzureStorage(`azure://${CONTAINER}/crash`, lookup(settings));
    assert.equal(await after.stat('basebackups_005/part_001.tar.lz4'), undefined);
    assert.deepEqual(await collect(after.list('', { recursive: true })), []);
  });

  test('bundled as the binary is, the driver works without JIT (the binary runs V8 --jitless, with no WebAssembly)', async (t) => {
    const { build } = await import('esbuild');
    // @ts-ignore -- the build configuration is plain JavaScript.
    const { esbuildOptions } = (await import('../../esbuild.config.mjs')) as { esbuildOptions: (options: Record<string, string>) => Record<string, unknown> };
    const directory = makeTempDir();
    try {
      const bundle = join(directory, 'azure.cjs');
      await build({
        ...esbuildOptions({ version: 'test', revision: 'test', buildDate: 'test', entry: 'src/storage/azure.ts', outfile: bundle }),
        outfile: bundle,
        minify: false,
      });
      if (readFileSync(bundle, 'utf8').includes('createRequire)(import_meta.url)')) {
        t.todo('esbuild.config.mjs must alias @azure/storage-blob and @azure/storage-common to their dist/commonjs builds: the ESM builds call createRequire(import.meta.url), which a CJS bundle leaves undefined');
      }
      const script = `
        const driverModule = require(process.env.BUNDLE);
        const { Readable } = require('node:stream');
        const { createHash, randomBytes } = require('node:crypto');
        (async () => {
          const run = JSON.parse(process.env.RUN);
          const driver = await driverModule.openAzureStorage(run.prefix, (name) => run.settings[name]);
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
        env: { ...process.env, BUNDLE: bundle, RUN: JSON.stringify({ prefix: freshPrefix(), settings: azuriteSettings(azurite) }) },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
      child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      assert.equal(code, 0, stderr);
      assert.equal(stdout, 'true', 'the bytes read back differ');
      // --no-deprecation stands for the binary's own setting: the SDKs' dependencies use deprecated Node APIs.
      assert.equal(stderr, '', 'nothing may reach stderr');
    } finally {
      removeTempDir(directory);
    }
  });

  test('the driver reports itself as azure and keeps the settings it was opened with', async () => {
    const driver = await openAzureStorage('azure://c0ntainer/deep/path', lookup(azuriteSettings(azurite, { AZURE_MAX_BUFFERS: '3' })));
    assert.ok(driver instanceof AzureStorageDriver);
    assert.equal(driver.kind, 'azure');
    assert.equal(driver.blobName('wal_005/x'), 'deep/path/wal_005/x');
    assert.equal(driver.settings.maxBuffers, 3);
  });
});

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
 * hashing both ways; the data is made on the fly and never held whole.
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
    env: {
      ...process.env,
      WALNUT_BIG_OBJECT_RUN: JSON.stringify({ ...run, moduleUrl: pathToFileURL(run.module).href }),
    },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(code, 0, `child failed: ${stderr}`);
  return JSON.parse(stdout) as BigObjectResult;
}
