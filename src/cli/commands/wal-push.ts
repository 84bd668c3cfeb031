// `wal-g wal-push <wal_filepath>`: archives one WAL file (archive_command = 'wal-g wal-push %p').

import { errorMessage, WalgError } from '../../errors.ts';
import { log } from '../../log/logger.ts';
import { createWalPusher } from '../../wal/push.ts';
import { openWalStorage } from '../../wal/wal-storage.ts';
import type { CommandContext } from '../context.ts';

export async function run(context: CommandContext): Promise<void> {
  const storage = await openWalStorage(context.settings, String(context.flags['target-storage'] ?? '')).catch((error: unknown) => {
    throw new WalgError(`Failed to configure multi-storage: ${errorMessage(error)}`, 1, { cause: error });
  });
  try {
    log.info(`Files will be uploaded to storage: ${storage.name}`);
    const pusher = await createWalPusher(context.settings, storage.root);
    await pusher.push(context.args[0]);
  } finally {
    await storage.root.close();
  }
}
