// `wal-g delete target [FIND_FULL] backup_name | --target-user-data <data>`: deletes one backup and its deltas.

import { targetBackupSelector } from '../../backup/catalog.ts';
import { withDeleteSession } from '../../backup/delete-setup.ts';
import { WalgError } from '../../errors.ts';
import type { CommandContext } from '../context.ts';

export async function run(context: CommandContext): Promise<void> {
  const options = { confirm: context.flags.confirm === true, useSentinelTime: context.flags['use-sentinel-time'] === true };
  await withDeleteSession(context.settings, options, async (session) => {
    const findFull = context.args[0] === 'FIND_FULL';
    const args = findFull ? context.args.slice(1) : context.args;
    const selector = targetBackupSelector(args[0] ?? '', String(context.flags['target-user-data'] ?? ''));
    if ('problem' in selector) {
      context.stdout.write(`${context.usage()}\n`);
      throw new WalgError(selector.problem);
    }
    const target = await session.findBySelector(selector);
    if (target === undefined) throw new WalgError('Requested backup was not found');
    await session.deleteTarget(target, findFull);
  });
}
