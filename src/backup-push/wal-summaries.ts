// Walnut-only, opt-in (--delta-from-wal-summaries): a delta's changed blocks from PostgreSQL 17+ WAL summaries
// (summarize_wal) instead of a page scan, for the increments WAL-G writes; any gap in the summaries falls back.

import { errorMessage } from '../errors.ts';
import { log } from '../log/logger.ts';
import { formatLsn } from '../wal/names.ts';
import { relationFileOf } from './wal-delta-map.ts';

/** A relation segment file holds 1 GiB. */
const RELATION_SEGMENT_BYTES = 1024 * 1024 * 1024;
/** How long to wait for the summarizer to reach the backup's start (it summarizes up to each checkpoint's redo). */
export const SUMMARIZER_WAIT_MS = 60_000;

/** The queries this needs; a session runs them (rows of text values). */
export interface SummaryQueries {
  readonly version: number;
  rows(text: string, context: string, values?: unknown[]): Promise<(string | null)[][]>;
}

export const SUMMARIZE_WAL_QUERY = "select current_setting('summarize_wal', true)";
export const SUMMARIZER_STATE_QUERY = 'select summarized_tli, summarized_lsn from pg_get_wal_summarizer_state()';
export const AVAILABLE_SUMMARIES_QUERY = 'select tli, start_lsn, end_lsn from pg_available_wal_summaries() order by tli, start_lsn, end_lsn';

/**
 * The main-fork changes of every relation in the summaries of timeline $1 that overlap [$2, $3): per relation the
 * smallest truncation length (limit block) and the modified blocks as `first-last` runs, so the answer stays small
 * whatever the number of changed blocks.
 */
export const SUMMARY_CONTENTS_QUERY = `
with entries as (
  select c.reltablespace as spc, c.reldatabase as db, c.relfilenode as rel, c.relblocknumber as block, c.is_limit_block as is_limit
  from pg_available_wal_summaries() s
  cross join lateral pg_wal_summary_contents(s.tli, s.start_lsn, s.end_lsn) c
  where s.tli = $1 and s.end_lsn > $2::pg_lsn and s.start_lsn < $3::pg_lsn and c.relforknumber = 0
), blocks as (
  select distinct spc, db, rel, block from entries where not is_limit
), islands as (
  select spc, db, rel, block, block - row_number() over (partition by spc, db, rel order by block) as island from blocks
), runs as (
  select spc, db, rel, min(block) as first, max(block) as last from islands group by spc, db, rel, island
), limits as (
  select spc, db, rel, min(block) as limit_block from entries where is_limit group by spc, db, rel
)
select coalesce(r.spc, l.spc), coalesce(r.db, l.db), coalesce(r.rel, l.rel), l.limit_block, r.runs
from (select spc, db, rel, string_agg(first || '-' || last, ',' order by first) as runs from runs group by spc, db, rel) r
full join limits l on l.spc = r.spc and l.db = r.db and l.rel = r.rel`;

/** One summary file's range, as pg_available_wal_summaries lists it. */
export interface SummaryRange {
  readonly timeline: number;
  readonly start: bigint;
  readonly end: bigint;
}

export function parseLsn(text: string): bigint {
  const [high, low] = text.split('/');
  return (BigInt(`0x${high}`) << 32n) | BigInt(`0x${low}`);
}

/**
 * Whether the summaries of `timeline` cover [from, to) without a gap (ranges are half-open, end exclusive), or the
 * first LSN they miss.
 */
export function firstUncoveredLsn(ranges: readonly SummaryRange[], timeline: number, from: bigint, to: bigint): bigint | undefined {
  const sorted = ranges.filter((range) => range.timeline === timeline).sort((left, right) => (left.start < right.start ? -1 : left.start > right.start ? 1 : 0));
  let covered = from;
  for (const range of sorted) {
    if (covered >= to) break;
    if (range.start > covered) break;
    if (range.end > covered) covered = range.end;
  }
  return covered >= to ? undefined : covered;
}

interface RelationChanges {
  /** Modified blocks as [first, last] pairs, ascending, relation-wide numbers. */
  readonly runs: Uint32Array;
  /** The relation was truncated to this many blocks (or created, 0) in the range; undefined if never. */
  readonly limitBlock: number | undefined;
}

/**
 * Changed blocks per relation main fork from WAL summaries, answering the composer's question per segment file: the
 * modified blocks, plus every block from the limit block on (what a truncation or re-creation left is new content).
 */
export class WalSummaryDeltaMap {
  readonly #relations = new Map<string, RelationChanges>();
  /** Blocks selected so far, over every file asked about. */
  selectedBlocks = 0;

  get relationCount(): number {
    return this.#relations.size;
  }

