// `wal-g copy --from <cfg> --to <cfg> [--backup-name <name>] [--with-history]`: copies backups and WAL from one
// configured storage to another.

import { copyBackups } from '../../backup/copy.ts';
import type { CommandContext } from '../context.ts';

export async function run(context: CommandContext): Promise<void> {
  await copyBackups(context.settings, {
    fromConfig: String(context.flags.from ?? ''),
    toConfig: String(context.flags.to ?? ''),
    backupName: String(context.flags['backup-name'] ?? ''),
    withAllHistory: context.flags['with-history'] === true,
  });
}
