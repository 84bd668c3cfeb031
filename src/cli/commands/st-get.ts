// `wal-g st get object destination`: downloads one object into a new local file, decrypted and decompressed.

import type { CommandContext } from '../context.ts';
import { WalgError } from '../../errors.ts';
import { configuredCrypter } from '../../objects/configured.ts';
import { getObject } from '../../st/get.ts';
import { ALL_STORAGES_NAME, onStorage } from '../../st/storages.ts';

export async function run(context: CommandContext): Promise<void> {
  const [objectPath, destination] = context.args;
  const target = String(context.flags.target);
  if (target === ALL_STORAGES_NAME) throw new WalgError("'all' target is not supported for st get command");
  await onStorage(context.settings, target, (folder) =>
    getObject(folder, objectPath, destination, {
      crypter: context.flags['no-decrypt'] === true ? undefined : configuredCrypter(context.settings),
      decompress: context.flags['no-decompress'] !== true,
    }),
  );
}
