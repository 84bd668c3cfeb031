// `wal-g catchup-send PGDATA host:port`: streams what a stopped replica lacks straight to its catchup-receive.

import { runCatchupSend } from '../../catchup/catchup-transfer.ts';
import type { CommandContext } from '../context.ts';

export async function run(context: CommandContext): Promise<void> {
  await runCatchupSend({ dataDirectory: context.args[0], destination: context.args[1], settings: context.settings, env: context.env });
}
