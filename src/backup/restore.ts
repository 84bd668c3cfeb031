// backup-fetch: restores a backup (a full one, or a delta chain forward or in reverse) into a directory, streaming
// every tar part from storage through decryption and decompression into the files, several parts at a time, with
// WAL-G's retries, order (label and pg_control last) and log lines.

import { readdir, readFile, realpath } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { formatForTarPartition } from '../compression/registry.ts';
import type { Crypter } from '../crypto/crypter.ts';
import { errorMessage, WalgError } from '../errors.ts';
import { log } from '../log/logger.ts';
import { openDecoded } from '../objects/transfer.ts';
import { LOCAL_RESTORE_PARTS_AT_ONCE } from '../stream/memory-budget.ts';
import { formatLsn } from '../wal/names.ts';
import { BackupRef } from './catalog.ts';
import type { FilesMetadata } from './files-metadata.ts';
import { requiresPgControl } from './names.ts';
import { BackupExtractor, InterpretError, type UnwrapResult } from './restore-files.ts';
import {
  applyRestoreDescription,
  baseFilesToUnwrap,
  classifyTars,
  filesToUnwrap,
  restoreDescription,
  TABLESPACE_MAP_MEMBER,
  tarHasWantedFiles,
  type FileSelection,
} from './restore-plan.ts';
import { isIncrementalSentinel, type BackupSentinel } from './sentinel.ts';
import { parseTablespaceSpec, type TablespaceSpec } from './tablespace-spec.ts';
import { ensureTablespaceLinks, planTablespaces, type TablespacePlacement } from './tablespaces.ts';
import { ExtractionGuard, readTarMembers, UnsafeArchiveError } from './tar-reader.ts';

export interface FetchOptions {
  /** The destination directory as given on the command line. */
  readonly destination: string;
  readonly mask: string;
  /** Path of a --restore-spec file, or ''. */
  readonly restoreSpecPath: string;
  /** Newest backup first (WALG_USE_REVERSE_UNPACK). */
  readonly reverseUnpack: boolean;
  readonly skipRedundantTars: boolean;
  /** --restore-only names; undefined when the flag was not given. */
  readonly restoreOnly?: readonly string[];
  /** Tar parts extracted at once (WALG_DOWNLOAD_CONCURRENCY). */
  readonly concurrency: number;
  /** WALG_DOWNLOAD_FILE_RETRIES. */
  readonly retries: number;
  readonly fsync: boolean;
  /** WALG_PG_BLOCK_SIZE. */
  readonly pageSize: number;
  readonly crypter?: Crypter;
  /** Waits between retry rounds; WAL-G sleeps 1 minute, doubling up to 5. Tests shorten it. */
  readonly retrySleeper?: () => Sleeper;
}

export type Sleeper = () => Promise<void>;

/** WAL-G's ExponentialSleeper(1 min, 5 min). */
export function exponentialSleeper(startMilliseconds = 60_000, boundMilliseconds = 300_000): Sleeper {
  let delay = startMilliseconds;
  return async () => {
    await new Promise((resolveSleep) => setTimeout(resolveSleep, delay));
    delay = Math.min(delay * 2, boundMilliseconds);
  };
}

/** No tars to extract (WAL-G's NoFilesToExtractError); reverse unpack treats it as "nothing useful here". */
export class NoFilesToExtractError extends WalgError {
  constructor() {
    super('ExtractAll: did not provide files to extract');
    this.name = 'NoFilesToExtractError';
  }
}

/** One tar part of one backup, ready to be extracted with a given extractor. */
interface TarTask {
  readonly backup: BackupRef;
  readonly tarName: string;
}

/** What stays the same across the backups of one restore. */
interface RestoreContext {
  readonly options: FetchOptions;
  readonly target: string;
  readonly guard: ExtractionGuard;
  readonly excluded: Set<string>;
  placements: TablespacePlacement[];
}

