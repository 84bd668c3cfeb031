// Help and usage text byte for byte as WAL-G prints it: cobra v1.4.0's templates with WAL-G's usage template
// (no indentation, the extra "wal-g flags" line) and pflag's flag table layout.

import { goQuote, formatGoDuration } from '../config/go-values.ts';
import type { CommandNode, FlagSpec } from './command-tree.ts';
import { inheritedFlags, localFlags } from './flag-sets.ts';
import { isAvailableCommand, presentChildren } from './locate.ts';

/** cobra's minimum padding of command names in "Available Commands". */
const MINIMUM_NAME_PADDING = 11;

/**
 * `withHelp`: whether cobra has added -h/--help to this command by the time it prints (true whenever the command
 * itself was executed or asked for help; false for the root usage under "Unknown help topic").
 */
export interface RenderOptions {
  readonly withHelp: boolean;
}

/** One piece of help output and the stream it goes to. */
export interface HelpPart {
  readonly to: 'stdout' | 'stderr';
  readonly text: string;
}

/** The output of `wal-g <command> --help`, in order (only `flags` writes to both streams). */
export function renderHelp(node: CommandNode, options: RenderOptions): HelpPart[] {
  if (node.spec.flagsListing === true) {
    // WAL-G's help template for `flags` calls .Usage, which writes the flag list to stderr and leaves the
    // method's nil error, printed as "<nil>", in the help text.
    const description = trimTrailingSpace(node.spec.long || node.spec.short);
    const local = trimTrailingSpace(flagUsages(localFlags(node, options.withHelp), true));
    return [
      { to: 'stdout', text: `${description}\n\nUsage:\n${useLine(node)}\n\nFlags:\n${local}\n\n` },
      { to: 'stderr', text: renderUsage(node, options) },
      { to: 'stdout', text: '<nil>' },
    ];
  }
  let text = '';
  const description = node.spec.long || node.spec.short;
  if (description !== '') text += `${trimTrailingSpace(description)}\n\n`;
  if (node.spec.load !== undefined || node.children.length > 0) text += renderUsage(node, options);
  return [{ to: 'stdout', text }];
}

/** cobra's `UsageString()`: WAL-G's usage template (or the `flags` command's own). */
export function renderUsage(node: CommandNode, options: RenderOptions): string {
  // The hidden per-setting flags are listed only by `wal-g flags` itself.
  const showSettingFlags = node.spec.flagsListing === true;
  if (showSettingFlags) {
    return `Global Flags:\n${trimTrailingSpace(flagUsages(inheritedFlags(node, options.withHelp), true))}\n`;
  }
  const runnable = node.spec.load !== undefined;
  const children = presentChildren(node);
  const hasAvailableChildren = children.some(isAvailableCommand);
  const local = flagUsages(localFlags(node, options.withHelp), false);
  const inherited = flagUsages(inheritedFlags(node, options.withHelp), false);

  let text = 'Usage:';
  if (runnable) text += `\n${useLine(node)}`;
  if (hasAvailableChildren) text += `\n${node.commandPath} [command]`;
  if (node.spec.aliases !== undefined && node.spec.aliases.length > 0) {
    text += `\n\nAliases:\n${[node.name, ...node.spec.aliases].join(', ')}`;
  }
  if (node.spec.example !== undefined && node.spec.example !== '') text += `\n\nExamples:\n${node.spec.example}`;
  if (hasAvailableChildren) {
    text += '\n\nAvailable Commands:';
    const padding = Math.max(MINIMUM_NAME_PADDING, ...children.map((child) => child.name.length));
    for (const child of sortedByName(children)) {
      if (isAvailableCommand(child) || child.name === 'help') text += `\n${child.name.padEnd(padding)} ${child.spec.short}`;
    }
  }
  if (local !== '') text += `\n\nFlags:\n${trimTrailingSpace(local)}`;
  if (inherited !== '') text += `\n\nGlobal Flags:\n${trimTrailingSpace(inherited)}`;
  text += "\n\nTo get the complete list of all global flags, run: 'wal-g flags'";
  if (hasAvailableChildren) text += `\n\nUse "${node.commandPath} [command] --help" for more information about a command.`;
  return `${text}\n`;
}

