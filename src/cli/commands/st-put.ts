// `wal-g st put local destination` (or `-s destination` from stdin): uploads compressed and encrypted.

import type { CommandContext } from '../context.ts';
import { WalgError } from '../../errors.ts';
import { configuredCrypter } from '../../objects/configured.ts';
import { checkLocalSource, localFileSource, openStandardInput, putObject, uploaderCodec } from '../../st/put.ts';
import { onStorage } from '../../st/storages.ts';

export async function run(context: CommandContext): Promise<void> {
  const readStdin = context.flags['read-stdin'] === true;
  if (context.args.length === 1 && !readStdin) throw new WalgError('should specify localPath on read-from stdin flag');
  const localPath = readStdin ? undefined : context.args[0];
  const destination = readStdin ? context.args[0] : context.args[1];
  if (localPath !== undefined) await checkLocalSource(localPath);
  await onStorage(context.settings, String(context.flags.target), async (folder) => {
    const configuredCodec = uploaderCodec(context.settings);
    const source = localPath === undefined ? await openStandardInput() : localFileSource(localPath);
    await putObject(folder, source, destination, {
      configuredCodec,
      compress: context.flags['no-compress'] !== true,
      crypter: context.flags['no-encrypt'] === true ? undefined : configuredCrypter(context.settings),
      overwrite: context.flags.force === true,
    });
  });
}
