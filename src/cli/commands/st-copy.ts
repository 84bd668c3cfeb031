// `wal-g st copy --from cfg --to cfg`: copies objects between the storages two config files describe.

import type { CommandContext } from '../context.ts';
import { copyObjects } from '../../st/copy.ts';

export async function run(context: CommandContext): Promise<void> {
  await copyObjects(context.settings, {
    fromConfig: String(context.flags.from),
    toConfig: String(context.flags.to),
    prefix: String(context.flags.prefix),
    decryptSource: context.flags['decrypt-source'] === true,
    encryptTarget: context.flags['encrypt-source'] === true,
  });
}
