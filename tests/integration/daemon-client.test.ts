// The built `wal-g daemon` and `walg-daemon-client` together: exit codes 0/1/74, WAL-G's messages, a socket that is
// gone or dead, a daemon killed mid-request, the client's timeout, raw protocol bytes, SIGHUP log reopening, and SIGUSR1 never opening a debugger.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { makeTempDir, registerExitCleanup } from '../helpers/tmp.ts';
import { WALG_BIN } from '../helpers/walg.ts';
import { fakeSegment } from '../helpers/wal-fixtures.ts';
import { WALG_CLIENT_BIN } from '../helpers/wal-postgres.ts';

const S1 = '000000010000000000000001';
const S2 = '000000010000000000000002';
const addonDir = makeTempDir({ prefix: 'walnut-addons-' });

interface Result {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

interface Daemon {
  readonly dataDir: string;
  readonly storage: string;
  readonly socketPath: string;
  readonly logFile: string;
  readonly pid: number;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

async function startDaemon(t: { after(fn: () => Promise<void>): void }, env: NodeJS.ProcessEnv = {}): Promise<Daemon> {
  const root = makeTempDir({ prefix: 'walnut-daemoncli-' });
  const dataDir = join(root, 'data');
  const storage = join(root, 'storage');
  mkdirSync(join(dataDir, 'pg_wal', 'archive_status'), { recursive: true });
  mkdirSync(storage);
  const socketPath = join(root, 'walg.sock');
  const logFile = join(root, 'daemon.log');
  const child = spawn(WALG_BIN, ['daemon', socketPath], {
    env: { PATH: process.env.PATH, HOME: root, WALG_ADDON_DIR: addonDir, WALG_FILE_PREFIX: storage, PGDATA: dataDir, WALG_LOG_DESTINATION: logFile, ...env },
    stdio: 'ignore',
  });
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  const unregister = registerExitCleanup(`kill daemon ${socketPath}`, () => void child.kill('SIGKILL'));
  const kill = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
    unregister();
  };
  t.after(() => kill('SIGKILL'));
  // Listening, not just bound: the socket file appears at bind(), a moment before listen(), and a connection in
  // between is refused (seen once on a loaded CI machine). The probe costs one "Message loop failure" log line.
  let listening = false;
  for (let i = 0; i < 3000 && !listening; i++) {
    listening = existsSync(socketPath) && (await connects(socketPath));
    if (!listening) await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.ok(listening, `the daemon should listen on ${socketPath}: ${existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''}`);
  return { dataDir, storage, socketPath, logFile, pid: child.pid!, kill };
}

function connects(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ path: socketPath });
    socket.on('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

const client = (...args: string[]): Promise<Result> => run(WALG_CLIENT_BIN, args);

describe('walg-daemon-client with wal-g daemon', () => {
  test('--version prints the tab-separated version line', async () => {
    const result = await client('--version');
    assert.equal(result.code, 0);
    assert.match(result.stdout, /^walg-daemon-client\t\S+\t\S+\t\S+\n$/);
  });

  test('push and fetch exit 0; a missing WAL file exits 74 with the daemon\'s answer on stdout', async (t) => {
    const daemon = await startDaemon(t, { WALG_DOWNLOAD_CONCURRENCY: '1' });
    const data = fakeSegment();
    writeFileSync(join(daemon.dataDir, 'pg_wal', S1), data);
    const pushed = await client(daemon.socketPath, 'wal-push', S1);
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.ok(existsSync(join(daemon.storage, 'wal_005', `${S1}.lz4`)));
    const fetched = await client(daemon.socketPath, 'wal-fetch', S1, 'pg_wal/RECOVERYXLOG');
    assert.equal(fetched.code, 0, fetched.stderr);
    assert.ok(readFileSync(join(daemon.dataDir, 'pg_wal', 'RECOVERYXLOG')).equals(data));
    const missing = await client(daemon.socketPath, 'wal-fetch', S2, 'pg_wal/RECOVERYXLOG2');
    assert.equal(missing.code, 74);
    assert.equal(missing.stdout, `daemon command run error [message type: f, args: [${S2} pg_wal/RECOVERYXLOG2], daemon response: N]\n`);
  });

  test('a push the daemon cannot do exits 1 with the daemon\'s E answer in a log line', async (t) => {
    const daemon = await startDaemon(t);
    const result = await client(daemon.socketPath, 'wal-push', S2);
    assert.equal(result.code, 1);
    assert.match(result.stderr, new RegExp(`^\\d{4}/\\d\\d/\\d\\d \\d\\d:\\d\\d:\\d\\d daemon command run error \\[message type: F, args: \\[${S2}\\], daemon response: E\\]\\n$`));
    assert.match(readFileSync(daemon.logFile, 'utf8'), /ERROR: .* Message loop failure: handle message: file archiving failed: upload: could not open/);
  });

  test('a socket that does not exist, or that nobody listens on, exits 1 with a clear message', async (t) => {
    const root = makeTempDir({ prefix: 'walnut-daemoncli-' });
    const gone = await client(join(root, 'nothing.sock'), 'wal-push', S1);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, new RegExp(`daemon socket '${join(root, 'nothing.sock')}' doesn't exist or is unavailable:\\n\\tstat ${join(root, 'nothing.sock')}: no such file or directory\\n$`));
    const daemon = await startDaemon(t);
    await daemon.kill('SIGKILL');
    const dead = await client(daemon.socketPath, 'wal-push', S1);
    assert.equal(dead.code, 1);
    assert.match(dead.stderr, /unix socket dial error: dial unix .*walg\.sock: connect: connection refused\n$/);
  });

  test('a daemon killed during a push leaves the client failing and nothing stored under the segment\'s name', async (t) => {
    const daemon = await startDaemon(t);
    writeFileSync(join(daemon.dataDir, 'pg_wal', S1), fakeSegment(64 * 1024 * 1024));
    const pushing = client(daemon.socketPath, 'wal-push', S1);
    const walFolder = join(daemon.storage, 'wal_005');
    for (let i = 0; i < 3000 && !existsSync(walFolder); i++) await new Promise((resolve) => setTimeout(resolve, 5));
    await daemon.kill('SIGKILL');
    const result = await pushing;
    assert.equal(result.code, 1);
    assert.match(result.stderr, /unix socket read error: EOF|unix socket read error: .*reset/);
    assert.equal(existsSync(join(walFolder, `${S1}.lz4`)), false);
  });

  test('--timeout bounds the wait for the answer', async (t) => {
    const daemon = await startDaemon(t);
    writeFileSync(join(daemon.dataDir, 'pg_wal', S1), fakeSegment(64 * 1024 * 1024));
    const result = await client(daemon.socketPath, 'wal-push', S1, '--timeout', '20ms');
    assert.equal(result.code, 1);
    assert.match(result.stderr, /unix socket read error: read unix @->.*walg\.sock: i\/o timeout\n$/);
  });

  test('raw protocol: C and F on one connection answer OO, as WAL-G\'s daemon test expects', async (t) => {
    const daemon = await startDaemon(t);
    writeFileSync(join(daemon.dataDir, 'pg_wal', S1), fakeSegment());
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = createConnection({ path: daemon.socketPath });
      let received = '';
      socket.on('connect', () => socket.write(Buffer.concat([Buffer.from([0x43, 0, 8]), Buffer.from('CHECK'), Buffer.from([0x46, 0, 27]), Buffer.from(S1)])));
      socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
      socket.on('error', reject);
      socket.on('close', () => resolve(received));
    });
    assert.equal(answer, 'OO');
    assert.ok(existsSync(join(daemon.storage, 'wal_005', `${S1}.lz4`)));
  });

