// `wal-g delete target`: deletes one backup and the deltas that depend on it (not written yet).

import { notImplemented } from '../../errors.ts';
import type { CommandContext } from '../context.ts';

export function run(_context: CommandContext): Promise<void> {
  throw notImplemented('delete target');
}
