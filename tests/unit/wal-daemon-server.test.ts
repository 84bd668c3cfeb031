// The daemon in process, spoken to over a real Unix socket: answers byte for byte, PGDATA rules, uploading ahead
// with markers, the upload timeout, the systemd watchdog, and what happens to connections after each request.

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { loadSettings } from '../../src/config/settings.ts';
import { Folder, type PutOptions } from '../../src/storage/driver.ts';
import { MemoryStorageDriver } from '../../src/storage/memory.ts';
import { markerFolderOf } from '../../src/wal/archive-status.ts';
import { encodeRequest, MESSAGE_TYPE } from '../../src/wal/daemon-protocol.ts';
import { WalDaemon } from '../../src/wal/daemon-server.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { captureLog, makeWalDirectory, storedPlainBytes, writeSegment } from '../helpers/wal-fixtures.ts';

const S1 = '000000010000000000000001';
const S2 = '000000010000000000000002';
const S3 = '000000010000000000000003';
const S4 = '000000010000000000000004';

interface RunningDaemon {
  readonly daemon: WalDaemon;
  readonly socketPath: string;
  readonly driver: MemoryStorageDriver;
  readonly dataDir: string;
  readonly walDir: string;
}

async function startDaemon(
  t: { after(fn: () => Promise<void> | void): void },
  env: Record<string, string> = {},
  options: { driver?: MemoryStorageDriver; watchdogIntervalMs?: number; notify?: (socket: string, state: string) => Promise<void>; pgData?: boolean } = {},
): Promise<RunningDaemon> {
  const { dataDir, walDir } = makeWalDirectory();
  const socketPath = join(makeTempDir({ prefix: 'walnut-sock-' }), 'walg.sock');
  const settingsEnv: NodeJS.ProcessEnv = {
    WALG_PG_WAL_SIZE: '1',
    WALG_COMPRESSION_METHOD: 'lz4',
    ...(options.pgData === false ? {} : { PGDATA: dataDir }),
    ...env,
  };
  const settings = loadSettings({ flagValues: new Map(), env: settingsEnv, homeDir: makeTempDir() });
  const driver = options.driver ?? new MemoryStorageDriver();
  const daemon = new WalDaemon({
    socketPath,
    settings,
    storage: { root: new Folder(driver), name: 'default', close: async () => {} },
    watchdogIntervalMs: options.watchdogIntervalMs,
    notify: options.notify,
  });
  await daemon.listen();
  t.after(() => daemon.close());
  return { daemon, socketPath, driver, dataDir, walDir };
}

/** Sends raw bytes on one connection and collects everything the daemon writes until it closes the connection. */
function exchange(socketPath: string, request: Buffer, options: { endAfterWrite?: boolean } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ path: socketPath });
    const received: Buffer[] = [];
    socket.on('connect', () => {
      socket.write(request);
      if (options.endAfterWrite) socket.end();
    });
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(received).toString('latin1')));
  });
}

const push = (name: string): Buffer => encodeRequest(MESSAGE_TYPE.walPush, [name]);
const fetch = (name: string, destination: string): Buffer => encodeRequest(MESSAGE_TYPE.walFetch, [name, destination]);
const check = (): Buffer => Buffer.from([0x43, 0x00, 0x08, ...Buffer.from('CHECK')]);

