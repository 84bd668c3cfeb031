// `wal-g st transfer files`: moves objects under a prefix to another storage (not written yet).

import { notImplemented } from '../../errors.ts';
import type { CommandContext } from '../context.ts';

export function run(_context: CommandContext): Promise<void> {
  throw notImplemented('st transfer files');
}
