// `wal-g backup-push [db_directory]`: makes a base backup of PostgreSQL — from the data directory, or streamed over
// the replication protocol when none is given — and uploads it.

import { runBackupPush } from '../../backup-push/backup-push.ts';
import type { CommandContext } from '../context.ts';

export async function run(context: CommandContext): Promise<void> {
  const { flags } = context;
  await runBackupPush({
    dataDirectory: context.args[0],
    settings: context.settings,
    env: context.env,
    permanent: flags.permanent === true,
    full: flags.full === true,
    verify: flags.verify === true,
    storeAllCorrupt: flags['store-all-corrupt'] === true,
    ratingComposer: flags['rating-composer'] === true,
    copyComposer: flags['copy-composer'] === true,
    databaseComposer: flags['database-composer'] === true,
    deltaFromName: String(flags['delta-from-name'] ?? ''),
    deltaFromUserData: String(flags['delta-from-user-data'] ?? ''),
    addUserData: String(flags['add-user-data'] ?? ''),
    withoutFilesMetadata: flags['without-files-metadata'] === true,
    targetStorage: String(flags['target-storage'] ?? ''),
    turbo: flags.turbo === true,
    deltaFromWalSummaries: flags['delta-from-wal-summaries'] === true,
  });
}
