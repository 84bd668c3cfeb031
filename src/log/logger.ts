// WAL-G's log lines: `INFO: 2024/01/31 12:34:56.123456 message` on stderr (or WALG_LOG_DESTINATION).

import { openSync, writeSync, closeSync } from 'node:fs';

export type LogLevel = 'NORMAL' | 'DEVEL' | 'ERROR';
export const LOG_LEVELS: readonly LogLevel[] = ['NORMAL', 'DEVEL', 'ERROR'];

interface LoggerState {
  level: LogLevel;
  fd: number; // 2 = stderr
  ownsFd: boolean;
  prefix: string; // 'PREFETCH ' for the prefetch child in DEVEL mode
  muted: boolean; // wal-prefetch discards its logs unless DEVEL
}

const state: LoggerState = { level: 'NORMAL', fd: 2, ownsFd: false, prefix: '', muted: false };

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** Local time as Go's log package prints it with date|time|microseconds flags. */
export function logTimestamp(now = new Date(), subMillisMicros = 0): string {
  const micros = now.getMilliseconds() * 1000 + subMillisMicros;
  return (
    `${now.getFullYear()}/${pad(now.getMonth() + 1)}/${pad(now.getDate())} ` +
    `${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())}.${pad(micros, 6)}`
  );
}

function microsFraction(): number {
  // process.hrtime, not performance.now(): the latter loads perf_hooks (7 ms of every start).
  return Number((process.hrtime.bigint() / 1000n) % 1000n);
}

function write(kind: string, message: string): void {
  if (state.muted) return;
  const line = `${state.prefix}${kind}: ${logTimestamp(new Date(), microsFraction())} ${message}\n`;
  try {
    writeSync(state.fd, line);
  } catch {
    /* a closed stderr must not turn a success into a failure */
  }
}

export const log = {
  info(message: string): void {
    if (state.level !== 'ERROR') write('INFO', message);
  },
  warn(message: string): void {
    if (state.level !== 'ERROR') write('WARNING', message);
  },
  error(message: string): void {
    write('ERROR', message);
  },
  debug(message: string): void {
    if (state.level === 'DEVEL') write('DEBUG', message);
  },
  isDebug(): boolean {
    return state.level === 'DEVEL';
  },
};

/** Warnings emitted before logging is configured always go to stderr (WAL-G does the same). */
export function earlyWarning(message: string): void {
  const line = `WARNING: ${logTimestamp(new Date(), microsFraction())} ${message}\n`;
  try {
    writeSync(2, line);
  } catch {
    /* ignore */
  }
}

/** Applies WALG_LOG_LEVEL / WALG_LOG_DESTINATION; throws with WAL-G's message on a bad level. */
export function configureLogging(level: string | undefined, destination: string | undefined): void {
  const wanted = (level ?? 'NORMAL') || 'NORMAL';
  if (!LOG_LEVELS.includes(wanted as LogLevel)) {
    const previous = state.level;
    write('ERROR', 'Failed to configure logging.');
    throw new LogConfigError(
      `failed to setup logging: got incorrect log level: '${previous}', expected one of: '[${LOG_LEVELS.join(' ')}]'`,
    );
  }
  state.level = wanted as LogLevel;
  reopenDestination(destination);
}

export class LogConfigError extends Error {}

let lastDestination: string | undefined;

/** (Re)opens the log file; the daemon calls this on SIGUSR1 so logrotate works. */
export function reopenDestination(destination = lastDestination): void {
  lastDestination = destination;
  if (state.ownsFd) {
    try {
      closeSync(state.fd);
    } catch {
      /* ignore */
    }
    state.ownsFd = false;
    state.fd = 2;
  }
  if (destination && destination !== 'stderr') {
    state.fd = openSync(destination, 'a', 0o644);
    state.ownsFd = true;
  }
}

/** wal-prefetch runs silently unless DEVEL, where every prefix gains `PREFETCH `. */
export function usePrefetchLogging(): void {
  if (state.level === 'DEVEL') state.prefix = 'PREFETCH ';
  else state.muted = true;
}

export function currentLogLevel(): LogLevel {
  return state.level;
}
