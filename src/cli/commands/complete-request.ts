// `wal-g __complete <words…> <partial word>`: the hidden command the completion scripts call; prints one candidate
// per line, then `:<directive>`.

import { appendFileSync } from 'node:fs';
import { completeCommandLine, directiveName } from '../complete.ts';
import type { CommandContext } from '../context.ts';

export function run(context: CommandContext): void {
  const withDescriptions = context.calledAs !== '__completeNoDesc';
  const { candidates, directive, problem } = completeCommandLine(context.args);
  if (problem !== undefined) {
    // cobra's CompErrorln: stderr, and the file named by BASH_COMP_DEBUG_FILE when set.
    const message = `[Debug] [Error] ${problem}\n`;
    const debugFile = context.env.BASH_COMP_DEBUG_FILE;
    if (debugFile !== undefined && debugFile !== '') {
      try {
        appendFileSync(debugFile, message, { mode: 0o644 });
      } catch {
        // Debug output is best effort, as in cobra.
      }
    }
    context.stderr.write(message);
  }
  let output = '';
  for (const candidate of candidates) {
    const line = (withDescriptions ? candidate : candidate.split('\t')[0]).split('\n')[0].trim();
    output += `${line}\n`;
  }
  context.stdout.write(`${output}:${directive}\n`);
  context.stderr.write(`Completion ended with directive: ${directiveName(directive)}\n`);
}
