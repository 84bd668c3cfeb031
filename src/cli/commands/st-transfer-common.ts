// What the three `wal-g st transfer` commands share: their flags read into transfer settings, and the run itself.

import type { CommandContext } from '../context.ts';
import type { ObjectInfo } from '../../storage/driver.ts';
import {
  listMissingFiles,
  openTransferStorages,
  runTransfer,
  type TransferPlan,
  type TransferSettings,
} from '../../st/transfer.ts';

/** st transfer's persistent flags (validated by its pre-run). */
export function transferSettings(context: CommandContext): TransferSettings {
  return {
    preserveInSource: context.flags.preserve === true,
    failFast: context.flags['fail-fast'] === true,
    concurrency: Number(context.flags.concurrency),
    appearanceChecks: Number(context.flags['appearance-checks']),
    appearanceChecksIntervalMs: Number(context.flags['appearance-checks-interval']) / 1e6,
  };
}

/** Opens --source and --target, lists what the target misses under `prefix`, plans with `plan`, and moves it. */
export async function transferMissing(
  context: CommandContext,
  prefix: string,
  plan: (missing: Map<string, ObjectInfo>) => TransferPlan,
): Promise<void> {
  const settings = transferSettings(context);
  const { source, target } = await openTransferStorages(context.settings, String(context.flags.source), String(context.flags.target));
  try {
    const missing = await listMissingFiles(source, target, prefix, context.flags.overwrite === true);
    await runTransfer(source, target, plan(missing), settings);
  } finally {
    await source.close().catch(() => undefined);
    await target.close().catch(() => undefined);
  }
}
