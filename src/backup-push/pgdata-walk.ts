// The walk of a data directory as WAL-G's backup-push does it: Go's filepath.Walk order (names sorted byte-wise,
// lstat, symlinks not followed), the excluded names, tablespaces walked through their pg_tblspc symlinks and renamed
// under pg_tblspc/<oid>/, global/pg_control held back, and the delta decisions (skip by mtime, increment or whole).

import type { BigIntStats } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { isPagedFile } from '../backup/increment.ts';
import type { GoTime } from '../backup/go-time.ts';
import { tablespaceSpecOf, type TablespaceSpec } from '../backup/tablespace-spec.ts';
import { compareKeys } from '../storage/driver.ts';
import { errorMessage, WalgError } from '../errors.ts';
import { log } from '../log/logger.ts';

/** WAL-G's ExcludedFilenames: matched against the basename anywhere in the tree. */
export const EXCLUDED_NAMES: ReadonlySet<string> = new Set([
  'log',
  'pg_log',
  'pg_xlog',
  'pg_wal',
  'pgsql_tmp',
  'postgresql.auto.conf.tmp',
  'postmaster.pid',
  'postmaster.opts',
  'recovery.conf',
  'pg_dynshmem',
  'pg_notify',
  'pg_replslot',
  'pg_serial',
  'pg_stat_tmp',
  'pg_snapshots',
  'pg_subtrans',
  'standby.signal',
]);

export const PG_CONTROL_NAME = 'pg_control';
export const TABLESPACE_FOLDER = 'pg_tblspc';

/** One walked file system object. */
export interface WalkedEntry {
  /** The path WAL-G works with: inside a tablespace, rewritten to `<PGDATA>/pg_tblspc/<oid>/...`. */
  readonly path: string;
  /** Where the object really is (differs from `path` inside tablespaces). */
  readonly realPath: string;
  /** The tar member name: `/` + the path relative to PGDATA. */
  readonly memberName: string;
  readonly baseName: string;
  readonly stats: BigIntStats;
}

/** What a delta backup compares against: the parent's start LSN and the mtime of each of its files. */
export interface DeltaBase {
  readonly startLsn: bigint;
  /** Member name → the mtime recorded in the parent's files_metadata.json. */
  readonly modificationTimes: ReadonlyMap<string, GoTime>;
}

/** Where the walk sends what it finds (WAL-G's tar ball composer). */
export interface WalkSink {
  /** Directories and other non-regular objects, and excluded directories: a header only. */
  addHeader(entry: WalkedEntry): Promise<void>;
  /** A regular file to pack, whole or as an increment. */
  addFile(entry: WalkedEntry, incremented: boolean): Promise<void>;
  /** A file unchanged since the parent backup (same mtime): recorded, not packed. */
  skipFile(entry: WalkedEntry): Promise<void>;
}

export interface WalkOptions {
  readonly dataDirectory: string;
  readonly sink: WalkSink;
  readonly deltaBase?: DeltaBase;
  /** WALG_PG_BLOCK_SIZE. */
  readonly pageSize: number;
  /** Names excluded beside EXCLUDED_NAMES (catchup-push adds the server's configuration files). */
  readonly extraExcludedNames?: ReadonlySet<string>;
}

export interface WalkResult {
  /** global/pg_control, packed last into its own tar. */
  readonly pgControl: WalkedEntry | undefined;
  /** Sum of the lstat sizes of everything walked (DataCatalogSize). */
  readonly dataCatalogSize: number;
  readonly tablespaceSpec: TablespaceSpec;
}

const SKIP_DIRECTORY = Symbol('skip directory');
type VisitResult = void | typeof SKIP_DIRECTORY;

/** WAL-G's NormalizePath: trailing slashes go. */
function normalizePath(path: string): string {
  return path.replace(/\/+$/, '');
}

/** utility.IsInDirectory for absolute, clean paths. */
function isInDirectory(path: string, directory: string): boolean {
  const base = normalizePath(directory);
  const target = normalizePath(path);
  return target === base || target.startsWith(`${base}/`);
}

/** Whether a file's mtime is the instant files_metadata.json recorded (Go's Time.Equal). */
export function mtimeEquals(stats: BigIntStats, recorded: GoTime): boolean {
  const seconds = stats.mtimeNs / 1_000_000_000n;
  let nanoseconds = stats.mtimeNs % 1_000_000_000n;
  let wholeSeconds = seconds;
  if (nanoseconds < 0n) {
    nanoseconds += 1_000_000_000n;
    wholeSeconds -= 1n;
  }
  return Number(wholeSeconds) === recorded.seconds && Number(nanoseconds) === recorded.nanoseconds;
}

/** Walks PGDATA (and its tablespaces) into `sink`, as WAL-G's HandleWalkedFSObject does. */
export class DataDirectoryWalker {
  readonly #options: WalkOptions;
  readonly #root: string;
  readonly #tablespaces: Array<{ name: string; location: string }> = [];
  #pgControl: WalkedEntry | undefined;
  #dataCatalogSize = 0;

  constructor(options: WalkOptions) {
    this.#options = options;
    this.#root = normalizePath(options.dataDirectory);
  }

  async walk(): Promise<WalkResult> {
    await this.#walkTree(this.#root);
    return {
      pgControl: this.#pgControl,
      dataCatalogSize: this.#dataCatalogSize,
      tablespaceSpec: tablespaceSpecOf(this.#root, this.#tablespaces),
    };
  }

  /** Go's filepath.Walk from `root`: the root's lstat, then a visit of everything below it. */
  async #walkTree(root: string): Promise<void> {
    let stats: BigIntStats;
    try {
      stats = await lstat(root, { bigint: true });
    } catch (error) {
      await this.#visitFailure(root, error);
      return;
    }
    await this.#walkObject(root, stats);
  }

