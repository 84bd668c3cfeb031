// `wal-g st ls [path]`: prints a storage folder's listing (recursive, by glob, with versions on request).

import type { CommandContext } from '../context.ts';
import { listFolderTable, listGlobTables } from '../../st/ls.ts';
import { onStorage } from '../../st/storages.ts';

export async function run(context: CommandContext): Promise<void> {
  const path = context.args[0] ?? '';
  const options = { recursive: context.flags.recursive === true, allVersions: context.flags['all-versions'] === true };
  await onStorage(context.settings, String(context.flags.target), async (root) => {
    if (context.flags.glob === true) {
      await listGlobTables(root, path, options, (text) => context.stdout.write(text));
      return;
    }
    context.stdout.write(await listFolderTable(root.subFolder(path), options));
  });
}
