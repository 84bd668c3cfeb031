// walg-daemon-client: sends one wal-push or wal-fetch request to `wal-g daemon` over its Unix socket and exits
// 0 on `O`, 74 on `N` (no such WAL), 1 otherwise. Runs once per WAL segment, so it loads nothing it does not need.

import { statSync, writeSync } from 'node:fs';
import { createConnection } from 'node:net';
import { systemErrorReason } from '../storage/go-text.ts';
import { BUILD_DATE, REVISION, VERSION } from '../version.ts';
import { encodeRequest, MESSAGE_TYPE, messageTypeName } from '../wal/daemon-protocol.ts';
import { flagDefaults, parseClientArguments, usageText, type ClientRequest } from './arguments.ts';

const EXIT_WAL_NOT_FOUND = 74;

function write(fd: number, text: string): void {
  try {
    writeSync(fd, text);
  } catch {
    // A closed stdout or stderr must not change the exit code.
  }
}

/** Go's standard logger prefix: local `2006/01/02 15:04:05 `. */
function goLogTimestamp(now = new Date()): string {
  const pad = (value: number): string => String(value).padStart(2, '0');
  return `${now.getFullYear()}/${pad(now.getMonth() + 1)}/${pad(now.getDate())} ${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())}`;
}

/** log.Fatal: one timestamped line on stderr, exit 1. */
function fatal(message: string): never {
  write(2, `${goLogTimestamp()} ${message}\n`);
  process.exit(1);
}

class SendError extends Error {
  /** The daemon's answer byte when it answered something other than `O`. */
  readonly answer: number | undefined;
  constructor(message: string, answer?: number) {
    super(message);
    this.answer = answer;
  }
}

/** Go's %v of a []string: `[a b]`. */
function goList(values: readonly string[]): string {
  return `[${values.join(' ')}]`;
}

/** Connects within the connection timeout, sends the request, and reads the one-byte answer within the timeout. */
function sendRequest(request: ClientRequest): Promise<void> {
  const message = encodeRequest(request.command.messageType, request.messageArgs);
  const address = `unix ${request.socketPath}`;
  return new Promise((resolve, reject) => {
    const socket = createConnection({ path: request.socketPath });
    let connected = false;
    let written = false;
    let settled = false;
    const settle = (error?: SendError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(connectTimer);
      clearTimeout(operationTimer);
      socket.destroy();
      if (error) reject(error);
      else resolve();
    };
    let operationTimer: NodeJS.Timeout | undefined;
    const connectTimer = setTimeout(() => settle(new SendError(`unix socket dial error: dial ${address}: i/o timeout`)), request.connectionTimeoutMs);
    socket.on('connect', () => {
      connected = true;
      clearTimeout(connectTimer);
      operationTimer = setTimeout(() => {
        const phase = written ? 'read' : 'write';
        settle(new SendError(`unix socket ${phase} error: ${phase} unix @->${request.socketPath}: i/o timeout`));
      }, request.timeoutMs);
      socket.write(message, () => {
        written = true;
      });
    });
    socket.once('data', (chunk: Buffer) => {
      const answer = chunk[0];
      if (answer === MESSAGE_TYPE.ok) {
        settle();
        return;
      }
      settle(
        new SendError(
          `daemon command run error [message type: ${messageTypeName(request.command.messageType)}, args: ${goList(request.messageArgs)}, daemon response: ${messageTypeName(answer)}]`,
          answer,
        ),
      );
    });
    socket.on('end', () => settle(new SendError('unix socket read error: EOF')));
    socket.on('error', (error) => {
      if (!connected) settle(new SendError(`unix socket dial error: dial ${address}: connect: ${systemErrorReason(error)}`));
      else settle(new SendError(`unix socket ${written ? 'read' : 'write'} error: ${systemErrorReason(error)}`));
    });
  });
}

async function main(argv: readonly string[]): Promise<number> {
  if (argv.length > 0 && argv[0].toLowerCase() === '--version') {
    write(1, `${['walg-daemon-client', VERSION, REVISION, BUILD_DATE].join('\t')}\n`);
    return 0;
  }
  const parsed = parseClientArguments(argv);
  if (parsed.kind === 'usage') {
    if (parsed.flagOutput) write(2, parsed.flagOutput);
    write(1, usageText(parsed.error, parsed.commandUsage));
    write(2, flagDefaults());
    return 1;
  }
  const { request } = parsed;
  try {
    statSync(request.socketPath);
  } catch (error) {
    fatal(`daemon socket '${request.socketPath}' doesn't exist or is unavailable:\n\tstat ${request.socketPath}: ${systemErrorReason(error)}`);
  }
  try {
    await sendRequest(request);
    return 0;
  } catch (error) {
    if (error instanceof SendError && error.answer === MESSAGE_TYPE.notFound) {
      write(1, `${error.message}\n`);
      return EXIT_WAL_NOT_FOUND;
    }
    fatal(error instanceof Error ? error.message : String(error));
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => fatal(error instanceof Error ? error.message : String(error)),
);
