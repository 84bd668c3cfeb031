// `wal-g delete retain`: keeps the newest backups and deletes older ones (not written yet).

import { notImplemented } from '../../errors.ts';
import type { CommandContext } from '../context.ts';

export function run(_context: CommandContext): Promise<void> {
  throw notImplemented('delete retain');
}