/** cobra's UseLine: parent path + `use`, plus ` [flags]` (every command has at least --help). */
export function useLine(node: CommandNode): string {
  const line = node.parent === undefined ? node.spec.use : `${node.parent.commandPath} ${node.spec.use}`;
  if (node.spec.disableFlagsInUseLine === true || line.includes('[flags]')) return line;
  return `${line} [flags]`;
}

/** cobra sorts sub-commands by name for listing. */
function sortedByName(nodes: readonly CommandNode[]): CommandNode[] {
  return nodes.slice().sort((left, right) => (left.name < right.name ? -1 : left.name > right.name ? 1 : 0));
}

/** Go's strings.TrimRightFunc(text, unicode.IsSpace). */
function trimTrailingSpace(text: string): string {
  return text.replace(/\s+$/u, '');
}

/**
 * pflag's FlagUsages: one line per visible flag, usage column aligned after the longest name part; multi-line
 * usage texts are indented to that column. `showSettingFlags` lists the hidden per-setting flags too.
 */
export function flagUsages(flags: readonly FlagSpec[], showSettingFlags: boolean): string {
  const lines: { head: string; usage: string }[] = [];
  let widest = 0;
  for (const flag of flags) {
    if (flag.hidden === true || (flag.settingName !== undefined && !showSettingFlags)) continue;
    let head = flag.shorthand !== undefined ? `  -${flag.shorthand}, --${flag.name}` : `      --${flag.name}`;
    const { placeholder, usage } = unquoteUsage(flag);
    if (placeholder !== '') head += ` ${placeholder}`;
    // pflag counts the separator byte in the width, hence the +1 and the extra space below.
    widest = Math.max(widest, head.length + 1);
    let text = usage;
    const defaultText = printedDefault(flag);
    if (defaultText !== undefined) text += flag.type === 'string' ? ` (default ${goQuote(defaultText)})` : ` (default ${defaultText})`;
    lines.push({ head, usage: text });
  }
  let output = '';
  for (const { head, usage } of lines) {
    const spacing = ' '.repeat(widest - head.length);
    output += `${head} ${spacing} ${usage.replaceAll('\n', `\n${' '.repeat(widest + 2)}`)}\n`;
  }
  return output;
}

/** pflag's UnquoteUsage: a `backquoted` word names the value; otherwise the type does (bools have none). */
function unquoteUsage(flag: FlagSpec): { placeholder: string; usage: string } {
  const start = flag.usage.indexOf('`');
  if (start >= 0) {
    const end = flag.usage.indexOf('`', start + 1);
    if (end >= 0) {
      const placeholder = flag.usage.slice(start + 1, end);
      return { placeholder, usage: flag.usage.slice(0, start) + placeholder + flag.usage.slice(end + 1) };
    }
  }
  const placeholders: Record<FlagSpec['type'], string> = {
    bool: '',
    string: 'string',
    int: 'int',
    uint: 'uint',
    uint32: 'uint32',
    uint64: 'uint',
    stringSlice: 'strings',
    duration: 'duration',
  };
  return { placeholder: placeholders[flag.type], usage: flag.usage };
}

/** Go's DefValue of the flag when it is not the type's zero value (pflag then prints "(default …)"). */
function printedDefault(flag: FlagSpec): string | undefined {
  const text = flag.defaultText ?? defaultAsGoPrints(flag);
  switch (flag.type) {
    case 'bool':
      return text === 'false' ? undefined : text;
    case 'string':
      return text === '' ? undefined : text;
    case 'stringSlice':
      return text === '[]' ? undefined : text;
    case 'duration':
      return text === '0' || text === '0s' ? undefined : text;
    default:
      return text === '0' ? undefined : text;
  }
}

function defaultAsGoPrints(flag: FlagSpec): string {
  const value = flag.default;
  switch (flag.type) {
    case 'bool':
      return value === true ? 'true' : 'false';
    case 'string':
      return typeof value === 'string' ? value : '';
    case 'stringSlice':
      return `[${Array.isArray(value) ? value.join(',') : ''}]`;
    case 'duration':
      return formatGoDuration(typeof value === 'number' ? value : 0);
    default:
      return value === undefined ? '0' : String(value);
  }
}
