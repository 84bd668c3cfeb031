// `wal-g wal-verify`: checks WAL integrity and timeline in storage (not written yet).

import { notImplemented } from '../../errors.ts';
import type { CommandContext } from '../context.ts';

export function run(_context: CommandContext): Promise<void> {
  throw notImplemented('wal-verify');
}
