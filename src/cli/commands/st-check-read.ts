// `wal-g st check read`: checks that the storage can be listed and objects exist (not written yet).

import { notImplemented } from '../../errors.ts';
import type { CommandContext } from '../context.ts';

export function run(_context: CommandContext): Promise<void> {
  throw notImplemented('st check read');
}
