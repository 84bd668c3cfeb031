// `wal-g wal-verify integrity|timeline ...`: checks the WAL archive for gaps and for the cluster's timeline.

import type { CommandContext } from '../context.ts';
import { configuredCrypter, openPrimaryStorage } from '../../objects/configured.ts';
import { walSegmentSizeFromSetting } from '../../wal/names.ts';
import { WalgError } from '../../errors.ts';
import { parseLsnLenient } from '../../timeline/history.ts';
import { queryCurrentWalSegment } from '../../timeline/current-segment.ts';
import type { SegmentId } from '../../timeline/segment-names.ts';
import { renderWalVerifyJson, renderWalVerifyText, runWalVerify, type CheckType } from '../../timeline/wal-verify.ts';

export async function run(context: CommandContext): Promise<void> {
  // Argument validation (check names, --lsn/--timeline pairing) happens in the command tree; duplicates go here.
  const checks = [...new Set(context.args)].sort() as CheckType[];
  const segmentSize = walSegmentSizeFromSetting(context.settings.get('WALG_PG_WAL_SIZE'));
  const root = await openPrimaryStorage(context.settings);
  try {
    let currentSegment: SegmentId;
    if (context.changedFlags.has('lsn')) {
      let lsn: bigint;
      try {
        lsn = parseLsnLenient(String(context.flags.lsn));
      } catch (error) {
        throw new WalgError(`failed to parse LSN: ${String(context.flags.lsn)}`, 1, { cause: error });
      }
      // WAL-G computes lsn-1 in uint64: LSN 0 wraps around to the last segment.
      const previous = lsn === 0n ? 0xffffffffffffffffn : lsn - 1n;
      currentSegment = { timeline: Number(context.flags.timeline), segmentNumber: previous / BigInt(segmentSize) };
    } else {
      currentSegment = await queryCurrentWalSegment(context.env, segmentSize);
    }
    const backupName = context.changedFlags.has('backup-name') ? String(context.flags['backup-name']) : undefined;
    const results = await runWalVerify(root, {
      checks,
      currentSegment,
      backupName,
      segmentSize,
      uploadingRange: context.settings.concurrency('WALG_UPLOAD_CONCURRENCY'),
      delayedRange: context.settings.int('WALG_INTEGRITY_MAX_DELAYED_WALS'),
      crypter: configuredCrypter(context.settings),
    });
    context.stdout.write(context.flags.json === true ? renderWalVerifyJson(results) : renderWalVerifyText(results));
  } finally {
    await root.driver.close();
  }
}
