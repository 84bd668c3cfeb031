// `wal-g pgbackrest wal-show`: shows pgBackRest archive WAL timelines (not written yet).

import { notImplemented } from '../../errors.ts';
import type { CommandContext } from '../context.ts';

export function run(_context: CommandContext): Promise<void> {
  throw notImplemented('pgbackrest wal-show');
}
