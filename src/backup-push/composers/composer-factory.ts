// Which tar ball composer a local backup uses (WAL-G's NewTarBallComposerMaker): regular, rating, database or copy,
// with what each needs first — relation statistics, or the previous full backup to copy parts from.

import { latestBackup } from '../../backup/catalog.ts';
import { isIncrementalSentinel } from '../../backup/sentinel.ts';
import { BackupRef } from '../../backup/catalog.ts';
import type { StorageSet } from '../../backup/storage-set.ts';
import { errorMessage } from '../../errors.ts';
import { log } from '../../log/logger.ts';
import type { Folder } from '../../storage/driver.ts';
import type { PostgresSession } from '../postgres-session.ts';
import { TarComposer, type ComposerOptions } from '../tar-composer.ts';
import { CopyTarComposer } from './copy-composer.ts';
import { DatabaseTarComposer } from './database-composer.ts';
import { RatingTarComposer } from './rating-composer.ts';
import { loadRelationStatistics } from './relation-statistics.ts';

export type ComposerKind = 'regular' | 'rating' | 'database' | 'copy';

export interface ComposerContext {
  /** The backup's SQL session (the rating composer reads statistics through it). */
  readonly session: PostgresSession;
  readonly env: NodeJS.ProcessEnv;
  /** The storage the backup goes to, where the copy composer finds the previous backup. */
  readonly storages: StorageSet;
  /** basebackups_005/ of that storage. */
  readonly baseBackups: Folder;
  readonly newBackupName: string;
}

/** Makes the composer; without files metadata (no spool) every kind falls back to the regular one, as in WAL-G. */
export async function makeTarComposer(kind: ComposerKind, options: ComposerOptions, context: ComposerContext): Promise<TarComposer> {
  if (options.spool === undefined) {
    if (kind !== 'regular') log.info('No files metadata mode is enabled. Choosing the regular tar ball composer.');
    return new TarComposer(options);
  }
  switch (kind) {
    case 'regular':
      return new TarComposer(options);
    case 'rating':
      return new RatingTarComposer(options, await loadRelationStatistics(context.session, context.env));
    case 'database':
      return new DatabaseTarComposer(options);
    case 'copy':
      return makeCopyComposer(options, context);
  }
}

/** The copy composer copies from the latest backup, or from the full backup a latest delta increments. */
async function makeCopyComposer(options: ComposerOptions, context: ComposerContext): Promise<TarComposer> {
  let previous: BackupRef;
  try {
    previous = await latestBackup(context.storages);
  } catch (error) {
    log.info(`Failed to init the CopyComposer, will use the RegularComposer instead: couldn't get the previous backup name: ${errorMessage(error)}`);
    return new TarComposer(options);
  }
  const sentinel = await previous.sentinel();
  await previous.filesMetadata();
  if (isIncrementalSentinel(sentinel) && sentinel.deltaFullName !== undefined) {
    previous = new BackupRef(sentinel.deltaFullName, previous.storage);
    await previous.sentinel();
  }
  const filesMetadata = await previous.filesMetadata();
  return new CopyTarComposer(options, {
    baseBackups: context.baseBackups,
    source: { name: previous.name, filesMetadata },
    newBackupName: context.newBackupName,
  });
}
