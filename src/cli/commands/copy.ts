// `wal-g copy`: copies backups and WAL from one configured storage to another (not written yet).

import { notImplemented } from '../../errors.ts';
import type { CommandContext } from '../context.ts';

export function run(_context: CommandContext): Promise<void> {
  throw notImplemented('copy');
}
