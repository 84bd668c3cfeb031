// `wal-g daemon` with walg-daemon-client as archive_command and restore_command on every installed PostgreSQL
// major: the same archive-and-replay scenario as wal-postgres, through the Unix socket.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { availablePostgresVersions } from '../helpers/postgres.ts';
import { WALG_BIN } from '../helpers/walg.ts';
import { archiveAndReplay, startWalDaemon, WALG_CLIENT_BIN, type RunningDaemon } from '../helpers/wal-postgres.ts';

const majors = availablePostgresVersions();

describe('archiving and replaying through wal-g daemon and walg-daemon-client', { concurrency: 2 }, () => {
  for (const major of majors) {
    test(`PostgreSQL ${major}: the daemon archives every segment byte-identically and a base copy replays through it`, async () => {
      const daemons: Partial<Record<'primary' | 'restore', RunningDaemon>> = {};
      try {
        await archiveAndReplay(major, WALG_BIN, {
          archiveCommand: (workspace) => `${WALG_CLIENT_BIN} ${workspace.directory}/primary.sock wal-push %f`,
          restoreCommand: (workspace) => `${WALG_CLIENT_BIN} ${workspace.directory}/restore.sock wal-fetch %f %p`,
          async beforeStart(workspace, dataDir, phase) {
            daemons[phase] = await startWalDaemon(workspace, WALG_BIN, dataDir, phase);
          },
          async afterStop(phase) {
            const daemon = daemons[phase]!;
            await daemon.stop();
            // Every request was answered without an error line in the daemon's log.
            assert.doesNotMatch(daemon.output(), /Message loop failure/, daemon.output());
          },
        });
      } finally {
        await daemons.primary?.stop();
        await daemons.restore?.stop();
      }
    });
  }
});
