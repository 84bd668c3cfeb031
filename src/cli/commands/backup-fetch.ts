// `wal-g backup-fetch`: restores a base backup from storage into a directory (not written yet).

import { notImplemented } from '../../errors.ts';
import type { CommandContext } from '../context.ts';

export function run(_context: CommandContext): Promise<void> {
  throw notImplemented('backup-fetch');
}
