// `wal-g wal-restore target-pgdata source-pgdata`: downloads the WAL segments pg_rewind will need into the source's pg_wal.

import type { CommandContext } from '../context.ts';
import { configuredCrypter, openPrimaryStorage } from '../../objects/configured.ts';
import { walSegmentSizeFromSetting } from '../../wal/names.ts';
import { restoreWalForRewind } from '../../timeline/wal-restore.ts';

export async function run(context: CommandContext): Promise<void> {
  const root = await openPrimaryStorage(context.settings);
  try {
    await restoreWalForRewind({
      targetDataDirectory: context.args[0],
      sourceDataDirectory: context.args[1],
      walFolder: root.subFolder('wal_005'),
      crypter: configuredCrypter(context.settings),
      segmentSize: walSegmentSizeFromSetting(context.settings.get('WALG_PG_WAL_SIZE')),
    });
  } finally {
    await root.driver.close();
  }
}
