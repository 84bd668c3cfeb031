// `wal-g pgbackrest wal-fetch`: fetches a WAL file from a pgBackRest archive (not written yet).

import { notImplemented } from '../../errors.ts';
import type { CommandContext } from '../context.ts';

export function run(_context: CommandContext): Promise<void> {
  throw notImplemented('pgbackrest wal-fetch');
}
