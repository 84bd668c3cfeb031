// `wal-g catchup-fetch`: applies an incremental catchup backup onto a data directory (not written yet).

import { notImplemented } from '../../errors.ts';
import type { CommandContext } from '../context.ts';

export function run(_context: CommandContext): Promise<void> {
  throw notImplemented('catchup-fetch');
}