  test('SIGUSR1 neither opens a debugger port nor stops the daemon', async (t) => {
    const daemon = await startDaemon(t);
    process.kill(daemon.pid, 'SIGUSR1');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const probe = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port: 9229 });
      socket.on('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    assert.equal(probe, false, 'nothing may listen on the inspector port');
    assert.doesNotMatch(readFileSync(daemon.logFile, 'utf8'), /Debugger listening/);
    writeFileSync(join(daemon.dataDir, 'pg_wal', S1), fakeSegment());
    assert.equal((await client(daemon.socketPath, 'wal-push', S1)).code, 0);
  });

  test('SIGHUP reopens WALG_LOG_DESTINATION, so a rotated log file is recreated', async (t) => {
    const daemon = await startDaemon(t);
    writeFileSync(join(daemon.dataDir, 'pg_wal', S1), fakeSegment());
    writeFileSync(join(daemon.dataDir, 'pg_wal', S2), fakeSegment());
    assert.equal((await client(daemon.socketPath, 'wal-push', S1)).code, 0);
    renameSync(daemon.logFile, `${daemon.logFile}.1`);
    process.kill(daemon.pid, 'SIGHUP');
    for (let i = 0; i < 500 && !existsSync(daemon.logFile); i++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal((await client(daemon.socketPath, 'wal-push', S2)).code, 0);
    assert.match(readFileSync(`${daemon.logFile}.1`, 'utf8'), new RegExp(`FILE PATH: ${S1}\\.lz4`));
    assert.match(readFileSync(daemon.logFile, 'utf8'), new RegExp(`FILE PATH: ${S2}\\.lz4`));
    assert.doesNotMatch(readFileSync(daemon.logFile, 'utf8'), new RegExp(S1));
  });
});

