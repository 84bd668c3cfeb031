// Runs `wal-g` in-process for CLI tests: captured stdout/stderr, a private environment and home directory, and the
// log lines (written to a per-run WALG_LOG_DESTINATION file, since the logger writes to file descriptors).

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { runCli } from '../../src/cli/run.ts';
import { makeTempDir } from './tmp.ts';

export interface CliOutcome {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** Log lines (INFO:/ERROR:/…) written after logging was configured. */
  readonly log: string;
  /** The environment after the run (settings are exported into it). */
  readonly env: NodeJS.ProcessEnv;
}

let home: string | undefined;
let runNumber = 0;

function capture(chunks: string[]): Writable {
  return new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
}

/** Runs `wal-g <args>` with only `env` (plus a log destination) as its environment and an empty home directory. */
export async function runWalg(args: readonly string[], env: Record<string, string> = {}): Promise<CliOutcome> {
  home ??= makeTempDir({ prefix: 'walnut-cli-home-' });
  const logPath = join(home, `log-${++runNumber}.txt`);
  const stdout: string[] = [];
  const stderr: string[] = [];
  const processEnv: NodeJS.ProcessEnv = { WALG_LOG_DESTINATION: logPath, ...env };
  const code = await runCli(args, { stdout: capture(stdout), stderr: capture(stderr), env: processEnv, homeDir: home });
  const log = existsSync(logPath) ? readFileSync(logPath, 'utf8') : '';
  return { code, stdout: stdout.join(''), stderr: stderr.join(''), log, env: processEnv };
}

/** The command names listed under "Available Commands:" in a help text. */
export function listedCommands(help: string): string[] {
  const section = help.split('Available Commands:\n')[1];
  if (section === undefined) return [];
  return section
    .split('\n\n')[0]
    .split('\n')
    .map((line) => line.split(' ')[0]);
}

/** A log line's message with the `LEVEL: 2024/01/31 12:34:56.123456 ` prefix checked and removed. */
export function logMessages(log: string, level: 'INFO' | 'WARNING' | 'ERROR' | 'DEBUG'): string[] {
  const prefix = new RegExp(`^${level}: \\d{4}/\\d{2}/\\d{2} \\d{2}:\\d{2}:\\d{2}\\.\\d{6} `);
  return log
    .split('\n')
    .filter((line) => prefix.test(line))
    .map((line) => line.replace(prefix, ''));
}
