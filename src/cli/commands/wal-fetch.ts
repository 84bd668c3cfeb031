// `wal-g wal-fetch`: downloads one WAL file (restore_command) (not written yet).

import { notImplemented } from '../../errors.ts';
import type { CommandContext } from '../context.ts';

export function run(_context: CommandContext): Promise<void> {
  throw notImplemented('wal-fetch');
}
