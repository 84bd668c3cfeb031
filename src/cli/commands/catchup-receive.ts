// `wal-g catchup-receive`: receives an incremental backup over TCP from catchup-send (not written yet).

import { notImplemented } from '../../errors.ts';
import type { CommandContext } from '../context.ts';

export function run(_context: CommandContext): Promise<void> {
  throw notImplemented('catchup-receive');
}
