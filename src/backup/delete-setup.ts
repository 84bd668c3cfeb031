// What every `delete …` command does first: open the storages (logging where it searches) and load the session.

import type { Settings } from '../config/settings.ts';
import { log } from '../log/logger.ts';
import { DeleteSession } from './delete.ts';
import { openStorageSetFor } from './storage-set.ts';

/** Runs `body` with a loaded delete session, closing the storages afterwards. */
export async function withDeleteSession<T>(
  settings: Settings,
  options: { confirm: boolean; useSentinelTime: boolean },
  body: (session: DeleteSession) => Promise<T>,
): Promise<T> {
  const storages = await openStorageSetFor(settings, '', { checkWrite: true, configureErrorPrefix: 'Failed to configure multi-storage: ' });
  try {
    log.info(`Backup to delete will be searched in storages: ${storages.describe()}`);
    const segmentSize = settings.int('WALG_PG_WAL_SIZE') * 1024 * 1024 || 16 * 1024 * 1024;
    const session = await DeleteSession.open(storages, { ...options, segmentSize });
    return await body(session);
  } finally {
    await storages.close();
  }
}