/** Restores `backup` (resolved by the caller) into options.destination. */
export async function fetchBackup(backup: BackupRef, options: FetchOptions): Promise<void> {
  const metadata = await backup.filesMetadata();
  const selection = filesToUnwrap(metadata, options.mask);
  const excluded = new Set<string>();
  let restoreSpec: TablespaceSpec | undefined;
  if (options.restoreSpecPath !== '') {
    selection?.delete(TABLESPACE_MAP_MEMBER);
    excluded.add(TABLESPACE_MAP_MEMBER);
    restoreSpec = await readRestoreSpec(options.restoreSpecPath);
  }
  const context: RestoreContext = {
    options,
    target: await resolveDestination(options.destination),
    guard: new ExtractionGuard(),
    excluded,
    placements: [],
  };
  const tablespaceSpec = async (): Promise<void> => {
    const spec = restoreSpec ?? (await backup.sentinel()).spec;
    context.placements = await planTablespaces(spec, restoreSpec !== undefined, context.target);
    if (context.placements.some((placement) => placement.relocated)) excluded.add(TABLESPACE_MAP_MEMBER);
  };
  if (options.reverseUnpack) {
    await requireEmptyDirectory(options.destination);
    await tablespaceSpec();
    await reverseUnpack(context, backup, selection);
  } else {
    await forwardUnpack(context, backup, selection, tablespaceSpec);
  }
}

/** WAL-G resolves symlinks in the destination; a missing one is used as given (made absolute here). */
async function resolveDestination(destination: string): Promise<string> {
  try {
    return await realpath(destination);
  } catch {
    return resolve(destination);
  }
}

/** An unreadable --restore-spec file; WAL-G reports it without the "Failed to fetch backup" prefix. */
export class RestoreSpecError extends WalgError {
  constructor(message: string) {
    super(message);
    this.name = 'RestoreSpecError';
  }
}

async function readRestoreSpec(path: string): Promise<TablespaceSpec> {
  // WAL-G formats this message with a stray argument, hence Go's "%!(EXTRA ...)" marker.
  const fail = (reason: string): WalgError => new RestoreSpecError(`Invalid restore specification path ${path}\n%!(EXTRA *errors.errorString=${reason})`);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw fail(`unable to read file: ${goPathError(error, path)}`);
  }
  try {
    return parseTablespaceSpec(text);
  } catch (error) {
    throw fail(`unable to unmarshal json: ${errorMessage(error)}\n Full json data:\n ${text}`);
  }
}

function goPathError(error: unknown, path: string): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return `open ${path}: no such file or directory`;
  if (code === 'EACCES') return `open ${path}: permission denied`;
  if (code === 'EISDIR') return `read ${path}: is a directory`;
  return `open ${path}: ${errorMessage(error)}`;
}

/**
 * WAL-G's IsDirectoryEmpty: walks the directory (lexical order) and logs every entry it finds; a missing directory
 * counts as empty.
 */
export async function requireEmptyDirectory(directory: string): Promise<void> {
  let empty = true;
  const walk = async (path: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(path, { withFileTypes: true });
    } catch {
      return;
    }
    entries.sort((left, right) => (left.name < right.name ? -1 : left.name > right.name ? 1 : 0));
    for (const entry of entries) {
      const child = join(path, entry.name);
      empty = false;
      log.info(`found file '${child}' in directory: '${directory}'`);
      if (entry.isDirectory()) await walk(child);
    }
  };
  await walk(directory);
  if (!empty) throw new WalgError(`Directory ${directory} for delta base must be empty`);
}

interface ChainStep {
  readonly backup: BackupRef;
  readonly sentinel: BackupSentinel;
  readonly metadata: FilesMetadata;
  readonly selection: FileSelection;
}

