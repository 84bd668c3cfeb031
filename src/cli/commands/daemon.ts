// `wal-g daemon`: serves wal-push/wal-fetch requests of walg-daemon-client on a Unix socket (not written yet).

import { notImplemented } from '../../errors.ts';
import type { CommandContext } from '../context.ts';

export function run(_context: CommandContext): Promise<void> {
  throw notImplemented('daemon');
}
