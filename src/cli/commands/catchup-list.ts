// `wal-g catchup-list`: lists the incremental catchup backups (not written yet).

import { notImplemented } from '../../errors.ts';
import type { CommandContext } from '../context.ts';

export function run(_context: CommandContext): Promise<void> {
  throw notImplemented('catchup-list');
}