/** Default unpack: follows DeltaFrom down to the full backup, then extracts full → … → target. */
async function forwardUnpack(context: RestoreContext, target: BackupRef, selection: FileSelection, planTablespaceSpec: () => Promise<void>): Promise<void> {
  const chain: ChainStep[] = [];
  let current = target;
  let wanted = selection;
  for (;;) {
    const sentinel = await current.sentinel();
    const metadata = await current.filesMetadata();
    chain.unshift({ backup: current, sentinel, metadata, selection: wanted });
    if (!isIncrementalSentinel(sentinel)) break;
    log.info(`Delta from ${sentinel.deltaFrom} at LSN ${formatLsn(sentinel.deltaLsn!)} `);
    wanted = baseFilesToUnwrap(metadata.files, wanted);
    current = new BackupRef(sentinel.deltaFrom!, current.storage);
  }
  await requireEmptyDirectory(context.options.destination);
  await planTablespaceSpec();
  for (let index = 0; index < chain.length; index++) {
    const step = chain[index];
    if (index > 0) {
      const sentinel = step.sentinel;
      log.info(`${sentinel.deltaFrom} fetched. Upgrading from LSN ${formatLsn(sentinel.deltaLsn!)} to LSN ${formatLsn(sentinel.startLsn ?? 0n)} `);
    }
    await ensureTablespaceLinks(context.target, context.placements);
    const extractor = newExtractor(context, step, 'forward');
    const tars = classifyTars(await step.backup.tarNames());
    const needPgControl = requiresPgControl(step.backup.name, isIncrementalSentinel(step.sentinel));
    if (tars.pgControl.length === 0 && tars.backupLabel.length === 0 && needPgControl) throw new WalgError('Expect pg_control archive, but not found');
    await extractAll(context, extractor, tars.data.map((tarName) => ({ backup: step.backup, tarName })));
    if (needPgControl) await extractLast(context, extractor, step.backup, tars);
    log.info('\nBackup extraction complete.');
  }
}

function newExtractor(context: RestoreContext, step: ChainStep, mode: 'forward' | 'reverse'): BackupExtractor {
  return new BackupExtractor({
    target: context.target,
    guard: context.guard,
    selection: step.selection,
    excluded: context.excluded,
    files: step.metadata.files,
    isIncremental: isIncrementalSentinel(step.sentinel),
    mode,
    fsync: context.options.fsync,
    pageSize: context.options.pageSize,
  });
}

/** backup_label.tar, then pg_control.tar on its own, so an interrupted restore never has a startable pg_control. */
async function extractLast(context: RestoreContext, extractor: BackupExtractor, backup: BackupRef, tars: { backupLabel: string[]; pgControl: string[] }): Promise<void> {
  try {
    if (tars.backupLabel.length > 0) await extractAll(context, extractor, tars.backupLabel.map((tarName) => ({ backup, tarName })));
    if (tars.pgControl.length > 0) await extractAll(context, extractor, tars.pgControl.map((tarName) => ({ backup, tarName })));
  } catch (error) {
    throw new WalgError(`failed to extract pg_control: ${errorMessage(error)}`, 1, { cause: error });
  }
}

/** Bookkeeping of --skip-redundant-tars across a reverse unpack (WAL-G's FetchConfig). */
class RedundancyTracker {
  private readonly missingBlocks = new Map<string, number>();

  /** Drops from `wanted` the files the newer backups already completed. */
  apply(wanted: FileSelection, result: UnwrapResult): void {
    if (wanted === undefined) return;
    const exclude = (file: string): void => {
      wanted.delete(file);
      log.debug(`Excluded file ${file}`);
    };
    for (const [file, missing] of result.createdPageFiles) {
      if (!wanted.has(file)) continue;
      if (missing === 0) exclude(file);
      else this.missingBlocks.set(file, missing);
    }
    for (const [file, restored] of result.writtenIncrementFiles) {
      if (!wanted.has(file)) continue;
      const missing = this.missingBlocks.get(file);
      if (missing === undefined) {
        log.warn(`New written increment blocks, but file doesn't exist in missingBlocks: '${file}'`);
        continue;
      }
      if (missing - restored <= 0) exclude(file);
      else this.missingBlocks.set(file, missing - restored);
    }
    for (const file of result.completedFiles) exclude(file);
  }
}

