// `wal-g catchup-send`: streams an incremental backup over TCP to catchup-receive (not written yet).

import { notImplemented } from '../../errors.ts';
import type { CommandContext } from '../context.ts';

export function run(_context: CommandContext): Promise<void> {
  throw notImplemented('catchup-send');
}
