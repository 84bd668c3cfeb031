// `wal-g wal-prefetch <wal_name> <prefetch_location>` (hidden): the child wal-fetch starts to download the next WAL
// files into `.wal-g/prefetch/`. Silent unless WALG_LOG_LEVEL=DEVEL (then every line starts with `PREFETCH `).

import { errorMessage, WalgError } from '../../errors.ts';
import { usePrefetchLogging } from '../../log/logger.ts';
import { configuredCrypter } from '../../objects/configured.ts';
import { walSegmentSizeFromSetting } from '../../wal/names.ts';
import { prefetchFollowingWals } from '../../wal/prefetch.ts';
import { WAL_FOLDER } from '../../wal/push.ts';
import { openWalStorageForRead } from '../../wal/wal-storage.ts';
import type { CommandContext } from '../context.ts';

export async function run(context: CommandContext): Promise<void> {
  usePrefetchLogging();
  const { settings } = context;
  const storage = await openWalStorageForRead(settings, String(context.flags['target-storage'] ?? ''), 'Failed to configure multi-storage: ');
  try {
    let concurrency: number;
    try {
      concurrency = settings.concurrency('WALG_DOWNLOAD_CONCURRENCY');
    } catch (error) {
      throw new WalgError(`get max concurrency: ${errorMessage(error)}`);
    }
    await prefetchFollowingWals({
      walFolder: storage.root.subFolder(WAL_FOLDER),
      walName: context.args[0],
      destination: context.args[1],
      concurrency,
      segmentSize: walSegmentSizeFromSetting(settings.get('WALG_PG_WAL_SIZE')),
      prefetchDirSetting: settings.lookupValue('WALG_PREFETCH_DIR'),
      crypter: configuredCrypter(settings),
    });
  } finally {
    await storage.close();
  }
}
