// `wal-g backup-mark`: marks a backup permanent (with the backups it increments from) or impermanent.

import { markBackup } from '../../backup/mark.ts';
import { openPrimaryStorage } from '../../objects/configured.ts';
import type { CommandContext } from '../context.ts';

export async function run(context: CommandContext): Promise<void> {
  const root = await openPrimaryStorage(context.settings);
  try {
    await markBackup(root, context.args[0], context.flags.impermanent !== true);
  } finally {
    await root.close();
  }
}
