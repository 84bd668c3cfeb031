// Rate limits: the token bucket's arithmetic, the pass-through stage, the storage decorator, and which settings
// (and --turbo) install which limit.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { loadSettings } from '../../src/config/settings.ts';
import { Folder } from '../../src/storage/driver.ts';
import { MemoryStorageDriver } from '../../src/storage/memory.ts';
import {
  RATE_LIMIT_EXTRA_BURST,
  RateLimitTransform,
  RateLimitedStorageDriver,
  TokenBucket,
  clearRateLimits,
  diskRateLimitFilter,
  installRateLimits,
  installedRateLimits,
  rateLimitBucket,
  rateLimitedFolder,
  rateLimitsFromSettings,
  withNetworkRateLimit,
} from '../../src/storage/rate-limit.ts';
import { CHUNK_HANDLING } from '../../src/stream/chunk-pool.ts';
import { bodyOf, readAll, storageConformance } from '../helpers/storage-conformance.ts';

function settingsWith(env: Record<string, string>) {
  return loadSettings({ flagValues: new Map(), env, homeDir: '/nonexistent-home-for-tests', warn: () => {} });
}

after(() => clearRateLimits());

storageConformance('rate-limited decorator over memory', async () =>
  new Folder(new RateLimitedStorageDriver(new MemoryStorageDriver(), rateLimitBucket(1024 * 1024 * 1024))),
);

describe('token bucket', () => {
  test('starts full, then makes callers wait for what the rate has not yet refilled', () => {
    let now = 0;
    const bucket = new TokenBucket(1000, 1500, () => now);
    assert.equal(bucket.reserve(1500), 0);
    assert.equal(bucket.reserve(500), 500);
    // A later caller queues behind the earlier reservation.
    assert.equal(bucket.reserve(1000), 1500);
    now = 1500;
    assert.equal(bucket.reserve(0), 0);
    assert.equal(bucket.reserve(1), 1);
  });

  test('refills at the rate but never above the burst', () => {
    let now = 0;
    const bucket = new TokenBucket(100, 200, () => now);
    bucket.reserve(200);
    now = 1000;
    assert.equal(bucket.reserve(100), 0);
    now = 100_000;
    assert.equal(bucket.reserve(200), 0);
    assert.equal(bucket.reserve(100), 1000);
  });

  test("WAL-G's burst is one second of bytes plus 8 pages", () => {
    const bucket = rateLimitBucket(1_000_000);
    assert.equal(bucket.bytesPerSecond, 1_000_000);
    assert.equal(bucket.burst, 1_000_000 + 65536);
    assert.equal(RATE_LIMIT_EXTRA_BURST, 65536);
  });

  test('a limit that is not a positive rate is refused', () => {
    assert.throws(() => new TokenBucket(0, 10), RangeError);
    assert.throws(() => new TokenBucket(-5, 10), RangeError);
  });
});

