// `wal-g help [command]`: cobra's help command — the help of the named command, or "Unknown help topic".

import { goQuote } from '../../config/go-values.ts';
import { commandTree } from '../command-tree.ts';
import type { CommandContext } from '../context.ts';
import { renderHelp, renderUsage } from '../help.ts';
import { findCommand } from '../locate.ts';

export function run(context: CommandContext): void {
  const found = findCommand(context.args);
  if (found.error !== undefined) {
    // cobra prints this and the root usage through the command's fallback writer, which is stderr; the root's
    // -h/--help line is missing because cobra never executed the root.
    context.stderr.write(`Unknown help topic ${goBackquotedList(context.args)}\n`);
    context.stderr.write(renderUsage(commandTree(), { withHelp: false }));
    return;
  }
  for (const part of renderHelp(found.node, { withHelp: true })) {
    if (part.text !== '') (part.to === 'stdout' ? context.stdout : context.stderr).write(part.text);
  }
}

/** Go's `%#q` of a []string: `[`a` `b`]`, falling back to double quotes where a raw string cannot hold the text. */
function goBackquotedList(words: readonly string[]): string {
  // strconv.CanBackquote: no backquote, no control character other than tab, no byte order mark.
  const quoted = words.map((word) => (/[`\x00-\x08\x0a-\x1f\x7f\ufeff]/.test(word) ? goQuote(word) : `\`${word}\``));
  return `[${quoted.join(' ')}]`;
}
