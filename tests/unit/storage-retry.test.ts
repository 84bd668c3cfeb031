// The retry decorator: which failures are retried, how long it waits, resumed reads and listings, replayable puts.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { Folder, NotFoundError } from '../../src/storage/driver.ts';
import type { GetOptions, ListEntry, ListOptions, ObjectInfo, PutOptions, StorageDriver } from '../../src/storage/driver.ts';
import { MemoryStorageDriver } from '../../src/storage/memory.ts';
import {
  DEFAULT_RETRY_POLICY,
  RetryingStorageDriver,
  TransientStorageError,
  backoffDelayMs,
  isTransientStorageError,
  putReplayable,
  retryPolicyForStorage,
  withRetryPolicy,
  type RetryPolicy,
} from '../../src/storage/retry.ts';
import { bodyOf, collect, readAll, storageConformance } from '../helpers/storage-conformance.ts';

function systemError(code: string): NodeJS.ErrnoException {
  const error = new Error(`simulated ${code}`) as NodeJS.ErrnoException;
  error.code = code;
  return error;
}

type Operation = 'list' | 'stat' | 'get' | 'put' | 'deleteMany' | 'copy';

/** Delegates to a memory driver, first failing each operation with the errors queued for it. */
class FaultyDriver implements StorageDriver {
  readonly kind = 'faulty';
  readonly inner = new MemoryStorageDriver();
  readonly failures = new Map<Operation, unknown[]>();
  readonly calls: Array<{ operation: Operation; key: string; options?: GetOptions }> = [];
  /** Listings fail after yielding this many entries (once per queued 'list' failure), when set. */
  failListAfter: number | undefined;
  /** Reads break after this many bytes with ECONNRESET (once per entry). */
  readonly breakReadsAfter: number[] = [];

  fail(operation: Operation, ...errors: unknown[]): this {
    this.failures.set(operation, [...(this.failures.get(operation) ?? []), ...errors]);
    return this;
  }

  private nextFailure(operation: Operation): unknown {
    return this.failures.get(operation)?.shift();
  }

  async *list(prefix: string, options?: ListOptions): AsyncIterable<ListEntry> {
    this.calls.push({ operation: 'list', key: prefix });
    const failure = this.nextFailure('list');
    if (failure !== undefined && this.failListAfter === undefined) throw failure;
    let yielded = 0;
    for await (const entry of this.inner.list(prefix, options)) {
      if (failure !== undefined && yielded === this.failListAfter) throw failure;
      yielded++;
      yield entry;
    }
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    this.calls.push({ operation: 'stat', key });
    const failure = this.nextFailure('stat');
    if (failure !== undefined) throw failure;
    return this.inner.stat(key);
  }

  async get(key: string, options?: GetOptions): Promise<Readable> {
    this.calls.push({ operation: 'get', key, options });
    const failure = this.nextFailure('get');
    if (failure !== undefined) throw failure;
    const source = await this.inner.get(key, options);
    const breakAfter = this.breakReadsAfter.shift();
    if (breakAfter === undefined) return source;
    const data = await readAll(source);
    // Emits the first bytes in small chunks, then fails like a dropped connection.
    return new Readable({
      read() {
        this.push(data.subarray(0, breakAfter));
        this.destroy(systemError('ECONNRESET'));
      },
    });
  }

  async put(key: string, body: Readable, options?: PutOptions): Promise<void> {
    this.calls.push({ operation: 'put', key });
    const failure = this.nextFailure('put');
    if (failure !== undefined) {
      body.destroy();
      throw failure;
    }
    return this.inner.put(key, body, options);
  }

  async deleteMany(keys: string[]): Promise<void> {
    this.calls.push({ operation: 'deleteMany', key: keys.join(',') });
    const failure = this.nextFailure('deleteMany');
    if (failure !== undefined) throw failure;
    return this.inner.deleteMany(keys);
  }

  async copy(sourceKey: string, destinationKey: string): Promise<void> {
    this.calls.push({ operation: 'copy', key: sourceKey });
    const failure = this.nextFailure('copy');
    if (failure !== undefined) throw failure;
    return this.inner.copy(sourceKey, destinationKey);
  }

  async close(): Promise<void> {}

  count(operation: Operation): number {
    return this.calls.filter((call) => call.operation === operation).length;
  }
}

/** A policy that records its waits instead of sleeping. */
function recordingPolicy(overrides: Partial<RetryPolicy> = {}): RetryPolicy & { waits: number[] } {
  const waits: number[] = [];
  return {
    maxRetries: 3,
    baseDelayMs: 100,
    maxDelayMs: 1000,
    random: () => 0.5,
    sleep: async (ms: number) => {
      waits.push(ms);
    },
    ...overrides,
    waits,
  };
}

