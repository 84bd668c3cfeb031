// `wal-g wal-push`: uploads one WAL file (archive_command) (not written yet).

import { notImplemented } from '../../errors.ts';
import type { CommandContext } from '../context.ts';

export function run(_context: CommandContext): Promise<void> {
  throw notImplemented('wal-push');
}
