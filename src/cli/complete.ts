// Shell-completion candidates for a partial command line, following cobra v1.4.0's `__complete` protocol: one
// candidate per line (`name\tdescription`), then `:<directive>` telling the shell script what else to do.

import type { CommandNode, FlagSpec } from './command-tree.ts';
import { parseFlags, type ParsedFlags } from './flag-parser.ts';
import { acceptedFlags, inheritedFlags, localFlags } from './flag-sets.ts';
import { findCommand, isAvailableCommand, presentChildren } from './locate.ts';

/** cobra's ShellCompDirective bits. */
export const DIRECTIVE_ERROR = 1;
export const DIRECTIVE_NO_SPACE = 2;
export const DIRECTIVE_NO_FILE_COMPLETION = 4;
export const DIRECTIVE_FILTER_FILE_EXTENSION = 8;
export const DIRECTIVE_FILTER_DIRECTORIES = 16;
export const DIRECTIVE_DEFAULT = 0;

export interface Completion {
  readonly candidates: string[];
  readonly directive: number;
  /** A problem cobra reports on stderr (completion still prints the directive). */
  readonly problem?: string;
}

/** The directive's names as cobra prints them on stderr. */
export function directiveName(directive: number): string {
  const names: string[] = [];
  if (directive & DIRECTIVE_ERROR) names.push('ShellCompDirectiveError');
  if (directive & DIRECTIVE_NO_SPACE) names.push('ShellCompDirectiveNoSpace');
  if (directive & DIRECTIVE_NO_FILE_COMPLETION) names.push('ShellCompDirectiveNoFileComp');
  if (directive & DIRECTIVE_FILTER_FILE_EXTENSION) names.push('ShellCompDirectiveFilterFileExt');
  if (directive & DIRECTIVE_FILTER_DIRECTORIES) names.push('ShellCompDirectiveFilterDirs');
  if (names.length === 0) names.push('ShellCompDirectiveDefault');
  if (directive >= 32) return `ERROR: unexpected ShellCompDirective value: ${directive}`;
  return names.join(', ');
}

/** `args`: the words after `__complete`; the last one is the word being completed (possibly empty). */
export function completeCommandLine(args: readonly string[]): Completion {
  const typed = args[args.length - 1];
  const before = args.slice(0, -1);
  const found = findCommand(before);
  if (found.error !== undefined) {
    return { candidates: [], directive: DIRECTIVE_DEFAULT, problem: `Unable to find a command for arguments: [${before.join(' ')}]` };
  }
  const node = found.node;
  const flags = acceptedFlags(node, false);
  const flagContext = flagBeingCompleted(node, found.args, typed);

  // A `--` already on the line (counted by parsing once more with an extra `--`) turns flag completion off.
  let countWithDash = 0;
  try {
    countWithDash = parseFlags(flags, [...flagContext.args, '--']).positionals.length;
  } catch {
    countWithDash = 0;
  }
  let parsed: ParsedFlags;
  try {
    parsed = parseFlags(flags, flagContext.args);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return {
      candidates: [],
      directive: DIRECTIVE_DEFAULT,
      problem: `Error while parsing flags from args [${flagContext.args.join(' ')}]: ${reason}`,
    };
  }
  const flagCompletion = countWithDash <= parsed.positionals.length;
  if (flagContext.problem !== undefined && !(flagContext.unknownFlag && !flagCompletion)) {
    return { candidates: [], directive: DIRECTIVE_DEFAULT, problem: flagContext.problem };
  }
  const positionals = parsed.positionals;
  const toComplete = flagContext.toComplete;
  const flag = flagContext.flag;

  if (flag === undefined && toComplete.startsWith('-') && !toComplete.includes('=') && flagCompletion) {
    let candidates = requiredFlagCandidates(node, parsed, toComplete);
    if (candidates.length === 0) {
      for (const candidate of [...inheritedFlags(node, false), ...localFlags(node, false)]) {
        if (!parsed.changed.has(candidate.name) || candidate.type === 'stringSlice') {
          candidates.push(...flagNameCandidates(candidate, toComplete));
        }
      }
    }
    return { candidates, directive: DIRECTIVE_NO_FILE_COMPLETION };
  }

  const candidates: string[] = [];
  let directive = DIRECTIVE_DEFAULT;
  if (flag === undefined) {
    const ownFlagNames = new Set((node.spec.persistentFlags ?? []).map((candidate) => candidate.name));
    const localNonPersistentGiven = localFlags(node, false).some(
      (candidate) => !ownFlagNames.has(candidate.name) && parsed.changed.has(candidate.name),
    );
    if (positionals.length === 0 && !localNonPersistentGiven) {
      for (const child of sortedChildren(node)) {
        if (isAvailableCommand(child) || isHelpCommand(child)) {
          if (child.name.startsWith(toComplete)) candidates.push(`${child.name}\t${child.spec.short}`);
          directive = DIRECTIVE_NO_FILE_COMPLETION;
        }
      }
    }
    candidates.push(...requiredFlagCandidates(node, parsed, toComplete));
    const validArgs = node.spec.validArgs ?? [];
    if (validArgs.length > 0) {
      if (positionals.length === 0) {
        for (const validArg of validArgs) if (validArg.startsWith(toComplete)) candidates.push(validArg);
        directive = DIRECTIVE_NO_FILE_COMPLETION;
      }
      return { candidates, directive };
    }
    if (isHelpCommand(node)) {
      // cobra's help command completes the command path it is given.
      const target = findCommand(positionals);
      if (target.error !== undefined) return { candidates, directive: DIRECTIVE_NO_FILE_COMPLETION };
      for (const child of sortedChildren(target.node)) {
        if ((isAvailableCommand(child) || isHelpCommand(child)) && child.name.startsWith(toComplete)) {
          candidates.push(`${child.name}\t${child.spec.short}`);
        }
      }
      return { candidates, directive: DIRECTIVE_NO_FILE_COMPLETION };
    }
  }
  return { candidates, directive };
}

