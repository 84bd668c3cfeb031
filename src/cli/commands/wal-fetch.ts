// `wal-g wal-fetch <wal_name> <destination>`: restores one WAL file (restore_command = 'wal-g wal-fetch %f %p'),
// then starts the wal-prefetch child for the following ones. Exit 74 when the file is not in the storage.

import { errorMessage, WalgError } from '../../errors.ts';
import { log } from '../../log/logger.ts';
import { configuredCrypter } from '../../objects/configured.ts';
import { fetchWal, resolveDestination } from '../../wal/fetch.ts';
import { walSegmentSizeFromSetting } from '../../wal/names.ts';
import { queuedByLiveProcess, spawnPrefetchProcess } from '../../wal/prefetch.ts';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { followingWalNames, prefetchLocations, prefetchNeeded, shouldPrefetch } from '../../wal/prefetch-names.ts';
import { WAL_FOLDER } from '../../wal/push.ts';
import { openWalStorageForRead } from '../../wal/wal-storage.ts';
import type { CommandContext } from '../context.ts';

export async function run(context: CommandContext): Promise<void> {
  const { settings } = context;
  const storage = await openWalStorageForRead(settings, String(context.flags['target-storage'] ?? ''), 'Failed to configure multi-storage: ');
  const [walName] = context.args;
  const destination = resolveDestination(context.args[1]);
  try {
    await fetchWal({
      walFolder: storage.root.subFolder(WAL_FOLDER),
      walName,
      destination,
      crypter: configuredCrypter(settings),
      segmentSize: walSegmentSizeFromSetting(settings.get('WALG_PG_WAL_SIZE')),
      prefetchDirSetting: settings.lookupValue('WALG_PREFETCH_DIR'),
    });
  } finally {
    await storage.close();
    startPrefetch(context, walName, destination);
  }
}

/** WAL-G starts the prefetch child after every wal-fetch, successful or not (its deferred Prefetch call). */
function startPrefetch(context: CommandContext, walName: string, destination: string): void {
  let concurrency: number;
  try {
    concurrency = context.settings.concurrency('WALG_DOWNLOAD_CONCURRENCY');
  } catch (error) {
    log.error(`WAL-prefetch: get max concurrency: ${errorMessage(error)}`);
    return;
  }
  if (!shouldPrefetch(walName, concurrency)) return;
  if (!prefetchWindowNeedsWork(context, walName, destination, concurrency)) return;
  const configFile = context.flags.config;
  spawnPrefetchProcess(walName, destination, {
    configFile: typeof configFile === 'string' && configFile !== '' ? configFile : undefined,
    storagePrefix: context.settings.get('WALG_STORAGE_PREFIX'),
  });
}

/** True when the following segments are not (mostly) prefetched, in progress or queued already; see prefetchNeeded. */
function prefetchWindowNeedsWork(context: CommandContext, walName: string, destination: string, concurrency: number): boolean {
  try {
    const names = followingWalNames(walName, concurrency, walSegmentSizeFromSetting(context.settings.get('WALG_PG_WAL_SIZE')));
    const prefetchDir = context.settings.lookupValue('WALG_PREFETCH_DIR');
    const present = names.map((name) => {
      const locations = prefetchLocations(dirname(destination), name, prefetchDir);
      return existsSync(locations.prefetchedFile) || existsSync(locations.runningFile) || queuedByLiveProcess(locations.queuedFile);
    });
    return prefetchNeeded(present);
  } catch {
    return true; // let the child report whatever is wrong, as WAL-G would
  }
}
