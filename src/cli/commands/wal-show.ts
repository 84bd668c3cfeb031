// `wal-g wal-show`: shows WAL segments in storage grouped by timeline (table, or JSON with --detailed-json).

import type { CommandContext } from '../context.ts';
import { configuredCrypter, openPrimaryStorage } from '../../objects/configured.ts';
import { walSegmentSizeFromSetting } from '../../wal/names.ts';
import { collectTimelineInfos, renderWalShowJson, renderWalShowTable } from '../../timeline/wal-show.ts';

export async function run(context: CommandContext): Promise<void> {
  const showBackups = context.flags['without-backups'] !== true;
  const root = await openPrimaryStorage(context.settings);
  try {
    const infos = await collectTimelineInfos(root, {
      showBackups,
      segmentSize: walSegmentSizeFromSetting(context.settings.get('WALG_PG_WAL_SIZE')),
      crypter: configuredCrypter(context.settings),
    });
    context.stdout.write(context.flags['detailed-json'] === true ? renderWalShowJson(infos) : renderWalShowTable(infos, showBackups));
  } finally {
    await root.driver.close();
  }
}