async function until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('wal-g daemon', () => {
  test('C then F on one connection answers OO, stores $PGDATA/pg_wal/<name>, then closes', async (t) => {
    captureLog(t);
    const { socketPath, driver, walDir } = await startDaemon(t);
    const data = writeSegment(walDir, S1);
    const answer = await exchange(socketPath, Buffer.concat([check(), push(S1)]));
    assert.equal(answer, 'OO');
    assert.deepEqual(await storedPlainBytes(driver, `wal_005/${S1}.lz4`), data);
  });

  test('f writes the segment to a path relative to PGDATA and answers O; a missing one answers N', async (t) => {
    captureLog(t);
    const { socketPath, walDir, dataDir } = await startDaemon(t, { WALG_DOWNLOAD_CONCURRENCY: '1' });
    const data = writeSegment(walDir, S1);
    assert.equal(await exchange(socketPath, push(S1)), 'O');
    assert.equal(await exchange(socketPath, fetch(S1, 'pg_wal/RECOVERYXLOG')), 'O');
    assert.deepEqual(readFileSync(join(dataDir, 'pg_wal', 'RECOVERYXLOG')), data);
    assert.equal(await exchange(socketPath, fetch(S2, 'pg_wal/RECOVERYXLOG2')), 'N');
    assert.equal(existsSync(join(dataDir, 'pg_wal', 'RECOVERYXLOG2')), false);
    // A destination that already contains PGDATA is used as it is.
    assert.equal(await exchange(socketPath, fetch(S1, join(dataDir, 'copy'))), 'O');
    assert.deepEqual(readFileSync(join(dataDir, 'copy')), data);
  });

  test('errors answer E: unknown type, missing file, corrupt argument list, and PGDATA unset', async (t) => {
    const logged = captureLog(t);
    const { socketPath } = await startDaemon(t);
    assert.equal(await exchange(socketPath, Buffer.from([0x58, 0, 3])), 'E');
    assert.equal(await exchange(socketPath, push(S4)), 'E');
    assert.equal(await exchange(socketPath, Buffer.from([0x66, 0, 6, 1, 0, 0])), 'E');
    assert.equal(await exchange(socketPath, encodeRequest(MESSAGE_TYPE.walFetch, ['a', 'b', 'c'])), 'E');
    const text = logged();
    assert.match(text, /ERROR: .* Message loop failure: unexpected message type: X\n/);
    assert.match(text, /Message loop failure: handle message: file archiving failed: upload: could not open '.*000000010000000000000004'\n: open /);
    assert.match(text, /Message loop failure: handle message: currepted message body\n/);
    assert.match(text, /Message loop failure: handle message: wal-fetch incorrect arguments count\n/);

    const noPgData = await startDaemon(t, {}, { pgData: false });
    assert.equal(await exchange(noPgData.socketPath, push(S1)), 'E');
    assert.match(logged(), /Message loop failure: handle message: PGDATA is not set in the conf\n/);
  });

  test('a request whose sender half-closes the connection still gets its answer', async (t) => {
    captureLog(t);
    const { socketPath, walDir } = await startDaemon(t);
    writeSegment(walDir, S1);
    assert.equal(await exchange(socketPath, push(S1), { endAfterWrite: true }), 'O');
  });

  test('after answering F it uploads the next .ready segments ahead and marks them; their F answers at once', async (t) => {
    captureLog(t);
    const { socketPath, walDir, daemon, driver } = await startDaemon(t);
    writeSegment(walDir, S1, { ready: true });
    const later = [S2, S3, S4].map((name) => writeSegment(walDir, name, { ready: true }));
    assert.equal(await exchange(socketPath, push(S1)), 'O');
    await until(() => readdirSync(markerFolderOf(walDir)).length === 3, 'three ahead uploads');
    assert.deepEqual(readdirSync(markerFolderOf(walDir)).sort(), [S2, S3, S4]);
    assert.deepEqual(await storedPlainBytes(driver, `wal_005/${S3}.lz4`), later[1]);
    // PostgreSQL now archives S2: the daemon finds the marker, uploads nothing, answers O and drops the marker.
    driver.objects.delete(`wal_005/${S2}.lz4`);
    assert.equal(await exchange(socketPath, push(S2)), 'O');
    assert.equal(driver.objects.has(`wal_005/${S2}.lz4`), false);
    assert.deepEqual(readdirSync(markerFolderOf(walDir)).sort(), [S3, S4]);
  });

  test('an F for a segment still uploading ahead waits for that upload instead of starting another', async (t) => {
    captureLog(t);
    let puts = 0;
    const slow = new (class extends MemoryStorageDriver {
      override async put(key: string, body: Readable, options?: PutOptions): Promise<void> {
        puts++;
        await new Promise((resolve) => setTimeout(resolve, 150));
        return super.put(key, body, options);
      }
    })();
    const { socketPath, walDir } = await startDaemon(t, {}, { driver: slow });
    writeSegment(walDir, S1, { ready: true });
    writeSegment(walDir, S2, { ready: true });
    assert.equal(await exchange(socketPath, push(S1)), 'O');
    await until(() => puts === 2, 'the ahead upload of S2 to start');
    assert.equal(await exchange(socketPath, push(S2)), 'O');
    assert.equal(puts, 2);
    assert.ok(slow.objects.has(`wal_005/${S2}.lz4`));
  });

  test('an upload slower than WALG_DAEMON_WAL_UPLOAD_TIMEOUT answers E and stores nothing', async (t) => {
    const logged = captureLog(t);
    const slow = new (class extends MemoryStorageDriver {
      override async put(key: string, body: Readable, options?: PutOptions): Promise<void> {
        await new Promise((resolve) => setTimeout(resolve, 300));
        return super.put(key, body, options);
      }
    })();
    const { socketPath, walDir } = await startDaemon(t, { WALG_DAEMON_WAL_UPLOAD_TIMEOUT: '50ms' }, { driver: slow });
    writeSegment(walDir, S1);
    assert.equal(await exchange(socketPath, push(S1)), 'E');
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.equal(slow.objects.size, 0);
    assert.match(logged(), /file archiving failed: upload: could not Upload .*\n: upload timed out/);
  });

  test('a stale socket file is replaced when the daemon starts', async (t) => {
    captureLog(t);
    const socketPath = join(makeTempDir({ prefix: 'walnut-sock-' }), 'walg.sock');
    writeFileSync(socketPath, 'left over');
    const settings = loadSettings({ flagValues: new Map(), env: {}, homeDir: makeTempDir() });
    const daemon = new WalDaemon({ socketPath, settings, storage: { root: new Folder(new MemoryStorageDriver()), name: 'default', close: async () => {} } });
    await daemon.listen();
    t.after(() => daemon.close());
    assert.equal(await exchange(socketPath, Buffer.concat([check(), Buffer.from([0x58, 0, 3])])), 'OE');
  });

  test('with NOTIFY_SOCKET set it sends WATCHDOG=1 to it every interval', async (t) => {
    captureLog(t);
    const sent: string[] = [];
    await startDaemon(t, { NOTIFY_SOCKET: '/run/systemd/notify' }, {
      watchdogIntervalMs: 20,
      notify: async (socket, state) => {
        sent.push(`${socket} ${state}`);
      },
    });
    await until(() => sent.length >= 2, 'two watchdog notifications');
    assert.equal(sent[0], '/run/systemd/notify WATCHDOG=1');
  });

  test('without NOTIFY_SOCKET nothing is sent', async (t) => {
    captureLog(t);
    const sent: string[] = [];
    await startDaemon(t, {}, { watchdogIntervalMs: 10, notify: async (socket) => void sent.push(socket) });
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.deepEqual(sent, []);
  });
});