/** Reverse unpack: target first, each older backup fills only what is still missing; pg_control comes last. */
async function reverseUnpack(context: RestoreContext, target: BackupRef, selection: FileSelection): Promise<void> {
  const tracker = new RedundancyTracker();
  let current = target;
  let wanted = selection;
  let deferred: (() => Promise<void>) | undefined;
  for (;;) {
    const sentinel = await current.sentinel();
    const metadata = await current.filesMetadata();
    const step: ChainStep = { backup: current, sentinel, metadata, selection: wanted };
    const isNewest = current === target;
    if (!isIncrementalSentinel(sentinel)) {
      log.info(`${formatLsn(sentinel.startLsn ?? 0n)} reached. Applying base backup... `);
      const last = await unwrapReverse(context, step, isNewest);
      deferred ??= last;
      break;
    }
    log.info(`Delta ${current.name} at LSN ${formatLsn(sentinel.startLsn ?? 0n)} `);
    const base = baseFilesToUnwrap(metadata.files, wanted);
    const extractor = newExtractor(context, step, 'reverse');
    const last = await unwrapReverse(context, step, isNewest, extractor);
    deferred ??= last;
    wanted = base;
    if (context.options.skipRedundantTars) tracker.apply(wanted, extractor.result);
    log.info(`${sentinel.deltaFrom} fetched. Downgrading from LSN ${formatLsn(sentinel.startLsn ?? 0n)} to LSN ${formatLsn(sentinel.deltaLsn!)} `);
    current = new BackupRef(sentinel.deltaFrom!, current.storage);
  }
  if (deferred !== undefined) await deferred();
}

/**
 * One backup of a reverse unpack (WAL-G's unwrapNew). The newest backup's label and pg_control tars are returned
 * as a closure to run after the whole chain (older backups' copies are never wanted).
 */
async function unwrapReverse(context: RestoreContext, step: ChainStep, isNewest: boolean, extractor = newExtractor(context, step, 'reverse')): Promise<(() => Promise<void>) | undefined> {
  await ensureTablespaceLinks(context.target, context.placements);
  if (context.options.restoreOnly !== undefined) {
    applyRestoreDescription(step.selection, restoreDescription(context.options.restoreOnly, step.metadata.databasesByNames));
  }
  const tars = classifyTars(await step.backup.tarNames());
  const data = context.options.skipRedundantTars ? tars.data.filter((name) => tarHasWantedFiles(name, step.metadata, step.selection)) : tars.data;
  const needPgControl = requiresPgControl(step.backup.name, isIncrementalSentinel(step.sentinel));
  if (tars.pgControl.length === 0 && tars.backupLabel.length === 0 && needPgControl) throw new WalgError('Expect pg_control archive, but not found');
  try {
    await extractAll(context, extractor, data.map((tarName) => ({ backup: step.backup, tarName })));
  } catch (error) {
    if (!(error instanceof NoFilesToExtractError)) throw error;
    log.info('Skipping backup: no useful files found.');
    return undefined;
  }
  if (!needPgControl) {
    log.info('\nBackup extraction complete.');
    return undefined;
  }
  const last = async (): Promise<void> => {
    await extractLast(context, extractor, step.backup, tars);
    if (isNewest) log.info('\nBackup extraction complete.');
  };
  if (isNewest) return last;
  await last();
  log.info('\nBackup extraction complete.');
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Downloading and extracting tars

/** A tar that failed, and whether trying again could help. */
interface TarFailure {
  readonly task: TarTask;
  readonly error: unknown;
}

/** Streams one tar part into the extractor: storage → decrypt → decompress → tar members → files. */
async function extractTar(context: RestoreContext, extractor: BackupExtractor, task: TarTask): Promise<void> {
  const format = formatForTarPartition(task.tarName);
  const stream = await openDecoded(task.backup.tarPartitionFolder, task.tarName, { format, crypter: context.options.crypter });
  try {
    await readTarMembers(stream, async (member, body) => {
      try {
        await extractor.member(member, body);
      } catch (error) {
        if (error instanceof UnsafeArchiveError) throw error;
        throw new InterpretError(`extractOne: Interpret failed: ${errorMessage(error)}`, error);
      }
    });
    await extractor.flush();
  } catch (error) {
    stream.destroy();
    await extractor.flush().catch(() => undefined);
    if (error instanceof UnsafeArchiveError || error instanceof InterpretError) throw error;
    throw new WalgError(`extractOne: tar extract failed: ${errorMessage(error)}`, 1, { cause: error });
  }
}

/** Runs the tasks with at most `concurrency` at once; returns the failures. */
async function tryExtract(context: RestoreContext, extractor: BackupExtractor, tasks: readonly TarTask[], concurrency: number): Promise<TarFailure[]> {
  const failures: TarFailure[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) {
      const task = tasks[next++];
      let failure: unknown;
      try {
        await extractTar(context, extractor, task);
      } catch (error) {
        failure = error;
      }
      log.info(`Finished extraction of ${task.tarName}`);
      if (failure !== undefined) {
        const error = failure instanceof UnsafeArchiveError ? failure : new WalgError(`Extraction error in ${task.tarName}: ${errorMessage(failure)}`, 1, { cause: failure });
        log.error(error.message);
        failures.push({ task, error: failure });
      }
    }
  };
  const local = tasks.length > 0 && tasks.every((task) => task.backup.tarPartitionFolder.driver.kind === 'file');
  const atOnce = local ? Math.min(concurrency, LOCAL_RESTORE_PARTS_AT_ONCE) : concurrency;
  await Promise.all(Array.from({ length: Math.min(atOnce, tasks.length) }, worker));
  return failures;
}

