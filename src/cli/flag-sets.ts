// Which flags apply to a command, the way cobra merges them: own flags, own persistent flags, every ancestor's
// persistent flags, plus the automatic -h/--help and the root's -v/--version.

import { ALLOWED_SETTING_NAMES, settingFlagName } from '../config/settings-table.ts';
import type { CommandNode, FlagSpec } from './command-tree.ts';

let configFlagList: readonly FlagSpec[] | undefined;

/**
 * WAL-G's hidden per-setting flags (`--walg-s3-prefix` …): persistent on the root, string typed, empty usage.
 * They are hidden from help and usage, but `wal-g flags` and shell completion list them.
 */
export function settingFlags(): readonly FlagSpec[] {
  configFlagList ??= ALLOWED_SETTING_NAMES.map((settingName) => ({
    name: settingFlagName(settingName),
    type: 'string' as const,
    default: '',
    usage: '',
    settingName,
  }));
  return configFlagList;
}

/** cobra's automatic help flag; it exists only on commands that cobra executed or rendered help for. */
export function helpFlagFor(node: CommandNode): FlagSpec {
  return { name: 'help', shorthand: 'h', type: 'bool', default: false, usage: `help for ${node.name}` };
}

const VERSION_FLAG: FlagSpec = { name: 'version', shorthand: 'v', type: 'bool', default: false, usage: 'version for wal-g' };

/** A command's own flags as cobra's `Flags()` holds them before merging (root: the version flag). */
function ownFlags(node: CommandNode): readonly FlagSpec[] {
  const own = node.spec.flags ?? [];
  return node.parent === undefined ? [...own, VERSION_FLAG] : own;
}

/** Persistent flags declared on the node itself (the root's include the hidden per-setting flags). */
function ownPersistentFlags(node: CommandNode): readonly FlagSpec[] {
  const own = node.spec.persistentFlags ?? [];
  return node.parent === undefined ? [...own, ...settingFlags()] : own;
}

/** Persistent flags of every ancestor, nearest first (cobra's parentsPflags). */
function ancestorsPersistentFlags(node: CommandNode): FlagSpec[] {
  const flags: FlagSpec[] = [];
  for (let ancestor = node.parent; ancestor !== undefined; ancestor = ancestor.parent) {
    flags.push(...ownPersistentFlags(ancestor));
  }
  return flags;
}

/** Name-unique merge where the first definition wins, like pflag's AddFlagSet. */
function mergeByName(...groups: readonly (readonly FlagSpec[])[]): FlagSpec[] {
  const seen = new Set<string>();
  const merged: FlagSpec[] = [];
  for (const group of groups) {
    for (const flag of group) {
      if (seen.has(flag.name)) continue;
      seen.add(flag.name);
      merged.push(flag);
    }
  }
  return merged;
}

/** Lookup of the flags a command accepts, by long name and by shorthand letter. */
export interface FlagLookup {
  readonly all: readonly FlagSpec[];
  byName(name: string): FlagSpec | undefined;
  byShorthand(letter: string): FlagSpec | undefined;
}

function lookupOver(all: readonly FlagSpec[]): FlagLookup {
  const names = new Map<string, FlagSpec>();
  const shorthands = new Map<string, FlagSpec>();
  for (const flag of all) {
    names.set(flag.name, flag);
    if (flag.shorthand !== undefined) shorthands.set(flag.shorthand, flag);
  }
  return {
    all,
    byName: (name) => names.get(name),
    byShorthand: (letter) => shorthands.get(letter),
  };
}

/**
 * Every flag the command accepts (cobra's merged `Flags()`). `withHelp` adds -h/--help: cobra adds it only when it
 * executes the command, so while it is still locating the command, `--help` is an unknown flag.
 */
export function acceptedFlags(node: CommandNode, withHelp: boolean): FlagLookup {
  const own = withHelp ? [...ownFlags(node), helpFlagFor(node)] : ownFlags(node);
  return lookupOver(mergeByName(own, ownPersistentFlags(node), ancestorsPersistentFlags(node)));
}

/** Flags declared on this command (local and its own persistent ones), sorted: help's "Flags:" section. */
export function localFlags(node: CommandNode, withHelp: boolean): FlagSpec[] {
  const inheritedNames = new Set(ancestorsPersistentFlags(node).map((flag) => flag.name));
  const own = withHelp ? [...ownFlags(node), helpFlagFor(node)] : ownFlags(node);
  return sortByName(mergeByName(own, ownPersistentFlags(node)).filter((flag) => !inheritedNames.has(flag.name)));
}

/** Flags inherited from ancestors and not redefined locally, sorted: help's "Global Flags:" section. */
export function inheritedFlags(node: CommandNode, withHelp: boolean): FlagSpec[] {
  const localNames = new Set(localFlags(node, withHelp).map((flag) => flag.name));
  return sortByName(mergeByName(ancestorsPersistentFlags(node)).filter((flag) => !localNames.has(flag.name)));
}

/** pflag sorts flag names bytewise. */
function sortByName(flags: FlagSpec[]): FlagSpec[] {
  return flags.sort((left, right) => (left.name < right.name ? -1 : left.name > right.name ? 1 : 0));
}
