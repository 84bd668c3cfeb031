// `wal-g delete garbage [ARCHIVES|BACKUPS]`: deletes WAL and leftover backup files older than the oldest
// non-permanent backup.

import { garbagePredicate, oldestNonPermanentBackup, sweepUnfinishedUploads } from '../../backup/delete.ts';
import { withDeleteSession } from '../../backup/delete-setup.ts';
import { WalgError } from '../../errors.ts';
import { log } from '../../log/logger.ts';
import type { CommandContext } from '../context.ts';

export async function run(context: CommandContext): Promise<void> {
  // WAL-G always orders by names here, whatever --use-sentinel-time says.
  const options = { confirm: context.flags.confirm === true, useSentinelTime: false };
  await withDeleteSession(context.settings, options, async (session) => {
    const keep = garbagePredicate(context.args);
    const oldest = await oldestNonPermanentBackup(session.storages);
    if (oldest === undefined) {
      log.info("Couldn't find any non-permanent backups in storage. Not doing anything.");
      return;
    }
    const target = session.findByName(oldest);
    if (target === undefined) throw new WalgError('not found');
    await session.deleteBeforeTarget(target, keep);
    await sweepUnfinishedUploads(session.storages, keep, options.confirm);
  });
}
