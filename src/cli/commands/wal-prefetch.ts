// `wal-g wal-prefetch`: the background child that prefetches the next WAL files (not written yet).

import { notImplemented } from '../../errors.ts';
import type { CommandContext } from '../context.ts';

export function run(_context: CommandContext): Promise<void> {
  throw notImplemented('wal-prefetch');
}
