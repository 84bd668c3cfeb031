// `wal-g wal-restore`: downloads the WAL pg_rewind needs (not written yet).

import { notImplemented } from '../../errors.ts';
import type { CommandContext } from '../context.ts';

export function run(_context: CommandContext): Promise<void> {
  throw notImplemented('wal-restore');
}