// The client's own command line and wire bytes, against a listener of the test's own (no daemon needed).

const FLAG_DEFAULTS =
  '  -connection-timeout duration\n    \tdaemon socket connection timeout (default 5s)\n' +
  '  -timeout duration\n    \tdaemon operation execution timeout (default 1m0s)\n';
const GENERAL_USAGE = (error: string): string =>
  `Error: ${error}\n\nwalg-daemon-client is lightweight client for WAL-G daemon\n\nUsage:\n` +
  '  walg-daemon-client socket command [command_args] [flags]\n\nArguments:\n' +
  '  socket\t- name of unix socket to communicate with wal-g daemon\n' +
  '  command\t- command to send to the daemon: wal-push, wal-fetch\n' +
  '  command_args\t- command specific arguments\n\nFlags:\n';

interface FakeDaemon {
  readonly socketPath: string;
  /** Every request frame received, one Buffer per connection. */
  readonly received: Buffer[];
}

/** Listens on a fresh socket; answers each connection with `answer` after `delayMs` (or closes when answer is ''). */
async function fakeDaemon(t: { after(fn: () => Promise<void>): void }, answer: string, delayMs = 0): Promise<FakeDaemon> {
  const { createServer } = await import('node:net');
  const socketPath = join(makeTempDir({ prefix: 'walnut-fakedaemon-' }), 'fake.sock');
  const received: Buffer[] = [];
  const server = createServer((connection) => {
    const chunks: Buffer[] = [];
    connection.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      const frame = Buffer.concat(chunks);
      if (frame.length < 3 || frame.length < frame.readUInt16BE(1)) return;
      received.push(frame);
      setTimeout(() => (answer === '' ? connection.end() : connection.end(answer)), delayMs);
    });
    connection.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { socketPath, received };
}

