// `wal-g wal-receive`: streams WAL over replication and uploads each segment (not written yet).

import { notImplemented } from '../../errors.ts';
import type { CommandContext } from '../context.ts';

export function run(_context: CommandContext): Promise<void> {
  throw notImplemented('wal-receive');
}
