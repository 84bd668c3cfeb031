// Runs one `wal-g` invocation in WAL-G's order (cobra v1.4.0 + WAL-G's hooks): locate the command, parse flags,
// help, version, group help, config and logging init, argument rules, pre-run (storage check), handler.

import { releaseStartupPages, shareMallocArena } from '../native/process-memory.ts';
import {
  develEnvironmentDump,
  exportToEnvironment,
  loadSettings,
  missingStorageError,
  type Settings,
} from '../config/settings.ts';
import { errorMessage, UsageError, WalgError } from '../errors.ts';
import { configureLogging, log, LogConfigError } from '../log/logger.ts';
import { BUILD_DATE, REVISION, VERSION } from '../version.ts';
import { checkArgs, GoPanic } from './args.ts';
import type { CommandNode, FlagSpec } from './command-tree.ts';
import type { CliIo, CommandContext, FlagValue, OutputStream } from './context.ts';
import { FlagParseError, parseFlags, type ParsedFlags } from './flag-parser.ts';
import { acceptedFlags, settingFlags } from './flag-sets.ts';
import { renderHelp, renderUsage } from './help.ts';
import { locateCommand, suggestionsFor } from './locate.ts';
import { useSynchronousLocalIo } from '../storage/local-fs.ts';

/** Runs the command line and returns the process exit code; never exits the process itself. */
export async function runCli(argv: readonly string[], io: CliIo = {}): Promise<number> {
  // Resolved on first use: process.stdout on a pipe or terminal loads node:net (~20 ms of CPU under --jitless), which
  // a wal-push that prints nothing there should not pay.
  const output = {
    get stdout(): OutputStream {
      return io.stdout ?? process.stdout;
    },
    get stderr(): OutputStream {
      return io.stderr ?? process.stderr;
    },
  };
  const env = io.env ?? process.env;

  const commandLine = parseCommandLine(argv);
  if (commandLine.kind === 'unknown-command') {
    write(output.stderr, `Error: ${commandLine.message}\nRun '${commandLine.node.commandPath} --help' for usage.\n`);
    write(output.stdout, `${commandLine.message}\n`);
    return 1;
  }
  const node = commandLine.node;
  if (commandLine.kind === 'bad-flags') return usageFailure(node, commandLine.message, output.stdout, output.stderr);
  const parsed = commandLine.parsed;

  if (parsed.values.get('help') === true) return printHelp(node, output.stdout, output.stderr);
  if (node.parent === undefined && parsed.values.get('version') === true) {
    write(output.stdout, `wal-g version ${VERSION}\t${REVISION}\t${BUILD_DATE}\tPostgreSQL\n`);
    return 0;
  }
  if (node.spec.load === undefined) return printHelp(node, output.stdout, output.stderr);

  // cobra's initializers: WAL-G's config init, then logging init.
  let settings: Settings;
  try {
    settings = initializeSettings(parsed, env, io.homeDir);
  } catch (err) {
    return reportFailure(err);
  }
  try {
    configureLogging(settings.get('WALG_LOG_LEVEL'), settings.get('WALG_LOG_DESTINATION'));
  } catch (err) {
    if (err instanceof LogConfigError) {
      log.error(err.message);
      return 1;
    }
    return reportFailure(err);
  }
  if (log.isDebug()) log.debug(develEnvironmentDump(settings, env).join('\n'));

  const args = parsed.positionals;
  if (node.spec.args !== undefined) {
    let problem: string | undefined;
    try {
      problem = checkArgs(node.spec.args, args, {
        commandPath: node.commandPath,
        changedFlags: parsed.changed,
        validArgs: node.spec.validArgs,
        suggest: (word) => suggestionsFor(node, word),
      });
    } catch (err) {
      if (err instanceof GoPanic) return goPanic(err, output.stderr);
      throw err;
    }
    if (problem !== undefined) return usageFailure(node, problem, output.stdout, output.stderr);
  }

  const context: CommandContext = {
    path: node.path,
    calledAs: commandLine.calledAs,
    args,
    flags: commandLine.flags,
    changedFlags: parsed.changed,
    settings,
    env,
    get stdout() {
      return output.stdout;
    },
    get stderr() {
      return output.stderr;
    },
    usage: () => renderUsage(node, { withHelp: true }),
  };

  try {
    const preRunFailure = runPersistentPreRun(node, context);
    if (preRunFailure !== undefined) return preRunFailure;

    // cobra checks required flags after the pre-run, over every flag the command accepts.
    const missing = acceptedFlags(node, true).all.filter((flag) => flag.required === true && !parsed.changed.has(flag.name));
    if (missing.length > 0) {
      const names = missing.map((flag) => flag.name).sort();
      return usageFailure(node, `required flag(s) "${names.join('", "')}" not set`, output.stdout, output.stderr);
    }

    const command = node.spec.use.split(' ')[0];
    limitThreadPool(command);
    const movesData = DATA_COMMANDS.has(command);
    if (movesData) shareMallocArena();
    const handler = await node.spec.load();
    if (movesData) releaseStartupPages();
    const exitCode = await handler.run(context);
    return typeof exitCode === 'number' ? exitCode : 0;
  } catch (err) {
    if (err instanceof UsageError) return usageFailure(node, err.message, output.stdout, output.stderr);
    return reportFailure(err);
  }
}

