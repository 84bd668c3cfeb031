// `wal-g delete retain [FULL|FIND_FULL] N [--after name|time]`: keeps the newest backups, deletes older backups and WAL.

import { modifierAndValue } from '../../backup/delete.ts';
import { withDeleteSession } from '../../backup/delete-setup.ts';
import { goAtoi } from '../../config/go-values.ts';
import { log } from '../../log/logger.ts';
import type { CommandContext } from '../context.ts';

export async function run(context: CommandContext): Promise<void> {
  const options = { confirm: context.flags.confirm === true, useSentinelTime: context.flags['use-sentinel-time'] === true };
  await withDeleteSession(context.settings, options, async (session) => {
    const { modifier, value } = modifierAndValue(context.args);
    const count = goAtoi(value);
    const after = String(context.flags.after ?? '');
    const target = after === '' ? session.findRetainTarget(count, modifier) : session.findRetainAfterTarget(count, after, modifier);
    if (target === undefined) {
      log.info('No backup found for deletion');
      return;
    }
    await session.deleteBeforeTarget(target);
  });
}
