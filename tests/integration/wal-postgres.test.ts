// wal-push as archive_command and wal-fetch as restore_command on every installed PostgreSQL major: no archive
// failures under a pgbench load, archived segments byte-identical to pg_wal, and a base copy replays to the same state.

import { describe, test } from 'node:test';
import { availablePostgresVersions } from '../helpers/postgres.ts';
import { WALG_BIN } from '../helpers/walg.ts';
import { archiveAndReplay, type WalWorkspace } from '../helpers/wal-postgres.ts';

const majors = availablePostgresVersions();

/** The oldest and the newest major replay with the prefetch child on (WAL-G's default); the others without it. */
const prefetchMajors = new Set([majors[0], majors[majors.length - 1]]);

function walgCommand(workspace: WalWorkspace, args: string, extraEnv = ''): string {
  // archive_command and restore_command run as the cluster user through sh: give the binary its addon cache.
  return `WALG_ADDON_DIR=${workspace.addonDir} ${extraEnv}${WALG_BIN} ${args} --config ${workspace.configFile}`;
}

describe('archiving with wal-push and replaying with wal-fetch', { concurrency: 2 }, () => {
  for (const major of majors) {
    test(`PostgreSQL ${major}: every segment archives byte-identically and a base copy replays to the primary's state`, async () => {
      await archiveAndReplay(major, WALG_BIN, {
        archiveCommand: (workspace) => walgCommand(workspace, 'wal-push %p'),
        restoreCommand: (workspace) =>
          walgCommand(workspace, 'wal-fetch %f %p', prefetchMajors.has(major) ? '' : 'WALG_DOWNLOAD_CONCURRENCY=1 '),
      });
    });
  }
});
