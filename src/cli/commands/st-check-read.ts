// `wal-g st check read [names]`: checks that the storage can be listed and that the named objects exist.

import type { CommandContext } from '../context.ts';
import { checkRead } from '../../st/check.ts';
import { onStorage } from '../../st/storages.ts';

export async function run(context: CommandContext): Promise<void> {
  await onStorage(context.settings, String(context.flags.target), (folder) => checkRead(folder, context.args));
}
