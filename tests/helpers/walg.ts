// Runs the built `wal-g` binary (WALNUT_BIN, else dist/wal-g) as a child process for integration tests.

import { spawn } from 'node:child_process';
import { join } from 'node:path';

export const WALG_BIN = process.env.WALNUT_BIN ?? join(import.meta.dirname, '../../dist/wal-g');

export interface WalgResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunWalgOptions {
  /** Environment of the child; by default an empty one plus PATH and HOME, so the machine's settings never leak in. */
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  readonly input?: string | Buffer;
  readonly timeoutMs?: number;
  /** Run as this OS user (runuser -u), e.g. the PostgreSQL cluster's user. */
  readonly user?: string;
}

export function runWalg(args: readonly string[], options: RunWalgOptions = {}): Promise<WalgResult> {
  const env = options.env ?? { PATH: process.env.PATH, HOME: process.env.HOME };
  const [command, commandArgs] = options.user
    ? ['runuser', ['-u', options.user, '--', WALG_BIN, ...args]]
    : [WALG_BIN, [...args]];
  return new Promise((resolve, reject) => {
    const child = spawn(command, commandArgs, { env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}
