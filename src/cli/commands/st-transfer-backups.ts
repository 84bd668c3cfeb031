// `wal-g st transfer backups`: moves complete backups to another storage (not written yet).

import { notImplemented } from '../../errors.ts';
import type { CommandContext } from '../context.ts';

export function run(_context: CommandContext): Promise<void> {
  throw notImplemented('st transfer backups');
}
