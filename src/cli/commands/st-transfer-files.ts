// `wal-g st transfer files prefix --source s [--target t]`: moves every object under a prefix between storages.

import type { CommandContext } from '../context.ts';
import { planSeparateFiles } from '../../st/transfer.ts';
import { transferMissing } from './st-transfer-common.ts';

export async function run(context: CommandContext): Promise<void> {
  const maxFiles = Number(context.flags['max-files']);
  await transferMissing(context, context.args[0], (missing) => planSeparateFiles(missing, maxFiles));
}
