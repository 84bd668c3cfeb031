// `wal-g wal-fetch <wal_name> <destination>`: restores one WAL file (restore_command = 'wal-g wal-fetch %f %p'),
// then starts the wal-prefetch child for the following ones. Exit 74 when the file is not in the storage.

import { errorMessage, WalgError } from '../../errors.ts';
import { log } from '../../log/logger.ts';
import { configuredCrypter } from '../../objects/configured.ts';
import { findByBaseName } from '../../objects/transfer.ts';
import type { Folder } from '../../storage/driver.ts';
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
    const wanted = await prefetchWanted(context, walName, destination, storage.root.subFolder(WAL_FOLDER));
    await storage.close();
    if (wanted) startPrefetch(context, walName, destination);
  }
}

/**
 * WAL-G starts the prefetch child after every wal-fetch, successful or not (its deferred Prefetch call). walnut
 * starts it when the following names are not (mostly) there already (prefetchNeeded), and, from a file storage,
 * only when the first name the child would download is archived: a standby that keeps up with the archive
 * otherwise starts a Node process after every segment for names that do not exist yet (docs/COMPATIBILITY.md).
 */
async function prefetchWanted(context: CommandContext, walName: string, destination: string, walFolder: Folder): Promise<boolean> {
  let concurrency: number;
  try {
    concurrency = context.settings.concurrency('WALG_DOWNLOAD_CONCURRENCY');
  } catch (error) {
    log.error(`WAL-prefetch: get max concurrency: ${errorMessage(error)}`);
    return false;
  }
  if (!shouldPrefetch(walName, concurrency)) return false;
  const firstMissing = prefetchWindowNeedsWork(context, walName, destination, concurrency);
  if (firstMissing === undefined) return false;
  if (firstMissing === true || walFolder.driver.kind !== 'file') return true;
  try {
    return (await findByBaseName(walFolder, firstMissing)) !== undefined;
  } catch {
    return true; // let the child report whatever is wrong
  }
}

function startPrefetch(context: CommandContext, walName: string, destination: string): void {
  const configFile = context.flags.config;
  spawnPrefetchProcess(walName, destination, {
    configFile: typeof configFile === 'string' && configFile !== '' ? configFile : undefined,
    storagePrefix: context.settings.get('WALG_STORAGE_PREFIX'),
  });
}

/**
 * When the following segments are not (mostly) prefetched, in progress or queued already (prefetchNeeded): the first
 * name that is not, which a child would download first; true when the window cannot be worked out (the child
 * reports why); undefined when no child is needed.
 */
function prefetchWindowNeedsWork(context: CommandContext, walName: string, destination: string, concurrency: number): string | true | undefined {
  try {
    const names = followingWalNames(walName, concurrency, walSegmentSizeFromSetting(context.settings.get('WALG_PG_WAL_SIZE')));
    const prefetchDir = context.settings.lookupValue('WALG_PREFETCH_DIR');
    const present = names.map((name) => {
      const locations = prefetchLocations(dirname(destination), name, prefetchDir);
      return existsSync(locations.prefetchedFile) || existsSync(locations.runningFile) || queuedByLiveProcess(locations.queuedFile);
    });
    return prefetchNeeded(present) ? names[present.indexOf(false)] : undefined;
  } catch {
    return true; // let the child report whatever is wrong, as WAL-G would
  }
}
