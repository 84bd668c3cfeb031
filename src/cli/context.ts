// What a command handler receives: its position in the command tree, its arguments and flags, the resolved settings
// and the output streams.

import type { Settings } from '../config/settings.ts';

/** Where command output goes: process.stdout/stderr in production, a capturing Writable in tests. */
export type OutputStream = NodeJS.WritableStream;

/**
 * A parsed flag value. bool → boolean; string → string; int, uint, uint32 → number; uint64 → bigint (LSNs need all
 * 64 bits); stringSlice → string[]; duration → number of nanoseconds (Go's time.Duration unit).
 */
export type FlagValue = boolean | string | number | bigint | readonly string[];

export interface CommandContext {
  /** Command path without `wal-g`, e.g. `['delete', 'retain']`. */
  readonly path: readonly string[];
  /** The name or alias the command was invoked by (cobra's CalledAs). */
  readonly calledAs: string;
  /** Positional arguments, flags removed. */
  readonly args: readonly string[];
  /**
   * Every flag that applies to the command (its own and the inherited ones such as `config`, `turbo`, `confirm`),
   * keyed by long name, with the default when not given. Hidden per-setting flags are not here: they are settings.
   * `target-storage` already holds WALG_TARGET_STORAGE when the flag was empty (WAL-G's root pre-run does that).
   */
  readonly flags: Readonly<Record<string, FlagValue>>;
  /** Long names of the flags given on the command line (cobra's `Flags().Changed`). */
  readonly changedFlags: ReadonlySet<string>;
  readonly settings: Settings;
  /** The environment the settings were exported to (process.env in production). */
  readonly env: NodeJS.ProcessEnv;
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
  /** The command's usage text, as cobra's `cmd.UsageString()` (some WAL-G commands print it to stdout). */
  usage(): string;
}

/** What `load()` of a command in the command tree resolves to. Returning a number sets the exit code. */
export interface CommandModule {
  run(context: CommandContext): Promise<number | void> | number | void;
}

/** Streams and environment of one CLI invocation; everything defaults to the real process. */
export interface CliIo {
  stdout?: OutputStream;
  stderr?: OutputStream;
  env?: NodeJS.ProcessEnv;
  /** Home directory searched for `.walg.*` when no --config is given (tests point it at an empty folder). */
  homeDir?: string;
}
