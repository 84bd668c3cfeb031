// `wal-g daemon <socket>`: serves wal-push and wal-fetch requests of walg-daemon-client on a Unix socket until killed.

import { errorMessage, WalgError } from '../../errors.ts';
import { reopenLogOnSignal, WalDaemon } from '../../wal/daemon-server.ts';
import { openWalStorage } from '../../wal/wal-storage.ts';
import type { CommandContext } from '../context.ts';

export async function run(context: CommandContext): Promise<void> {
  const storage = await openWalStorage(context.settings, '').catch((error: unknown) => {
    throw new WalgError(`configure multi-storage: ${errorMessage(error)}`, 1, { cause: error });
  });
  const daemon = new WalDaemon({ socketPath: context.args[0], settings: context.settings, storage });
  await daemon.listen();
  reopenLogOnSignal();
  // Runs until a signal ends the process, as WAL-G's daemon does.
  await new Promise<never>(() => {});
}