describe('rate-limited streams', () => {
  test('the stage forwards the very same buffers and is marked as forwarding', async () => {
    const chunks = [Buffer.from('a'), Buffer.from('bc')];
    const seen: Buffer[] = [];
    const stage = new RateLimitTransform(rateLimitBucket(1_000_000));
    assert.equal(stage[CHUNK_HANDLING], 'forwards');
    await pipeline(
      Readable.from(chunks),
      stage,
      new Writable({
        write(chunk: Buffer, _encoding, callback) {
          seen.push(chunk);
          callback();
        },
      }),
    );
    assert.equal(seen.length, 2);
    assert.equal(seen[0], chunks[0]);
    assert.equal(seen[1], chunks[1]);
  });

  test('reads through a limited folder take as long as the bytes beyond the burst need', async () => {
    const memory = new MemoryStorageDriver();
    await memory.put('blob', Readable.from([Buffer.alloc(256 * 1024, 7)]));
    // 128 KiB/s with a 192 KiB burst: the 64 KiB beyond the burst take 0.5 s.
    const folder = rateLimitedFolder(new Folder(memory), rateLimitBucket(128 * 1024));
    const started = performance.now();
    const data = await readAll(await folder.get('blob'));
    const elapsedMs = performance.now() - started;
    assert.equal(data.length, 256 * 1024);
    assert.ok(elapsedMs >= 450, `took ${elapsedMs} ms, expected about 500 ms`);
    assert.ok(elapsedMs < 3000, `took ${elapsedMs} ms, expected about 500 ms`);
  });

  test('writes are limited too, and a body error still rejects the put with that error', async () => {
    const memory = new MemoryStorageDriver();
    // 64 KiB/s with a 128 KiB burst: the 32 KiB beyond the burst take 0.5 s.
    const folder = rateLimitedFolder(new Folder(memory), rateLimitBucket(64 * 1024));
    const started = performance.now();
    await folder.put('k', bodyOf(Buffer.alloc(160 * 1024)));
    const elapsedMs = performance.now() - started;
    assert.ok(elapsedMs >= 450 && elapsedMs < 3000, `took ${elapsedMs} ms, expected about 500 ms`);
    assert.equal(memory.objects.get('k')?.data.length, 160 * 1024);
    const failure = new Error('disk went away');
    const broken = new Readable({
      read() {
        this.destroy(failure);
      },
    });
    await assert.rejects(folder.put('other', broken), (error) => error === failure);
    assert.equal(memory.objects.has('other'), false);
  });

  test('without a bucket the folder is returned unchanged', () => {
    const folder = new Folder(new MemoryStorageDriver());
    assert.equal(rateLimitedFolder(folder, undefined), folder);
  });
});

describe('limits from settings', () => {
  test('unset settings install no limit', () => {
    const limits = rateLimitsFromSettings(settingsWith({}), false);
    assert.equal(limits.network, undefined);
    assert.equal(limits.disk, undefined);
  });

  test('each setting installs its own limit with the burst rule', () => {
    const limits = rateLimitsFromSettings(
      settingsWith({ WALG_NETWORK_RATE_LIMIT: '1048576', WALG_DISK_RATE_LIMIT: '2097152' }),
      false,
    );
    assert.equal(limits.network?.bytesPerSecond, 1048576);
    assert.equal(limits.network?.burst, 1048576 + 65536);
    assert.equal(limits.disk?.bytesPerSecond, 2097152);
  });

  test('--turbo ignores both limits', () => {
    const limits = rateLimitsFromSettings(settingsWith({ WALG_NETWORK_RATE_LIMIT: '1000', WALG_DISK_RATE_LIMIT: '1000' }), true);
    assert.equal(limits.network, undefined);
    assert.equal(limits.disk, undefined);
  });

  test('a limit of zero or text is refused with the setting name instead of stalling transfers', () => {
    assert.throws(() => rateLimitsFromSettings(settingsWith({ WALG_NETWORK_RATE_LIMIT: '0' }), false), {
      message: /^WALG_NETWORK_RATE_LIMIT is '0': it must be a positive number of bytes per second/,
    });
    assert.throws(() => rateLimitsFromSettings(settingsWith({ WALG_DISK_RATE_LIMIT: 'fast' }), false), {
      message: /^WALG_DISK_RATE_LIMIT is 'fast'/,
    });
  });

  test('installed limits wrap storages and give backup-push its disk filter; clearing removes them', () => {
    const driver = new MemoryStorageDriver();
    installRateLimits(settingsWith({ WALG_NETWORK_RATE_LIMIT: '5000', WALG_DISK_RATE_LIMIT: '7000' }), false);
    assert.equal(installedRateLimits().network?.bytesPerSecond, 5000);
    const wrapped = withNetworkRateLimit(driver);
    assert.ok(wrapped instanceof RateLimitedStorageDriver);
    assert.equal((wrapped as RateLimitedStorageDriver).bucket, installedRateLimits().network);
    const filter = diskRateLimitFilter();
    assert.ok(filter !== undefined);
    assert.ok(filter() instanceof RateLimitTransform);

    installRateLimits(settingsWith({ WALG_NETWORK_RATE_LIMIT: '5000' }), true);
    assert.equal(withNetworkRateLimit(driver), driver);
    assert.equal(diskRateLimitFilter(), undefined);
    clearRateLimits();
    assert.equal(installedRateLimits().network, undefined);
  });
});
