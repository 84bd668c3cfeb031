// `wal-g st cat object`: writes a stored object to stdout, decrypted and decompressed only when asked.

import type { CommandContext } from '../context.ts';
import { configuredCrypter } from '../../objects/configured.ts';
import { catObject, catObjectsByGlob, isBrokenPipe } from '../../st/get.ts';
import { onStorage } from '../../st/storages.ts';

/** What a shell reports for a process killed by SIGPIPE, which is how WAL-G (Go) ends when stdout's reader quits. */
const EXIT_BROKEN_PIPE = 141;

export async function run(context: CommandContext): Promise<number | void> {
  const objectPath = context.args[0];
  try {
    await onStorage(context.settings, String(context.flags.target), async (folder) => {
      const choice = {
        crypter: context.flags.decrypt === true ? configuredCrypter(context.settings) : undefined,
        decompress: context.flags.decompress === true,
      };
      if (context.flags.glob === true) await catObjectsByGlob(folder, objectPath, context.stdout, choice);
      else await catObject(folder, objectPath, context.stdout, choice);
    });
  } catch (error) {
    // `wal-g st cat x | head`: the reader has what it wanted; no error message, as with WAL-G.
    if (isBrokenPipe(error)) return EXIT_BROKEN_PIPE;
    throw error;
  }
}
