// `wal-g st transfer backups [name] --source s [--target t]`: moves complete backups, sentinel last, between storages.

import type { CommandContext } from '../context.ts';
import { BACKUPS_FOLDER, planBackups } from '../../st/transfer.ts';
import { transferMissing } from './st-transfer-common.ts';

export async function run(context: CommandContext): Promise<void> {
  const maxFiles = Number(context.flags['max-files']);
  const backupName = context.args[0] ?? '';
  // WAL-G: a named backup is one backup, whatever --max-backups says.
  const maxBackups = backupName === '' ? Number(context.flags['max-backups']) : 1;
  await transferMissing(context, BACKUPS_FOLDER, (missing) => planBackups(missing, backupName, maxFiles, maxBackups));
}
