// `wal-g flags`: every global flag, including the hidden per-setting ones, printed through cobra's usage writer
// (stderr), as WAL-G does.

import { findNodeByPath } from '../command-tree.ts';
import type { CommandContext } from '../context.ts';
import { renderUsage } from '../help.ts';

export function run(context: CommandContext): void {
  context.stderr.write(renderUsage(findNodeByPath(context.path)!, { withHelp: true }));
}