interface FlagContext {
  /** The flag whose value is being completed, if any. */
  readonly flag: FlagSpec | undefined;
  readonly args: readonly string[];
  readonly toComplete: string;
  readonly problem?: string;
  /** The problem is only "this command has no such flag" (ignored after `--`). */
  readonly unknownFlag?: boolean;
}

/** cobra's checkIfFlagCompletion: is the word a flag's value (`--flag=<word>`, or after `--flag`)? */
function flagBeingCompleted(node: CommandNode, args: readonly string[], typed: string): FlagContext {
  let flagName = '';
  let remaining = args;
  let toComplete = typed;
  let withEquals = false;
  if (typed.startsWith('-')) {
    const equals = typed.indexOf('=');
    if (equals < 0) return { flag: undefined, args, toComplete: typed };
    flagName = typed.startsWith('--') && equals >= 2 ? typed.slice(2, equals) : typed.slice(equals - 1, equals);
    toComplete = typed.slice(equals + 1);
    withEquals = true;
  }
  if (flagName === '' && args.length > 0) {
    const previous = args[args.length - 1];
    // cobra's isFlagArg, including its looseness about the first character.
    const looksLikeFlag =
      (previous.length >= 3 && previous[1] === '-') || (previous.length >= 2 && previous[0] === '-' && previous[1] !== '-');
    if (looksLikeFlag && !previous.includes('=')) {
      flagName = previous.startsWith('--') ? previous.slice(2) : previous.slice(-1);
      remaining = args.slice(0, -1);
    }
  }
  if (flagName === '') return { flag: undefined, args: remaining, toComplete };
  const flags = acceptedFlags(node, false);
  const flag = flagName.length === 1 ? flags.byShorthand(flagName) ?? flags.byName(flagName) : flags.byName(flagName);
  if (flag === undefined) {
    return {
      flag: undefined,
      args,
      toComplete: typed,
      problem: `Subcommand '${node.name}' does not support flag '${flagName}'`,
      unknownFlag: true,
    };
  }
  if (!withEquals && flag.type === 'bool') return { flag: undefined, args, toComplete };
  return { flag, args: remaining, toComplete };
}

/** `--name\tusage` and `-x\tusage` for one flag, if they start with what was typed. */
function flagNameCandidates(flag: FlagSpec, typed: string): string[] {
  if (flag.hidden === true) return [];
  const candidates: string[] = [];
  if (`--${flag.name}`.startsWith(typed)) candidates.push(`--${flag.name}\t${flag.usage}`);
  if (flag.shorthand !== undefined && `-${flag.shorthand}`.startsWith(typed)) candidates.push(`-${flag.shorthand}\t${flag.usage}`);
  return candidates;
}

/** Required flags not given yet are offered first, even without a leading dash. */
function requiredFlagCandidates(node: CommandNode, parsed: ParsedFlags, typed: string): string[] {
  const candidates: string[] = [];
  for (const flag of [...inheritedFlags(node, false), ...localFlags(node, false)]) {
    if (flag.required === true && !parsed.changed.has(flag.name)) candidates.push(...flagNameCandidates(flag, typed));
  }
  return candidates;
}

function isHelpCommand(node: CommandNode): boolean {
  return node.name === 'help' && node.parent !== undefined && node.parent.parent === undefined;
}

function sortedChildren(node: CommandNode): CommandNode[] {
  return presentChildren(node).sort((left, right) => (left.name < right.name ? -1 : left.name > right.name ? 1 : 0));
}
