// `wal-g daemon <socket>`: serves wal-push and wal-fetch requests of walg-daemon-client on a Unix socket until killed.

import { reopenLogOnSignal, WalDaemon } from '../../wal/daemon-server.ts';
import { openWalStorageForWrite } from '../../wal/wal-storage.ts';
import type { CommandContext } from '../context.ts';

export async function run(context: CommandContext): Promise<void> {
  const storage = await openWalStorageForWrite(context.settings, '', 'configure multi-storage: ');
  const daemon = new WalDaemon({ socketPath: context.args[0], settings: context.settings, storage });
  await daemon.listen();
  reopenLogOnSignal();
  // Runs until a signal ends the process, as WAL-G's daemon does.
  await new Promise<never>(() => {});
}
