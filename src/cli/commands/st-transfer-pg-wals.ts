// `wal-g st transfer pg-wals`: moves WAL files to another storage (not written yet).

import { notImplemented } from '../../errors.ts';
import type { CommandContext } from '../context.ts';

export function run(_context: CommandContext): Promise<void> {
  throw notImplemented('st transfer pg-wals');
}
