// `wal-g completion bash|zsh`: prints a shell script that completes wal-g through `wal-g __complete`.

import type { CommandContext } from '../context.ts';
import { bashCompletionScript, zshCompletionScript } from '../completion-scripts.ts';

export function run(context: CommandContext): void {
  context.stdout.write(context.args[0] === 'zsh' ? zshCompletionScript('wal-g') : bashCompletionScript('wal-g'));
}