  /** One row of SUMMARY_CONTENTS_QUERY (the driver may give oids as numbers, the rest as text). */
  addRow(row: readonly unknown[]): void {
    const [spc, db, rel, limit, runs] = row;
    const pairs: number[] = [];
    if (typeof runs === 'string' && runs !== '') {
      for (const run of runs.split(',')) {
        const dash = run.indexOf('-');
        pairs.push(Number(run.slice(0, dash)), Number(run.slice(dash + 1)));
      }
    }
    this.#relations.set(`${String(spc)}/${String(db)}/${String(rel)}`, {
      runs: Uint32Array.from(pairs),
      limitBlock: limit === null || limit === undefined ? undefined : Number(limit),
    });
  }

  /**
   * The segment-relative blocks of the file at `path` to put in its increment (ascending, within `fileSize`), or
   * 'unknown' when the path is not a relation segment (the composer then scans its pages). A relation the summaries
   * never mention has no changed blocks: its increment carries only its size.
   */
  blocksFor(path: string, fileSize: number, pageSize: number): Uint32Array | 'unknown' {
    const relation = relationFileOf(path);
    if (relation === undefined) return 'unknown';
    const changes = this.#relations.get(relation.key);
    if (changes === undefined) return new Uint32Array(0);
    const blocksPerSegment = RELATION_SEGMENT_BYTES / pageSize;
    const first = relation.segment * blocksPerSegment;
    const pagesInFile = Math.min(blocksPerSegment, Math.floor(fileSize / pageSize));
    const selected = new Uint8Array(pagesInFile);
    for (let index = 0; index < changes.runs.length; index += 2) {
      const from = Math.max(changes.runs[index], first) - first;
      const to = Math.min(changes.runs[index + 1] - first, pagesInFile - 1);
      for (let block = from; block <= to; block++) selected[block] = 1;
    }
    if (changes.limitBlock !== undefined) {
      for (let block = Math.max(changes.limitBlock - first, 0); block < pagesInFile; block++) selected[block] = 1;
    }
    let count = 0;
    for (let block = 0; block < pagesInFile; block++) count += selected[block];
    const blocks = new Uint32Array(count);
    let next = 0;
    for (let block = 0; block < pagesInFile; block++) if (selected[block] === 1) blocks[next++] = block;
    this.selectedBlocks += count;
    return blocks;
  }
}

export interface SummaryDeltaRequest {
  /** The parent's start LSN and timeline (from its name), and this backup's. */
  readonly parentStartLsn: bigint;
  readonly parentTimeline: number;
  readonly startLsn: bigint;
  readonly timeline: number;
  readonly waitMs?: number;
}

/** Why the summaries cannot be used; the caller falls back to the page-LSN scan. */
class SummariesUnavailable extends Error {}

async function waitForSummarizer(session: SummaryQueries, request: SummaryDeltaRequest): Promise<void> {
  const deadline = Date.now() + (request.waitMs ?? SUMMARIZER_WAIT_MS);
  for (;;) {
    const [row] = await session.rows(SUMMARIZER_STATE_QUERY, 'reading the WAL summarizer state failed');
    const summarized = row?.[1] === null || row?.[1] === undefined ? 0n : parseLsn(row[1]);
    if (Number(row?.[0]) === request.timeline && summarized >= request.startLsn) return;
    if (Date.now() >= deadline) {
      throw new SummariesUnavailable(`the WAL summarizer reached only ${formatLsn(summarized)}, not the backup start ${formatLsn(request.startLsn)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * The changed-block map of a delta from `request.parentStartLsn` to `request.startLsn`, or undefined (after a
 * warning saying why) when the summaries cannot give it: PostgreSQL before 17, summarize_wal off, a timeline switch
 * since the parent, or summaries missing for part of the range.
 */
export async function loadWalSummaryDeltaMap(session: SummaryQueries, request: SummaryDeltaRequest): Promise<WalSummaryDeltaMap | undefined> {
  try {
    if (session.version < 170000) throw new SummariesUnavailable(`PostgreSQL ${Math.floor(session.version / 10000)} has no WAL summaries (17 or later needed)`);
    const [setting] = await session.rows(SUMMARIZE_WAL_QUERY, 'reading summarize_wal failed');
    if (setting?.[0] !== 'on') throw new SummariesUnavailable('summarize_wal is off');
    if (request.parentTimeline !== request.timeline) {
      throw new SummariesUnavailable(`the timeline switched from ${request.parentTimeline} to ${request.timeline} since the base backup`);
    }
    await waitForSummarizer(session, request);
    const ranges = (await session.rows(AVAILABLE_SUMMARIES_QUERY, 'listing WAL summaries failed')).map((row) => ({
      timeline: Number(row[0]),
      start: parseLsn(String(row[1])),
      end: parseLsn(String(row[2])),
    }));
    const missing = firstUncoveredLsn(ranges, request.timeline, request.parentStartLsn, request.startLsn);
    if (missing !== undefined) {
      throw new SummariesUnavailable(`no WAL summary of timeline ${request.timeline} covers ${formatLsn(missing)} (between ${formatLsn(request.parentStartLsn)} and ${formatLsn(request.startLsn)})`);
    }
    const map = new WalSummaryDeltaMap();
    const rows = await session.rows(SUMMARY_CONTENTS_QUERY, 'reading WAL summary contents failed', [
      request.timeline,
      formatLsn(request.parentStartLsn),
      formatLsn(request.startLsn),
    ]);
    for (const row of rows) map.addRow(row);
    log.info(
      `Delta from WAL summaries: ${formatLsn(request.parentStartLsn)} to ${formatLsn(request.startLsn)} on timeline ${request.timeline}, ${map.relationCount} relations changed`,
    );
    return map;
  } catch (error) {
    const reason = error instanceof SummariesUnavailable ? error.message : `querying WAL summaries failed: ${errorMessage(error)}`;
    log.warn(`Cannot take the delta from WAL summaries: ${reason}. Falling back to the page LSN scan.`);
    return undefined;
  }
}
