// `wal-g catchup-receive PGDATA port_number`: waits for one catchup-send and writes what it sends into PGDATA.

import { runCatchupReceive } from '../../catchup/catchup-transfer.ts';
import type { CommandContext } from '../context.ts';

export async function run(context: CommandContext): Promise<void> {
  await runCatchupReceive({ dataDirectory: context.args[0], port: context.args[1], settings: context.settings });
}
