// `wal-g delete before`: deletes backups and WAL older than a backup or time (not written yet).

import { notImplemented } from '../../errors.ts';
import type { CommandContext } from '../context.ts';

export function run(_context: CommandContext): Promise<void> {
  throw notImplemented('delete before');
}
