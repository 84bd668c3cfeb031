// `wal-g st check write`: checks that the storage accepts a new object and its deletion.

import type { CommandContext } from '../context.ts';
import { checkWrite } from '../../st/check.ts';
import { onStorage } from '../../st/storages.ts';

export async function run(context: CommandContext): Promise<void> {
  await onStorage(context.settings, String(context.flags.target), (folder) => checkWrite(folder));
}
