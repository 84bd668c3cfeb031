// `wal-g catchup-fetch PGDATA backup_name`: applies a catchup backup from catchup_005/ onto an existing data directory.

import { runCatchupFetch } from '../../backup/catchup.ts';
import type { CommandContext } from '../context.ts';

export async function run(context: CommandContext): Promise<void> {
  await runCatchupFetch({
    dataDirectory: context.args[0],
    backupName: context.args[1],
    useNewUnwrap: context.flags['use-new-unwrap'] === true,
    settings: context.settings,
  });
}