async function seeded(driver: FaultyDriver, objects: Record<string, string>): Promise<void> {
  for (const [key, text] of Object.entries(objects)) await driver.inner.put(key, bodyOf(text));
}

storageConformance('retrying decorator over memory', async () => new Folder(new RetryingStorageDriver(new MemoryStorageDriver())));

describe('transient error classification', () => {
  test('network resets, timeouts and busy servers are transient', () => {
    for (const code of ['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ECONNREFUSED', 'UND_ERR_SOCKET']) {
      assert.equal(isTransientStorageError(systemError(code)), true, code);
    }
    for (const status of [408, 429, 500, 502, 503, 504]) {
      assert.equal(isTransientStorageError(Object.assign(new Error('http'), { statusCode: status })), true, String(status));
    }
    assert.equal(isTransientStorageError(Object.assign(new Error('s3'), { $metadata: { httpStatusCode: 503 } })), true);
    assert.equal(isTransientStorageError(new TransientStorageError('server said try later')), true);
  });

  test('missing objects, permissions, client errors and 501 are final', () => {
    assert.equal(isTransientStorageError(new NotFoundError('a')), false);
    assert.equal(isTransientStorageError(systemError('EACCES')), false);
    assert.equal(isTransientStorageError(systemError('ENOSPC')), false);
    for (const status of [400, 403, 404, 501, 505]) {
      assert.equal(isTransientStorageError(Object.assign(new Error('http'), { status })), false, String(status));
    }
    assert.equal(isTransientStorageError('text'), false);
    assert.equal(isTransientStorageError(undefined), false);
  });

  test('a wrapped error is judged by its cause', () => {
    const wrapped = new Error('unable to list folder', { cause: new Error('request failed', { cause: systemError('ECONNRESET') }) });
    assert.equal(isTransientStorageError(wrapped), true);
  });
});

describe('backoff', () => {
  test('delays double from the base up to the maximum, half fixed and half random', () => {
    const policy: RetryPolicy = { maxRetries: 10, baseDelayMs: 100, maxDelayMs: 1000 };
    assert.equal(backoffDelayMs(0, policy, () => 0), 50);
    assert.equal(backoffDelayMs(0, policy, () => 1), 100);
    assert.equal(backoffDelayMs(2, policy, () => 0), 200);
    assert.equal(backoffDelayMs(2, policy, () => 0.5), 300);
    assert.equal(backoffDelayMs(9, policy, () => 1), 1000);
    assert.equal(backoffDelayMs(60, policy, () => 0), 500);
  });

  test('only SFTP storages get a retry policy; the SDK-backed drivers retry on their own', () => {
    assert.deepEqual(retryPolicyForStorage('ssh'), DEFAULT_RETRY_POLICY);
    for (const kind of ['s3', 'gs', 'az', 'oss', 'swift', 'file'] as const) assert.equal(retryPolicyForStorage(kind), undefined, kind);
    const driver = new MemoryStorageDriver();
    assert.equal(withRetryPolicy(driver, 'file'), driver);
    assert.ok(withRetryPolicy(driver, 'ssh') instanceof RetryingStorageDriver);
  });
});

