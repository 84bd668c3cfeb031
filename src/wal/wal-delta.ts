// The hook wal-push offers to WALG_USE_WAL_DELTA: a recorder that reads each pushed WAL segment and, at the end of
// the push, writes the `_delta` sidecars (format.md §6.6). The sidecar logic itself lives in src/wal-delta/.

import { join } from 'node:path';
import type { Codec } from '../compression/codec.ts';
import type { Settings } from '../config/settings.ts';
import type { Crypter } from '../crypto/crypter.ts';
import { errorMessage } from '../errors.ts';
import { log } from '../log/logger.ts';
import type { Folder } from '../storage/driver.ts';
import { sidecarUploader, WalDeltaSession } from '../wal-delta/delta-recorder.ts';
import { WALG_DATA_FOLDER } from './archive-status.ts';

/**
 * What wal-push needs from a WAL-delta implementation. wal-push calls `record` after each 24-hex segment it
 * uploaded (foreground and background; the file is still in pg_wal, so reading it again costs only page cache),
 * and `flush` once after the foreground and background uploads have finished (WAL-G's FlushFiles). Neither may
 * fail the push: WAL-G only logs delta problems.
 */
export interface WalDeltaRecorder {
  record(walFilePath: string, walName: string): Promise<void>;
  flush(walFolder: Folder, codec: Codec, crypter: Crypter | undefined): Promise<void>;
}

/** The recorder WALG_USE_WAL_DELTA asks for (state kept in `<wal folder>/walg_data`), or undefined when it is off. */
export function createWalDeltaRecorder(settings: Settings, walFolder: string, segmentSize: number): WalDeltaRecorder | undefined {
  if (!settings.bool('WALG_USE_WAL_DELTA')) return undefined;
  const session = new WalDeltaSession({
    stateDirectory: join(walFolder, WALG_DATA_FOLDER),
    pageSize: settings.int('WALG_PG_WAL_PAGE_SIZE') || undefined,
    blockSize: settings.int('WALG_PG_BLOCK_SIZE') || undefined,
    segmentSize,
  });
  return {
    async record(walFilePath, walName) {
      try {
        await session.recordSegment(walName, walFilePath);
      } catch (error) {
        log.warn(`Stopped wal file: '${walName}' recording because of error: '${errorMessage(error)}'`);
      }
    },
    async flush(walFolderOnStorage, codec, crypter) {
      try {
        await session.flush(sidecarUploader(walFolderOnStorage, codec, crypter));
      } catch (error) {
        log.warn(`Failed to flush WAL delta files: ${errorMessage(error)}`);
      }
    },
  };
}
