// `wal-g wal-push <wal_filepath>`: archives one WAL file (archive_command = 'wal-g wal-push %p').

import { log } from '../../log/logger.ts';
import { createWalPusher } from '../../wal/push.ts';
import { openWalStorageForWrite } from '../../wal/wal-storage.ts';
import type { CommandContext } from '../context.ts';

export async function run(context: CommandContext): Promise<void> {
  const storage = await openWalStorageForWrite(
    context.settings,
    String(context.flags['target-storage'] ?? ''),
    'Failed to configure multi-storage: ',
  );
  try {
    log.info(`Files will be uploaded to storage: ${storage.name}`);
    const pusher = await createWalPusher(context.settings, storage.root);
    await pusher.push(context.args[0]);
  } finally {
    await storage.close();
  }
}