describe('retried operations', () => {
  test('stat, deleteMany and copy succeed after transient failures, waiting with growing delays', async () => {
    const faulty = new FaultyDriver();
    await seeded(faulty, { a: 'one' });
    const policy = recordingPolicy();
    const driver = new RetryingStorageDriver(faulty, policy);
    faulty.fail('stat', systemError('ECONNRESET'), systemError('ETIMEDOUT'));
    assert.equal((await driver.stat('a'))?.size, 3);
    assert.equal(faulty.count('stat'), 3);
    assert.deepEqual(policy.waits, [75, 150]);

    faulty.fail('copy', Object.assign(new Error('busy'), { statusCode: 503 }));
    await driver.copy('a', 'b');
    assert.equal(faulty.count('copy'), 2);
    faulty.fail('deleteMany', systemError('EPIPE'));
    await driver.deleteMany(['a', 'b']);
    assert.equal(faulty.count('deleteMany'), 2);
    assert.equal(faulty.inner.objects.size, 0);
  });

  test('a final error is thrown at once, without waiting', async () => {
    const faulty = new FaultyDriver();
    const policy = recordingPolicy();
    const driver = new RetryingStorageDriver(faulty, policy);
    const denied = systemError('EACCES');
    faulty.fail('stat', denied);
    await assert.rejects(driver.stat('a'), (error) => error === denied);
    assert.equal(faulty.count('stat'), 1);
    assert.deepEqual(policy.waits, []);
    await assert.rejects(driver.get('missing'), NotFoundError);
    assert.equal(faulty.count('get'), 1);
  });

  test('the last error comes back once the retries are used up', async () => {
    const faulty = new FaultyDriver();
    const policy = recordingPolicy({ maxRetries: 2 });
    const driver = new RetryingStorageDriver(faulty, policy);
    const errors = [systemError('ECONNRESET'), systemError('ECONNRESET'), systemError('ETIMEDOUT')];
    faulty.fail('deleteMany', ...errors);
    await assert.rejects(driver.deleteMany(['x']), (error) => error === errors[2]);
    assert.equal(faulty.count('deleteMany'), 3);
    assert.equal(policy.waits.length, 2);
  });

  test('a listing that breaks midway resumes after the last key it returned, without duplicates', async () => {
    const faulty = new FaultyDriver();
    await seeded(faulty, { 'wal/1': 'a', 'wal/2': 'b', 'wal/3': 'c', 'wal/4': 'd' });
    const driver = new RetryingStorageDriver(faulty, recordingPolicy());
    faulty.failListAfter = 2;
    faulty.fail('list', systemError('ECONNRESET'));
    const keys = (await collect(driver.list('wal/'))).map((entry) => entry.key);
    assert.deepEqual(keys, ['wal/1', 'wal/2', 'wal/3', 'wal/4']);
    assert.equal(faulty.count('list'), 2);
  });

  test('a read that breaks midway continues with a ranged read from the byte it reached', async () => {
    const faulty = new FaultyDriver();
    const content = Buffer.from('0123456789abcdefghij');
    await faulty.inner.put('segment', Readable.from([content]));
    const driver = new RetryingStorageDriver(faulty, recordingPolicy());
    faulty.breakReadsAfter.push(7, 5);
    const read = await readAll(await driver.get('segment', { offset: 2, length: 15 }));
    assert.equal(read.toString(), content.subarray(2, 17).toString());
    const gets = faulty.calls.filter((call) => call.operation === 'get').map((call) => call.options);
    assert.deepEqual(gets, [{ offset: 2, length: 15 }, { offset: 9, length: 8 }, { offset: 14, length: 3 }]);
  });

  test('a read that keeps breaking fails with the connection error', async () => {
    const faulty = new FaultyDriver();
    await faulty.inner.put('segment', Readable.from([Buffer.alloc(100, 1)]));
    const driver = new RetryingStorageDriver(faulty, recordingPolicy({ maxRetries: 1 }));
    // Two breaks without progress in between exhaust one retry; progress resets the count.
    faulty.breakReadsAfter.push(10, 0);
    await assert.rejects(readAll(await driver.get('segment')), { code: 'ECONNRESET' });
  });

  test('a streaming put is sent once: its body cannot be replayed', async () => {
    const faulty = new FaultyDriver();
    const driver = new RetryingStorageDriver(faulty, recordingPolicy());
    faulty.fail('put', systemError('ECONNRESET'));
    await assert.rejects(driver.put('k', bodyOf('data')), { code: 'ECONNRESET' });
    assert.equal(faulty.count('put'), 1);
  });

  test('a replayable put opens a fresh body for each attempt', async () => {
    const faulty = new FaultyDriver();
    const driver = new RetryingStorageDriver(faulty, recordingPolicy());
    const folder = new Folder(driver, 'wal_005');
    faulty.fail('put', systemError('ECONNRESET'), Object.assign(new Error('slow down'), { statusCode: 503 }));
    let opened = 0;
    await putReplayable(folder, 'segment.lz4', () => {
      opened++;
      return bodyOf('attempt ', String(opened));
    });
    assert.equal(opened, 3);
    assert.equal(faulty.inner.objects.get('wal_005/segment.lz4')?.data.toString(), 'attempt 3');
  });

  test('a replayable put whose own body fails is not retried', async () => {
    const faulty = new FaultyDriver();
    const policy = recordingPolicy();
    const folder = new Folder(new RetryingStorageDriver(faulty, policy));
    const readError = systemError('EIO');
    let opened = 0;
    const failingBody = (): Readable => {
      opened++;
      return new Readable({
        read() {
          this.destroy(readError);
        },
      });
    };
    await assert.rejects(putReplayable(folder, 'k', failingBody), (error) => error === readError);
    assert.equal(opened, 1);
    assert.deepEqual(policy.waits, []);
  });

  test('putReplayable on a storage without retries is a single plain put', async () => {
    const memory = new MemoryStorageDriver();
    let opened = 0;
    await putReplayable(new Folder(memory, 'a'), 'b', () => {
      opened++;
      return bodyOf('x');
    });
    assert.equal(opened, 1);
    assert.equal(memory.objects.get('a/b')?.data.toString(), 'x');
  });
});
