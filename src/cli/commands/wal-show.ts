// `wal-g wal-show`: shows WAL segments in storage grouped by timeline (not written yet).

import { notImplemented } from '../../errors.ts';
import type { CommandContext } from '../context.ts';

export function run(_context: CommandContext): Promise<void> {
  throw notImplemented('wal-show');
}
