// `wal-g backup-list`: lists the complete backups in storage (plain, --detail, --json, --pretty).

import { backupListOutput } from '../../backup/backup-list.ts';
import { openStorageSetFor } from '../../backup/storage-set.ts';
import { log } from '../../log/logger.ts';
import type { CommandContext } from '../context.ts';

export async function run(context: CommandContext): Promise<void> {
  const storages = await openStorageSetFor(context.settings, String(context.flags['target-storage'] ?? ''));
  try {
    log.info(`List backups from storages: ${storages.describe()}`);
    const output = await backupListOutput(storages, {
      pretty: context.flags.pretty === true,
      json: context.flags.json === true,
      detail: context.flags.detail === true,
    });
    if (output !== '') context.stdout.write(output);
  } finally {
    await storages.close();
  }
}
