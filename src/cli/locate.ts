// Finds the command an argv names, with cobra v1.4.0's Find: leading non-flag words walk down the tree, flags may sit
// anywhere, and the root rejects an unknown word with "Did you mean this?" suggestions.

import { goQuote } from '../config/go-values.ts';
import { commandTree, type CommandNode } from './command-tree.ts';
import { acceptedFlags, type FlagLookup } from './flag-sets.ts';

export interface LocatedCommand {
  readonly node: CommandNode;
  /** argv with the command words taken out: what the command's flag parser sees. */
  readonly args: string[];
  /** The name or alias used (`__completeNoDesc` is an alias of `__complete`). */
  readonly calledAs: string;
  /** cobra's legacy-args error (`unknown command "x" for "wal-g"…`), if any. */
  readonly error?: string;
}

/** True for commands that exist in this invocation (cobra adds `__complete` only when it is being run). */
function isPresent(node: CommandNode, withCompleteRequest: boolean): boolean {
  return withCompleteRequest || node.spec.onlyWhenInvoked !== true;
}

/** The sub-commands that exist in this invocation, in registration order. */
export function presentChildren(node: CommandNode, withCompleteRequest = false): CommandNode[] {
  return node.children.filter((child) => isPresent(child, withCompleteRequest));
}

/**
 * cobra's stripFlags: the words that are not flags or flag values. A flag not known as boolean is assumed to take
 * the next word — which is why `wal-g --help backup-list` shows the root's help (help is not yet a known flag).
 */
export function commandWords(args: readonly string[], flags: FlagLookup): string[] {
  const words: string[] = [];
  let rest = args.slice();
  while (rest.length > 0) {
    const arg = rest.shift()!;
    if (arg === '--') break;
    const longTakingValue = arg.startsWith('--') && !arg.includes('=') && flags.byName(arg.slice(2))?.type !== 'bool';
    const shortTakingValue =
      arg.startsWith('-') && !arg.includes('=') && arg.length === 2 && flags.byShorthand(arg.slice(1, 2))?.type !== 'bool';
    if (longTakingValue || shortTakingValue) {
      if (rest.length <= 1) break;
      rest = rest.slice(1);
      continue;
    }
    if (arg !== '' && !arg.startsWith('-')) words.push(arg);
  }
  return words;
}

function withoutFirst(args: readonly string[], word: string): string[] {
  const index = args.indexOf(word);
  if (index < 0) return args.slice();
  return [...args.slice(0, index), ...args.slice(index + 1)];
}

function findChild(node: CommandNode, word: string, withCompleteRequest: boolean): CommandNode | undefined {
  for (const child of presentChildren(node, withCompleteRequest)) {
    if (child.name === word || child.spec.aliases?.includes(word)) return child;
  }
  return undefined;
}

function find(args: readonly string[], withCompleteRequest: boolean): LocatedCommand {
  let node = commandTree();
  let rest = args.slice();
  let calledAs = node.name;
  for (;;) {
    const words = commandWords(rest, acceptedFlags(node, false));
    if (words.length === 0) break;
    const child = findChild(node, words[0], withCompleteRequest);
    if (child === undefined) break;
    node = child;
    calledAs = words[0];
    rest = withoutFirst(rest, words[0]);
  }
  if (node.spec.args === undefined) {
    const error = legacyArgsError(node, commandWords(rest, acceptedFlags(node, false)), withCompleteRequest);
    if (error !== undefined) return { node, args: rest, calledAs, error };
  }
  return { node, args: rest, calledAs };
}

/** cobra's legacyArgs: only the root (which has sub-commands) rejects stray words. */
function legacyArgsError(node: CommandNode, words: readonly string[], withCompleteRequest: boolean): string | undefined {
  if (presentChildren(node, withCompleteRequest).length === 0) return undefined;
  if (node.parent === undefined && words.length > 0) {
    return `unknown command ${goQuote(words[0])} for ${goQuote(node.commandPath)}${suggestionsFor(node, words[0])}`;
  }
  return undefined;
}

/** Locates the command for argv exactly as `wal-g` (cobra's ExecuteC → Find) does. */
export function locateCommand(argv: readonly string[]): LocatedCommand {
  // cobra registers `__complete` first, keeps it only if argv really names it, then finds again.
  const withRequest = find(argv, true);
  if (withRequest.error === undefined && withRequest.node.spec.onlyWhenInvoked === true) return withRequest;
  return find(argv, false);
}

/** The same lookup for `wal-g help <words>` and completion, where `__complete` is not part of the tree. */
export function findCommand(words: readonly string[]): LocatedCommand {
  return find(words, false);
}

/** cobra's IsAvailableCommand: listed in help and suggestions. */
export function isAvailableCommand(node: CommandNode): boolean {
  if (node.spec.hidden === true) return false;
  // cobra's own help command is listed separately (the usage template names it explicitly).
  const isRootHelp = node.name === 'help' && node.parent !== undefined && node.parent.parent === undefined;
  if (isRootHelp) return false;
  return node.spec.load !== undefined || node.children.some((child) => isAvailableCommand(child));
}

/** cobra's "\n\nDid you mean this?\n\t<name>\n…" block (Levenshtein distance ≤ 2 or a prefix), or ''. */
export function suggestionsFor(node: CommandNode, typed: string): string {
  const suggestions: string[] = [];
  for (const child of node.children) {
    if (!isAvailableCommand(child)) continue;
    const closeEnough = levenshtein(typed.toLowerCase(), child.name.toLowerCase()) <= 2;
    if (closeEnough || child.name.toLowerCase().startsWith(typed.toLowerCase())) suggestions.push(child.name);
  }
  if (suggestions.length === 0) return '';
  return `\n\nDid you mean this?\n${suggestions.map((name) => `\t${name}\n`).join('')}`;
}

function levenshtein(source: string, target: string): number {
  let previous = Array.from({ length: target.length + 1 }, (_, index) => index);
  for (let i = 1; i <= source.length; i++) {
    const current = [i];
    for (let j = 1; j <= target.length; j++) {
      current[j] =
        source[i - 1] === target[j - 1]
          ? previous[j - 1]
          : Math.min(previous[j], current[j - 1], previous[j - 1]) + 1;
    }
    previous = current;
  }
  return previous[target.length];
}