  async #walkObject(path: string, stats: BigIntStats): Promise<VisitResult> {
    if (!stats.isDirectory()) return this.#visit(path, stats);
    // Go reads the directory before calling walkFn on it, and skips the children when either fails.
    let names: string[] | undefined;
    let listError: unknown;
    try {
      names = (await readdir(path)).sort(compareKeys);
    } catch (error) {
      listError = error;
    }
    if (listError !== undefined) {
      await this.#visitFailure(path, listError);
      return;
    }
    const result = await this.#visit(path, stats);
    if (result === SKIP_DIRECTORY) return;
    for (const name of names ?? []) {
      const child = join(path, name);
      let childStats: BigIntStats;
      try {
        childStats = await lstat(child, { bigint: true });
      } catch (error) {
        await this.#visitFailure(child, error);
        continue;
      }
      await this.#walkObject(child, childStats);
    }
  }

  /** walkFn with an error: a vanished object is a warning, anything else fails the walk. */
  async #visitFailure(path: string, error: unknown): Promise<void> {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      log.warn(`${path}  deleted during filepath walk`);
      return;
    }
    throw new WalgError(`HandleWalkedFSObject: walk failed: ${errorMessage(error)}`, 1, { cause: error });
  }

  /** WAL-G's HandleWalkedFSObject for one object. */
  async #visit(realPath: string, stats: BigIntStats): Promise<VisitResult> {
    this.#dataCatalogSize += Number(stats.size);
    const path = this.#symlinkPath(realPath);
    // The pg_tblspc/<oid> links themselves and the tablespace roots (renamed to the same path) are not members.
    if (this.#tablespaces.some((tablespace) => path === `${this.#root}/${TABLESPACE_FOLDER}/${tablespace.name}`)) return;

    if (basename(path) === TABLESPACE_FOLDER) await this.#walkTablespaces(realPath);

    const baseName = basename(realPath);
    const entry: WalkedEntry = { path, realPath, memberName: this.#memberName(path), baseName, stats };
    if (baseName === PG_CONTROL_NAME) {
      this.#pgControl = entry;
      return;
    }
    return this.#addToBundle(entry);
  }

  /** Reads pg_tblspc and walks every symlinked tablespace right away, recording it in the spec. */
  async #walkTablespaces(directory: string): Promise<void> {
    let names: string[];
    try {
      names = await readdir(directory);
    } catch (error) {
      throw new WalgError(`could not read directory structure in ${TABLESPACE_FOLDER}: ${errorMessage(error)}`, 1, { cause: error });
    }
    // os.ReadDir sorts by name.
    for (const name of names.sort(compareKeys)) {
      const linkPath = join(directory, name);
      let stats;
      try {
        stats = await lstat(linkPath);
      } catch {
        continue;
      }
      if (!stats.isSymbolicLink()) continue;
      let location: string;
      try {
        location = await readlink(linkPath);
      } catch (error) {
        throw new WalgError(`could not read symlink for tablespace ${errorMessage(error)}`, 1, { cause: error });
      }
      this.#tablespaces.push({ name, location: normalizePath(location) });
      try {
        await this.#walkTree(location);
      } catch (error) {
        throw new WalgError(`could not walk tablespace symlink tree error ${errorMessage(error)}`, 1, { cause: error });
      }
    }
  }

  /** makeTablespaceSymlinkPath: a path inside a tablespace location becomes `<PGDATA>/pg_tblspc/<oid>/<rest>`. */
  #symlinkPath(path: string): string {
    if (isInDirectory(path, this.#root)) return path;
    for (const tablespace of this.#tablespaces) {
      if (isInDirectory(path, tablespace.location)) {
        const rest = path.slice(normalizePath(tablespace.location).length).replace(/^\/+/, '');
        return normalizePath(join(this.#root, TABLESPACE_FOLDER, tablespace.name, rest));
      }
    }
    throw new WalgError(`could not make symlink path for location ${path}. tablespace at path ${path} wasn't found`);
  }

  /** GetFileRelPath: `/` + the path below PGDATA (a plain prefix test, as WAL-G's). */
  #memberName(path: string): string {
    if (!path.startsWith(this.#root)) return path;
    return `/${path.slice(this.#root.length).replace(/^\/+/, '').replace(/\/+$/, '')}`;
  }

  /** addToBundle: exclusions, then the delta decisions for regular files, or a header for anything else. */
  async #addToBundle(entry: WalkedEntry): Promise<VisitResult> {
    const excluded = EXCLUDED_NAMES.has(entry.baseName) || this.#options.extraExcludedNames?.has(entry.baseName) === true;
    const isDirectory = entry.stats.isDirectory();
    if (excluded && !isDirectory) return;
    if (!excluded && entry.stats.isFile()) {
      const base = this.#options.deltaBase;
      const recorded = base?.modificationTimes.get(entry.memberName);
      if (recorded !== undefined && mtimeEquals(entry.stats, recorded)) {
        log.debug(`Skipped due to unchanged modification time: ${entry.path}`);
        await this.#options.sink.skipFile(entry);
        return;
      }
      const incremented =
        base !== undefined && recorded !== undefined && isPagedFile(entry.path, Number(entry.stats.size), false, this.#options.pageSize);
      await this.#options.sink.addFile(entry, incremented);
      return;
    }
    await this.#options.sink.addHeader(entry);
    if (excluded && isDirectory) return SKIP_DIRECTORY;
  }
}
