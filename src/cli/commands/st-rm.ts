// `wal-g st rm prefix`: removes an object, or everything under a folder, or whatever a glob matches.

import type { CommandContext } from '../context.ts';
import { removeByGlob, removeByPrefix, setDeleteAllVersions } from '../../st/remove.ts';
import { onStorage } from '../../st/storages.ts';

export async function run(context: CommandContext): Promise<void> {
  const prefix = context.args[0];
  await onStorage(context.settings, String(context.flags.target), async (folder) => {
    setDeleteAllVersions(folder, context.flags['all-versions'] === true);
    if (context.flags.glob === true) await removeByGlob(folder, prefix);
    else await removeByPrefix(folder, prefix);
  });
}