/** The outcome of locating the command and parsing its flags. */
export type CommandLine =
  | { readonly kind: 'unknown-command'; readonly node: CommandNode; readonly message: string }
  | { readonly kind: 'bad-flags'; readonly node: CommandNode; readonly message: string }
  | {
      readonly kind: 'parsed';
      readonly node: CommandNode;
      readonly calledAs: string;
      readonly parsed: ParsedFlags;
      /** Every applicable flag's value (given or default), as handlers see them in CommandContext.flags. */
      readonly flags: Record<string, FlagValue>;
    };

/** cobra's Find plus pflag parsing of the located command's flags (no settings, no side effects). */
export function parseCommandLine(argv: readonly string[]): CommandLine {
  const located = locateCommand(argv);
  const node = located.node;
  if (located.error !== undefined) return { kind: 'unknown-command', node, message: located.error };
  const accepted = acceptedFlags(node, true);
  let parsed: ParsedFlags;
  if (node.spec.disableFlagParsing === true) {
    parsed = { values: new Map(), changed: new Set(), positionals: located.args.slice(), argsLenAtDash: -1 };
  } else {
    try {
      parsed = parseFlags(accepted, located.args);
    } catch (err) {
      if (err instanceof FlagParseError) return { kind: 'bad-flags', node, message: err.message };
      throw err;
    }
  }
  return { kind: 'parsed', node, calledAs: located.calledAs, parsed, flags: flagValues(accepted.all, parsed) };
}

/** Config init: hidden per-setting flags given on the command line > env > config file > defaults, then export. */
function initializeSettings(parsed: ParsedFlags, env: NodeJS.ProcessEnv, homeDir: string | undefined): Settings {
  const flagValuesBySetting = new Map<string, string>();
  for (const flag of settingFlags()) {
    if (parsed.changed.has(flag.name)) flagValuesBySetting.set(flag.settingName!, parsed.values.get(flag.name) as string);
  }
  const configPath = parsed.values.get('config');
  const settings = loadSettings({
    flagValues: flagValuesBySetting,
    configPath: typeof configPath === 'string' && configPath !== '' ? configPath : undefined,
    env,
    homeDir,
  });
  exportToEnvironment(settings, env);
  return settings;
}

/**
 * cobra runs only the nearest persistent pre-run. WAL-G's root one checks that a storage is configured (unless
 * `NoStorage`) and lets WALG_TARGET_STORAGE fill an empty --target-storage; `ownPreRun` commands replace it.
 * Returns an exit code when the pre-run ends the invocation.
 */
export function runPersistentPreRun(node: CommandNode, context: CommandContext): number | undefined {
  for (let owner: CommandNode | undefined = node; owner !== undefined; owner = owner.parent) {
    if (owner.spec.annotations?.ownPreRun === true) {
      owner.spec.preRun?.(context);
      return undefined;
    }
  }
  // WAL-G skips its pre-run entirely for the shell-completion request.
  if (node.spec.onlyWhenInvoked === true) return undefined;
  if (node.spec.annotations?.noStorage !== true && context.settings.storagePrefix() === undefined) {
    const failure = missingStorageError();
    log.error(failure.message);
    return failure.exitCode;
  }
  const flags = context.flags as Record<string, FlagValue>;
  if (flags['target-storage'] === '') flags['target-storage'] = context.settings.get('WALG_TARGET_STORAGE') ?? '';
  return undefined;
}

