// `wal-g catchup-push PGDATA --from-lsn LSN`: uploads a catchup backup of a data directory for a replica stopped at LSN.

import { runCatchupPush } from '../../backup-push/catchup-push.ts';
import type { CommandContext } from '../context.ts';

export async function run(context: CommandContext): Promise<void> {
  const fromLsn = context.flags['from-lsn'];
  await runCatchupPush({
    dataDirectory: context.args[0],
    fromLsn: typeof fromLsn === 'bigint' ? fromLsn : BigInt(String(fromLsn ?? 0)),
    settings: context.settings,
    env: context.env,
  });
}
