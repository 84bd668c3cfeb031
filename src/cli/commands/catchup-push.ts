// `wal-g catchup-push`: uploads an incremental backup of a data directory from an LSN (not written yet).

import { notImplemented } from '../../errors.ts';
import type { CommandContext } from '../context.ts';

export function run(_context: CommandContext): Promise<void> {
  throw notImplemented('catchup-push');
}
