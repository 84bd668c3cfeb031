// `wal-g delete everything [FORCE]`: deletes every object in storage; permanent backups only with FORCE.

import { permanentBackupNames } from '../../backup/delete.ts';
import { withDeleteSession } from '../../backup/delete-setup.ts';
import { WalgError } from '../../errors.ts';
import { log } from '../../log/logger.ts';
import type { CommandContext } from '../context.ts';

export async function run(context: CommandContext): Promise<void> {
  const options = { confirm: context.flags.confirm === true, useSentinelTime: context.flags['use-sentinel-time'] === true };
  await withDeleteSession(context.settings, options, async (session) => {
    const permanent = permanentBackupNames(session.permanent);
    if (permanent.length > 0) {
      const message = `Found permanent backups=[${permanent.join(' ')}]`;
      if (context.args.length === 0) throw new WalgError(message);
      log.info(message);
    }
    await session.deleteEverything();
  });
}
