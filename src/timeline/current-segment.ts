// The cluster's current WAL position for wal-verify: segment of (current LSN - 1) and the checkpoint timeline,
// queried as WAL-G's QueryCurrentWalSegment does.

import { connectPostgres, queryFirstRow, serverVersionNumber } from '../replication/connect.ts';
import { formatWalSegmentName, parseLsn } from '../wal/names.ts';
import { log } from '../log/logger.ts';
import { errorMessage, WalgError } from '../errors.ts';
import type { SegmentId } from './segment-names.ts';

export async function queryCurrentWalSegment(env: NodeJS.ProcessEnv, segmentSize: number): Promise<SegmentId> {
  let client;
  try {
    client = await connectPostgres({ env });
  } catch (error) {
    throw new WalgError(`Failed to establish a connection to Postgres cluster ${errorMessage(error)}`);
  }
  try {
    const version = await serverVersionNumber(client);
    const lsnQuery =
      version >= 100000
        ? 'SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() ELSE pg_current_wal_lsn() END'
        : 'SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_xlog_receive_location() ELSE pg_current_xlog_location() END';
    let segmentNumber: bigint;
    try {
      const row = await queryFirstRow(client, lsnQuery);
      segmentNumber = (parseLsn(row?.[0] ?? '') - 1n) / BigInt(segmentSize);
    } catch (error) {
      throw new WalgError(`Failed to get current WAL segment number GetCurrentLsn: getting current LSN of the cluster failed: ${errorMessage(error)}`);
    }
    let timeline: number;
    try {
      if (version >= 90600) {
        const row = await queryFirstRow(client, 'select timeline_id, bytes_per_wal_segment from pg_control_checkpoint(), pg_control_init()');
        if (Number(row?.[1]) !== segmentSize) {
          throw new Error('bytes_per_wal_segment of the server does not match expected value, you may need to set WALG_PG_WAL_SIZE');
        }
        timeline = Number(row?.[0]);
      } else {
        const row = await queryFirstRow(client, 'SELECT SUBSTR(pg_xlogfile_name(pg_current_xlog_insert_location()), 1, 8) AS timeline');
        timeline = parseInt(row?.[0] ?? '', 16);
      }
    } catch (error) {
      throw new WalgError(`Failed to get current timeline ${errorMessage(error)}`);
    }
    log.info(`Current WAL segment: ${formatWalSegmentName(timeline, segmentNumber, segmentSize)}`);
    return { timeline, segmentNumber };
  } finally {
    await client.end().catch((error: unknown) => log.warn(errorMessage(error)));
  }
}
