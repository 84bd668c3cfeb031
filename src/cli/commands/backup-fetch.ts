// `wal-g backup-fetch`: restores a base backup (full or a delta chain) from storage into a directory.

import { selectBackup, targetBackupSelector } from '../../backup/catalog.ts';
import { fetchBackup, RestoreSpecError } from '../../backup/restore.ts';
import { openStorageSetFor } from '../../backup/storage-set.ts';
import { errorMessage, WalgError } from '../../errors.ts';
import { log } from '../../log/logger.ts';
import { configuredCrypter } from '../../objects/configured.ts';
import type { CommandContext } from '../context.ts';

export async function run(context: CommandContext): Promise<void> {
  const { settings, flags } = context;
  const userData = String(flags['target-user-data'] ?? '') || (settings.get('WALG_FETCH_TARGET_USER_DATA') ?? '');
  const selector = targetBackupSelector(context.args[1] ?? '', userData);
  if ('problem' in selector) {
    context.stdout.write(`${context.usage()}\n`);
    throw new WalgError(selector.problem);
  }
  const storages = await openStorageSetFor(settings, String(flags['target-storage'] ?? ''));
  try {
    log.info(`Backup to fetch will be searched in storages: ${storages.describe()}`);
    const partial = context.changedFlags.has('restore-only');
    const options = {
      destination: context.args[0],
      mask: String(flags.mask ?? ''),
      restoreSpecPath: String(flags['restore-spec'] ?? ''),
      reverseUnpack: flags['reverse-unpack'] === true || partial || settings.bool('WALG_USE_REVERSE_UNPACK'),
      skipRedundantTars: flags['skip-redundant-tars'] === true || partial || settings.bool('WALG_SKIP_REDUNDANT_TARS'),
      restoreOnly: partial ? [...((flags['restore-only'] as readonly string[] | undefined) ?? [])] : undefined,
      concurrency: settings.concurrency('WALG_DOWNLOAD_CONCURRENCY'),
      retries: settings.int('WALG_DOWNLOAD_FILE_RETRIES'),
      fsync: !settings.bool('WALG_TAR_DISABLE_FSYNC'),
      pageSize: settings.int('WALG_PG_BLOCK_SIZE') || 8192,
      crypter: configuredCrypter(settings),
    };
    let backup;
    try {
      backup = await selectBackup(storages, selector);
    } catch (error) {
      throw new WalgError(`Failed to select backup: ${errorMessage(error)}`, 1, { cause: error });
    }
    log.debug(`HandleBackupFetch(${backup.name})`);
    try {
      await fetchBackup(backup, options);
    } catch (error) {
      if (error instanceof RestoreSpecError) throw error;
      throw new WalgError(`Failed to fetch backup: ${errorMessage(error)}`, 1, { cause: error });
    }
  } finally {
    await storages.close();
  }
}
