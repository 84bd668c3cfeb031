// `wal-g backup-mark`: marks a backup permanent or impermanent (not written yet).

import { notImplemented } from '../../errors.ts';
import type { CommandContext } from '../context.ts';

export function run(_context: CommandContext): Promise<void> {
  throw notImplemented('backup-mark');
}
