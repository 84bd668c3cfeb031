// walg-daemon-client's command line, as WAL-G's cmd/daemonclient reads it: `<socket> <command> <args…> [flags]`,
// flags parsed by Go's `flag` package after the positional arguments. No I/O here.

import { formatGoDuration, parseGoDuration } from '../config/go-values.ts';
import { MESSAGE_TYPE } from '../wal/daemon-protocol.ts';

export interface ClientCommand {
  readonly name: string;
  readonly messageType: number;
  readonly argumentNames: readonly string[];
}

export const CLIENT_COMMANDS: Readonly<Record<string, ClientCommand>> = {
  'wal-push': { name: 'wal-push', messageType: MESSAGE_TYPE.walPush, argumentNames: ['wal_filepath'] },
  'wal-fetch': { name: 'wal-fetch', messageType: MESSAGE_TYPE.walFetch, argumentNames: ['wal_name', 'destination_filename'] },
};

interface FlagDefinition {
  readonly name: string;
  readonly usage: string;
  readonly defaultNanoseconds: number;
}

/** Go's flag set, sorted by name as PrintDefaults lists it. */
const FLAGS: readonly FlagDefinition[] = [
  { name: 'connection-timeout', usage: 'daemon socket connection timeout', defaultNanoseconds: 5e9 },
  { name: 'timeout', usage: 'daemon operation execution timeout', defaultNanoseconds: 60e9 },
];

export interface ClientRequest {
  readonly socketPath: string;
  readonly command: ClientCommand;
  readonly messageArgs: readonly string[];
  readonly timeoutMs: number;
  readonly connectionTimeoutMs: number;
}

export type ParseOutcome =
  | { readonly kind: 'request'; readonly request: ClientRequest }
  /** A usage error: `error` goes into the usage text; `flagOutput` is what Go's flag package itself printed (stderr). */
  | { readonly kind: 'usage'; readonly error: string; readonly commandUsage: string | undefined; readonly flagOutput: string };

/** Go's FlagSet.PrintDefaults for the two duration flags. */
export function flagDefaults(): string {
  return FLAGS.map((flag) => `  -${flag.name} duration\n    \t${flag.usage} (default ${formatGoDuration(flag.defaultNanoseconds)})\n`).join('');
}

/** The text WAL-G's client prints on stdout for a usage error (its Go template), before the flag defaults. */
export function usageText(error: string, commandUsage: string | undefined): string {
  const usageLine = commandUsage ?? 'command [command_args]';
  const argumentsSection = commandUsage
    ? ''
    : '\nArguments:\n  socket\t- name of unix socket to communicate with wal-g daemon\n' +
      '  command\t- command to send to the daemon: wal-push, wal-fetch\n' +
      '  command_args\t- command specific arguments\n';
  return (
    `Error: ${error}\n\nwalg-daemon-client is lightweight client for WAL-G daemon\n\nUsage:\n` +
    `  walg-daemon-client socket ${usageLine} [flags]\n${argumentsSection}\nFlags:\n`
  );
}

class FlagError extends Error {
  readonly help: boolean;
  constructor(message: string, help = false) {
    super(message);
    this.help = help;
  }
}

/** Go's flag.FlagSet.Parse with ContinueOnError: stops at the first non-flag argument or after `--`. */
function parseFlags(args: readonly string[]): Map<string, number> {
  const values = new Map<string, number>();
  let index = 0;
  while (index < args.length) {
    const arg = args[index];
    if (arg.length < 2 || arg[0] !== '-') break;
    let minuses = 1;
    if (arg[1] === '-') {
      minuses = 2;
      if (arg.length === 2) break;
    }
    let name = arg.slice(minuses);
    if (name.length === 0 || name[0] === '-' || name[0] === '=') throw new FlagError(`bad flag syntax: ${arg}`);
    index++;
    let value: string | undefined;
    const equals = name.indexOf('=');
    if (equals >= 0) {
      value = name.slice(equals + 1);
      name = name.slice(0, equals);
    }
    const flag = FLAGS.find((candidate) => candidate.name === name);
    if (flag === undefined) {
      if (name === 'help' || name === 'h') throw new FlagError('flag: help requested', true);
      throw new FlagError(`flag provided but not defined: -${name}`);
    }
    if (value === undefined) {
      if (index >= args.length) throw new FlagError(`flag needs an argument: -${name}`);
      value = args[index++];
    }
    try {
      values.set(name, parseGoDuration(value));
    } catch {
      throw new FlagError(`invalid value ${JSON.stringify(value)} for flag -${name}: parse error`);
    }
  }
  return values;
}

/** Reads the arguments after the program name (no `--version` handling: main checks that first, as WAL-G does). */
export function parseClientArguments(args: readonly string[]): ParseOutcome {
  if (args.length < 2) return { kind: 'usage', error: 'not enough arguments', commandUsage: undefined, flagOutput: '' };
  const socketPath = args[0];
  const commandName = args[1].toLowerCase();
  const command = Object.hasOwn(CLIENT_COMMANDS, commandName) ? CLIENT_COMMANDS[commandName] : undefined;
  if (command === undefined) return { kind: 'usage', error: `unsupported command ${commandName}`, commandUsage: undefined, flagOutput: '' };
  const argumentCount = command.argumentNames.length;
  if (args.length < 2 + argumentCount) {
    return {
      kind: 'usage',
      error: 'not enough command arguments',
      commandUsage: `${command.name} ${command.argumentNames.join(' ')}`,
      flagOutput: '',
    };
  }
  let flags = new Map<string, number>();
  try {
    flags = parseFlags(args.slice(2 + argumentCount));
  } catch (error) {
    const flagError = error as FlagError;
    // Go's flag package reports the problem (unless it is -help) and its own usage before returning.
    const flagOutput = `${flagError.help ? '' : `${flagError.message}\n`}Usage:\n${flagDefaults()}`;
    return { kind: 'usage', error: flagError.message, commandUsage: undefined, flagOutput };
  }
  return {
    kind: 'request',
    request: {
      socketPath,
      command,
      messageArgs: args.slice(2, 2 + argumentCount),
      timeoutMs: (flags.get('timeout') ?? 60e9) / 1e6,
      connectionTimeoutMs: (flags.get('connection-timeout') ?? 5e9) / 1e6,
    },
  };
}
