// Azurite (Microsoft's Azure Blob Storage emulator) for integration tests: a private instance on a free loopback port, always stopped.
//
// Usage:
//   await using azurite = await startAzurite();
//   await azurite.createContainer('backups');
//   // settings: AZURE_STORAGE_ACCOUNT=azurite.account, AZURE_STORAGE_ACCESS_KEY=azurite.accountKey,
//   //           WALNUT_AZURE_ENDPOINT=azurite.endpoint
//
// Azurite runs under the project's Node (node_modules/.bin/node), in its own process, storing blobs in a temp directory.
// `stop()` takes it down with open connections cut (the tests use it to make a server vanish mid-upload) and
// `start()` brings it back on the same port and directory, with the data it had saved. An exit hook kills it and
// removes the directory if a test forgets.

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeTempDir, registerExitCleanup, removeTempDir } from './tmp.ts';

const repositoryRoot = join(import.meta.dirname, '..', '..');
const projectNode = join(repositoryRoot, 'node_modules', '.bin', 'node');
const azuriteBlobMain = join(repositoryRoot, 'node_modules', '.bin', 'azurite-blob');

/** Azurite's fixed development account (documented, public, not a secret). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_ACCOUNT_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

const READY_TIMEOUT_MS = 60_000;
/** How long a SIGTERM may take before SIGKILL follows. */
const STOP_TIMEOUT_MS = 10_000;

export interface AzuriteServer extends AsyncDisposable {
  readonly account: string;
  readonly accountKey: string;
  readonly port: number;
  /** The account's blob service URL, `http://127.0.0.1:<port>/devstoreaccount1` (what WALNUT_AZURE_ENDPOINT takes). */
  readonly endpoint: string;
  /** Where Azurite keeps its data. */
  readonly location: string;
  readonly running: boolean;
  /** Creates a container (no error when it exists already). */
  createContainer(name: string): Promise<void>;
  /**
   * Stops the server, cutting open connections. By default with SIGTERM, which lets Azurite save its metadata
   * database (containers, committed blobs) first; `{ kill: true }` sends SIGKILL, and whatever Azurite had not
   * saved yet (it saves every few seconds) is lost, containers included.
   */
  stop(options?: { kill?: boolean }): Promise<void>;
  /** Starts it again on the same port and directory. */
  start(): Promise<void>;
  /** Stops the server and removes its directory; safe to call twice. */
  cleanup(): Promise<void>;
}

export async function startAzurite(): Promise<AzuriteServer> {
  const location = makeTempDir({ prefix: 'walnut-azurite-' });
  const port = await freeLoopbackPort();
  let child: ChildProcess | undefined;
  let cleaned = false;

  const killNow = (): void => {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  const unregisterKill = registerExitCleanup(`kill azurite on port ${port}`, killNow);

  const launch = async (): Promise<void> => {
    const started = spawn(
      projectNode,
      [
        realpathSync(azuriteBlobMain),
        '--blobHost', '127.0.0.1',
        '--blobPort', String(port),
        '--location', location,
        '--silent',
        '--skipApiVersionCheck',
        '--loose',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child = started;
    let stderr = '';
    started.stderr?.setEncoding('utf8').on('data', (text: string) => {
      if (stderr.length < 8192) stderr += text;
    });
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (!(await portAnswers(port))) {
      if (started.exitCode !== null || started.signalCode !== null) {
        throw new Error(`azurite exited before listening on 127.0.0.1:${port} (${started.exitCode ?? started.signalCode}): ${stderr}`);
      }
      if (Date.now() > deadline) {
        killNow();
        throw new Error(`azurite did not listen on 127.0.0.1:${port} within ${READY_TIMEOUT_MS} ms: ${stderr}`);
      }
      await sleep(50);
    }
  };

  const stop = async (options: { kill?: boolean } = {}): Promise<void> => {
    const running = child;
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    running.kill(options.kill === true ? 'SIGKILL' : 'SIGTERM');
    const stopped = await Promise.race([exited.then(() => true), sleep(STOP_TIMEOUT_MS).then(() => false)]);
    if (!stopped) {
      running.kill('SIGKILL');
      await exited;
    }
  };

  const server: AzuriteServer = {
    account: AZURITE_ACCOUNT,
    accountKey: AZURITE_ACCOUNT_KEY,
    port,
    endpoint: `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`,
    location,
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    async createContainer(name: string): Promise<void> {
      const { BlobServiceClient, StorageSharedKeyCredential } = await import('@azure/storage-blob');
      const service = new BlobServiceClient(server.endpoint, new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_ACCOUNT_KEY));
      await service.getContainerClient(name).createIfNotExists();
    },
    stop,
    start: launch,
    async cleanup(): Promise<void> {
      if (cleaned) return;
      cleaned = true;
      await stop({ kill: true });
      unregisterKill();
      removeTempDir(location);
    },
    [Symbol.asyncDispose]() {
      return server.cleanup();
    },
  };

  try {
    await launch();
  } catch (error) {
    await server.cleanup();
    throw error;
  }
  return server;
}

/** A TCP port on 127.0.0.1 that nobody listens on right now. */
export async function freeLoopbackPort(): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => (port === 0 ? reject(new Error('no free port on 127.0.0.1')) : resolve(port)));
    });
  });
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
export function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
