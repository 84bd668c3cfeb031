// `wal-g wal-receive`: streams WAL over the replication protocol and uploads each finished segment.

import type { CommandContext } from '../context.ts';
import { configuredCodec, configuredCrypter, openPrimaryStorage } from '../../objects/configured.ts';
import { receiveWal } from '../../replication/wal-receiver.ts';

export async function run(context: CommandContext): Promise<void> {
  const root = await openPrimaryStorage(context.settings);
  try {
    await receiveWal({
      env: context.env,
      walFolder: root.subFolder('wal_005'),
      codec: configuredCodec(context.settings),
      crypter: configuredCrypter(context.settings),
      slotName: context.settings.getOr('WALG_SLOTNAME', 'walg'),
      metadataLevel: context.settings.getOr('WALG_UPLOAD_WAL_METADATA', 'NOMETADATA'),
    });
  } finally {
    await root.driver.close();
  }
}