/** Typed values of every flag the handler may read: given ones, defaults for the rest (no per-setting flags). */
function flagValues(flags: readonly FlagSpec[], parsed: ParsedFlags): Record<string, FlagValue> {
  const values: Record<string, FlagValue> = {};
  for (const flag of flags) {
    if (flag.settingName !== undefined || flag.name === 'help' || flag.name === 'version') continue;
    values[flag.name] = parsed.values.get(flag.name) ?? flag.default ?? zeroValue(flag);
  }
  return values;
}

function zeroValue(flag: FlagSpec): FlagValue {
  switch (flag.type) {
    case 'bool':
      return false;
    case 'string':
      return '';
    case 'uint64':
      return 0n;
    case 'stringSlice':
      return [];
    default:
      return 0;
  }
}

function printHelp(node: CommandNode, stdout: OutputStream, stderr: OutputStream): number {
  for (const part of renderHelp(node, { withHelp: true })) write(part.to === 'stdout' ? stdout : stderr, part.text);
  return 0;
}

/** cobra's error path: `Error: <message>` and the usage on stderr, then WAL-G prints the message on stdout. */
function usageFailure(node: CommandNode, message: string, stdout: OutputStream, stderr: OutputStream): number {
  write(stderr, `Error: ${message}\n${renderUsage(node, { withHelp: true })}\n`);
  write(stdout, `${message}\n`);
  return 1;
}

/** A failure after logging is set up: one `ERROR:` line (stack only at DEVEL level), the error's exit code. */
function reportFailure(err: unknown): number {
  if (err instanceof WalgError) {
    log.error(err.message);
    return err.exitCode;
  }
  log.error(log.isDebug() && err instanceof Error && err.stack !== undefined ? err.stack : errorMessage(err));
  return 1;
}

/** What the Go runtime prints when WAL-G panics (exit code 2). */
function goPanic(err: GoPanic, stderr: OutputStream): number {
  write(stderr, `panic: ${err.message}\n\ngoroutine 1 [running]:\n`);
  return 2;
}

function write(stream: OutputStream, text: string): void {
  if (text !== '') stream.write(text);
}

/**
 * libuv's pool has 4 threads by default, each with an 8 MiB stack (private writable memory) and, once it
 * allocates, its own glibc arena. The per-segment WAL commands move one object at a time and need one thread:
 * wal-push of a 16 MiB segment 271 ms with 4 threads or 2 (private writable 80 -> 64 MiB, session 2), and with one
 * 64 -> 52 MiB; a wal-push that also uploads a backlog of 15 `.ready` segments from file storage took 0.86 s with
 * one thread, 0.96 s with two, 1.00 s with four (medians of 7, session 6). It only takes effect before the pool's
 * first use, which is after this point; UV_THREADPOOL_SIZE set by the operator wins. The daemon serves the same
 * requests one at a time (PostgreSQL's archiver and startup process wait for each): private writable 96 -> 72 MiB.
 */
const SMALL_POOL_COMMANDS = new Set(['wal-push', 'wal-fetch', 'wal-prefetch', 'daemon']);

/**
 * Commands that stream object contents, for which walnut loads its addon at start to set up process memory
 * (src/native/process-memory.ts). The others (listings, delete, mark) never load an addon, as before: they
 * leave nothing in the addon cache directory.
 */
const DATA_COMMANDS = new Set([
  'wal-push', 'wal-fetch', 'wal-prefetch', 'wal-receive', 'wal-restore', 'wal-verify', 'daemon',
  'backup-push', 'backup-fetch', 'catchup-push', 'catchup-fetch', 'catchup-send', 'catchup-receive', 'copy',
  'cat', 'get', 'put', 'transfer',
]);

function limitThreadPool(command: string): void {
  if (SMALL_POOL_COMMANDS.has(command) && process.env.UV_THREADPOOL_SIZE === undefined) process.env.UV_THREADPOOL_SIZE = '1';
  // wal-push reads its segment and writes a file storage with synchronous calls, so it starts no pool thread at all
  // (src/storage/local-fs.ts): private writable 47 -> 39 MiB (docs/PERFORMANCE.md, session 6).
  if (command === 'wal-push') useSynchronousLocalIo(true);
}
