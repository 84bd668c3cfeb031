// `wal-g delete before [FIND_FULL] backup_name|timestamp`: deletes backups and WAL older than the target.

import { modifierAndValue } from '../../backup/delete.ts';
import { withDeleteSession } from '../../backup/delete-setup.ts';
import { log } from '../../log/logger.ts';
import type { CommandContext } from '../context.ts';

export async function run(context: CommandContext): Promise<void> {
  const options = { confirm: context.flags.confirm === true, useSentinelTime: context.flags['use-sentinel-time'] === true };
  await withDeleteSession(context.settings, options, async (session) => {
    const { modifier, value } = modifierAndValue(context.args);
    const target = session.findBeforeTarget(value, modifier);
    if (target === undefined) {
      log.info('No backup found for deletion');
      return;
    }
    await session.deleteBeforeTarget(target);
  });
}
