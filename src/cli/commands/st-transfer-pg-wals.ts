// `wal-g st transfer pg-wals --source s [--target t]`: moves every object under wal_005/ between storages.

import type { CommandContext } from '../context.ts';
import { WAL_FOLDER, planSeparateFiles } from '../../st/transfer.ts';
import { transferMissing } from './st-transfer-common.ts';

export async function run(context: CommandContext): Promise<void> {
  const maxFiles = Number(context.flags['max-files']);
  await transferMissing(context, WAL_FOLDER, (missing) => planSeparateFiles(missing, maxFiles));
}
