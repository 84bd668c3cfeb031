// `wal-g pgbackrest backup-list`: lists pgBackRest backups (not written yet).

import { notImplemented } from '../../errors.ts';
import type { CommandContext } from '../context.ts';

export function run(_context: CommandContext): Promise<void> {
  throw notImplemented('pgbackrest backup-list');
}
