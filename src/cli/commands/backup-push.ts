// `wal-g backup-push`: makes a base backup of PostgreSQL and uploads it (not written yet).

import { notImplemented } from '../../errors.ts';
import type { CommandContext } from '../context.ts';

export function run(_context: CommandContext): Promise<void> {
  throw notImplemented('backup-push');
}
