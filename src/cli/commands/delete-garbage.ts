// `wal-g delete garbage`: deletes WAL and backup leftovers older than the oldest backup (not written yet).

import { notImplemented } from '../../errors.ts';
import type { CommandContext } from '../context.ts';

export function run(_context: CommandContext): Promise<void> {
  throw notImplemented('delete garbage');
}
