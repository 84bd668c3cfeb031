// `wal-g pgbackrest backup-fetch`: restores a pgBackRest backup (not written yet).

import { notImplemented } from '../../errors.ts';
import type { CommandContext } from '../context.ts';

export function run(_context: CommandContext): Promise<void> {
  throw notImplemented('pgbackrest backup-fetch');
}