/**
 * WAL-G's ExtractAll: every tar concurrently; failed ones again with half the concurrency, sleeping between rounds,
 * until WALG_DOWNLOAD_FILE_RETRIES is used up. An archive that tries to leave the directory fails at once.
 */
async function extractAll(context: RestoreContext, extractor: BackupExtractor, tasks: readonly TarTask[]): Promise<void> {
  if (tasks.length === 0) throw new NoFilesToExtractError();
  let concurrency = context.options.concurrency;
  let retries = context.options.retries;
  const sleep = (context.options.retrySleeper ?? (() => exponentialSleeper()))();
  let current = tasks;
  while (current.length > 0) {
    const failures = await tryExtract(context, extractor, current, concurrency);
    const unsafe = failures.find((failure) => failure.error instanceof UnsafeArchiveError);
    if (unsafe !== undefined) throw new WalgError(`Extraction error in ${unsafe.task.tarName}: ${errorMessage(unsafe.error)}`);
    if (concurrency > 1) {
      concurrency = Math.floor(concurrency / 2);
    } else if (failures.length === current.length && retries <= 0) {
      throw new WalgError(`failed to extract files:\n${failures.map((failure) => failure.task.tarName).join('\n')}\n`);
    }
    retries--;
    current = failures.map((failure) => failure.task);
    if (current.length > 0) {
      log.warn(`${current.length} files failed to download: [${current.map((task) => task.tarName).join(' ')}]. Going to sleep and retry downloading them.`);
      log.warn(`retries left: ${retries}`);
      await sleep();
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// catchup-fetch

/**
 * catchup-fetch: one catchup backup written over an existing data directory (WAL-G's unwrap with
 * createIncrementalFiles): whole files replace the local copies, increments patch them; no emptiness check and no
 * parent chain. `beforeControlFiles` runs after the data tars, before backup_label and pg_control are written.
 */
export async function applyCatchupBackup(backup: BackupRef, options: FetchOptions, beforeControlFiles?: (target: string) => Promise<void>): Promise<void> {
  const sentinel = await backup.sentinel();
  const metadata = await backup.filesMetadata();
  const context: RestoreContext = {
    options,
    target: await resolveDestination(options.destination),
    guard: new ExtractionGuard(),
    excluded: new Set<string>(),
    placements: [],
  };
  const step: ChainStep = { backup, sentinel, metadata, selection: filesToUnwrap(metadata, '') };
  const extractor = newExtractor(context, step, 'forward');
  const tars = classifyTars(await backup.tarNames());
  const needPgControl = requiresPgControl(backup.name, isIncrementalSentinel(sentinel));
  if (tars.pgControl.length === 0 && tars.backupLabel.length === 0 && needPgControl) throw new WalgError('Expect pg_control archive, but not found');
  await extractAll(context, extractor, tars.data.map((tarName) => ({ backup, tarName })));
  if (beforeControlFiles !== undefined) await beforeControlFiles(context.target);
  if (needPgControl) await extractLast(context, extractor, backup, tars);
  log.info('\nBackup extraction complete.');
}