describe('walg-daemon-client command line and wire format', () => {
  test('too few arguments and an unknown command print WAL-G\'s general usage on stdout, flag defaults on stderr, exit 1', async () => {
    const none = await client('/run/walg.sock');
    assert.deepEqual(none, { code: 1, stdout: GENERAL_USAGE('not enough arguments'), stderr: FLAG_DEFAULTS });
    const unknown = await client('/run/walg.sock', 'BACKUP-push');
    assert.deepEqual(unknown, { code: 1, stdout: GENERAL_USAGE('unsupported command backup-push'), stderr: FLAG_DEFAULTS });
  });

  test('missing command arguments name the command\'s own usage line', async () => {
    const result = await client('/run/walg.sock', 'wal-fetch', 'a');
    assert.equal(result.code, 1);
    assert.equal(
      result.stdout,
      'Error: not enough command arguments\n\nwalg-daemon-client is lightweight client for WAL-G daemon\n\nUsage:\n' +
        '  walg-daemon-client socket wal-fetch wal_name destination_filename [flags]\n\nFlags:\n',
    );
    assert.equal(result.stderr, FLAG_DEFAULTS);
  });

  test('bad flags get Go\'s flag-package message and usage on stderr before the usage text', async () => {
    const notDefined = await client('/run/walg.sock', 'wal-push', 'a', '--retries', '3');
    assert.deepEqual(notDefined, {
      code: 1,
      stdout: GENERAL_USAGE('flag provided but not defined: -retries'),
      stderr: `flag provided but not defined: -retries\nUsage:\n${FLAG_DEFAULTS}${FLAG_DEFAULTS}`,
    });
    const badValue = await client('/run/walg.sock', 'wal-push', 'a', '-timeout', 'soon');
    assert.equal(badValue.code, 1);
    assert.equal(badValue.stdout, GENERAL_USAGE('invalid value "soon" for flag -timeout: parse error'));
    const noValue = await client('/run/walg.sock', 'wal-push', 'a', '--timeout');
    assert.equal(noValue.stdout, GENERAL_USAGE('flag needs an argument: -timeout'));
    const help = await client('/run/walg.sock', 'wal-push', 'a', '-h');
    assert.deepEqual(help, { code: 1, stdout: GENERAL_USAGE('flag: help requested'), stderr: `Usage:\n${FLAG_DEFAULTS}${FLAG_DEFAULTS}` });
  });

  test('a push sends F, the u16 length and the raw name; a fetch sends f and the argument list; O exits 0', async (t) => {
    const daemon = await fakeDaemon(t, 'O');
    const pushed = await client(daemon.socketPath, 'WAL-PUSH', S1);
    assert.deepEqual(pushed, { code: 0, stdout: '', stderr: '' });
    const fetched = await client(daemon.socketPath, 'wal-fetch', S1, 'pg_wal/RECOVERYXLOG', '--timeout=1m30s', '-connection-timeout', '250ms');
    assert.deepEqual(fetched, { code: 0, stdout: '', stderr: '' });
    assert.deepEqual(daemon.received[0], Buffer.concat([Buffer.from([0x46, 0, 27]), Buffer.from(S1)]));
    const list = Buffer.concat([Buffer.from([2, 0, 24]), Buffer.from(S1), Buffer.from([0, 19]), Buffer.from('pg_wal/RECOVERYXLOG')]);
    assert.deepEqual(daemon.received[1], Buffer.concat([Buffer.from([0x66, 0, 3 + list.length]), list]));
  });

  test('-timeout bounds the wait for a slow answer; flags after an extra positional argument are not read, as in Go', async (t) => {
    const daemon = await fakeDaemon(t, 'O', 800);
    const slow = await client(daemon.socketPath, 'wal-push', S1, '-timeout', '200ms');
    assert.equal(slow.code, 1);
    assert.match(slow.stderr, new RegExp(`^\\d{4}/\\d\\d/\\d\\d \\d\\d:\\d\\d:\\d\\d unix socket read error: read unix @->${daemon.socketPath}: i/o timeout\\n$`));
    const ignored = await client(daemon.socketPath, 'wal-push', S1, 'extra', '-timeout', '200ms');
    assert.deepEqual(ignored, { code: 0, stdout: '', stderr: '' });
    const zero = await client(daemon.socketPath, 'wal-push', S1, '-connection-timeout', '0');
    assert.equal(zero.code, 1);
    assert.match(zero.stderr, /unix socket dial error: dial unix .*fake\.sock: i\/o timeout\n$/);
  });

  test('an answer other than O exits 1 naming it; N exits 74 on stdout; a closed connection is EOF', async (t) => {
    const refusing = await fakeDaemon(t, 'E');
    const refused = await client(refusing.socketPath, 'wal-fetch', S1, 'x y');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, new RegExp(`daemon command run error \\[message type: f, args: \\[${S1} x y\\], daemon response: E\\]\\n$`));
    const missing = await fakeDaemon(t, 'N');
    assert.deepEqual(await client(missing.socketPath, 'wal-fetch', S1, 'x'), {
      code: 74,
      stdout: `daemon command run error [message type: f, args: [${S1} x], daemon response: N]\n`,
      stderr: '',
    });
    const closing = await fakeDaemon(t, '');
    const closed = await client(closing.socketPath, 'wal-push', S1);
    assert.equal(closed.code, 1);
    assert.match(closed.stderr, /unix socket read error: EOF\n$/);
  });

  test('the binary is a small native program, not a Node.js one', async () => {
    const { statSync } = await import('node:fs');
    assert.ok(statSync(WALG_CLIENT_BIN).size < 1024 * 1024, `${WALG_CLIENT_BIN} should be well under 1 MiB`);
  });
});
