// Writes the members of one backup's tars into the restore directory, as WAL-G's tar interpreter does: whole files,
// `wi1` increments applied in place (forward unpack) or only into still-missing pages (reverse unpack), directories,
// links — always through the ExtractionGuard, never outside the directory.

import { giveBack } from '../stream/recycling-pool.ts';
import { constants } from 'node:fs';
import { chmod, link, mkdir, open, stat, symlink, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { errorMessage, WalgError } from '../errors.ts';
import { log } from '../log/logger.ts';
import { BodyReader } from './body-reader.ts';
import type { BackupFileDescription } from './files-metadata.ts';
import {
  INCREMENT_HEADER_SIZE,
  isMissingPageHeader,
  isOrioledbDataPath,
  isPagedFile,
  ORIOLEDB_INCREMENT_HEADER_SIZE,
  PAGE_HEADER_SIZE,
  parseBlockNumbers,
  parseIncrementHeader,
  type IncrementHeader,
} from './increment.ts';
import type { FileSelection } from './restore-plan.ts';
import { ExtractionGuard, memberRelativePath, UnsafeArchiveError, type TarMember } from './tar-reader.ts';

/** What one reverse-unpack step completed, for --skip-redundant-tars (WAL-G's UnwrapResult). */
export interface UnwrapResult {
  readonly completedFiles: string[];
  /** Files created from an increment → pages still missing. */
  readonly createdPageFiles: Map<string, number>;
  /** Existing files an increment wrote into → pages written. */
  readonly writtenIncrementFiles: Map<string, number>;
}

/** Files being fsynced at once; the libuv pool has 4 threads, a few more keep it busy. */
const MAX_PENDING_SYNCS = 8;

export function emptyUnwrapResult(): UnwrapResult {
  return { completedFiles: [], createdPageFiles: new Map(), writtenIncrementFiles: new Map() };
}

export interface ExtractorOptions {
  /** The restore directory, absolute. */
  readonly target: string;
  readonly guard: ExtractionGuard;
  /** Members to write; undefined = all. */
  readonly selection: FileSelection;
  /** Members never written, whatever the selection says (tablespace_map when tablespaces move). */
  readonly excluded: ReadonlySet<string>;
  readonly files: ReadonlyMap<string, BackupFileDescription>;
  readonly isIncremental: boolean;
  /** forward: oldest backup first, increments patch files in place; reverse: newest first, fill missing pages. */
  readonly mode: 'forward' | 'reverse';
  readonly fsync: boolean;
  readonly pageSize: number;
}

/** An error from writing a member (as opposed to reading the archive): WAL-G's "Interpret failed". */
export class InterpretError extends WalgError {
  constructor(message: string, cause: unknown) {
    super(message, cause instanceof WalgError ? cause.exitCode : 1, { cause });
    this.name = 'InterpretError';
  }
}

async function writeAll(handle: FileHandle, chunk: Buffer, position: number | null): Promise<void> {
  let offset = 0;
  while (offset < chunk.length) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset, position === null ? null : position + offset);
    offset += bytesWritten;
  }
}

async function syncQuietly(handle: FileHandle, path: string, fsync: boolean): Promise<void> {
  if (!fsync) return;
  try {
    await handle.sync();
  } catch (error) {
    log.error(`Problem with file sync: ${path}: ${errorMessage(error)}`);
  }
}

function errnoCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

export class BackupExtractor {
  readonly options: ExtractorOptions;
  readonly result: UnwrapResult = emptyUnwrapResult();

  constructor(options: ExtractorOptions) {
    this.options = options;
  }

  /** Handles one member; its body must be consumed or left to the caller to skip. */
  async member(member: TarMember, body: AsyncIterable<Buffer>): Promise<void> {
    log.debug(`Interpreting:  ${member.name}`);
    const relative = memberRelativePath(member.name);
    const targetPath = relative === '' ? this.options.target : join(this.options.target, relative);
    switch (member.type) {
      case 'file':
        return this.file(member, relative, targetPath, body);
      case 'directory':
        this.options.guard.checkPath(relative, member.name, true);
        try {
          await mkdir(targetPath, { recursive: true, mode: 0o750 });
          this.options.guard.rememberDirectory(targetPath);
        } catch (error) {
          throw new InterpretError(`Interpret: failed to create all directories in ${targetPath}: ${errorMessage(error)}`, error);
        }
        try {
          await chmod(targetPath, member.mode);
        } catch (error) {
          throw new InterpretError(`Interpret: chmod failed: ${errorMessage(error)}`, error);
        }
        return;
      case 'symlink':
        this.options.guard.checkSymlink(relative, member.linkName, member.name);
        try {
          await mkdir(dirname(targetPath), { recursive: true, mode: 0o750 });
          await symlink(member.linkName, targetPath);
        } catch (error) {
          throw new InterpretError(`Interpret: failed to create symlink ${targetPath}: ${errorMessage(error)}`, error);
        }
        this.options.guard.rememberLink(relative);
        return;
      case 'link': {
        this.options.guard.checkPath(relative, member.name, true);
        const source = join(this.options.target, this.options.guard.hardLinkSource(member.linkName, member.name));
        try {
          await link(source, targetPath);
        } catch (error) {
          throw new InterpretError(`Interpret: failed to create hardlink ${targetPath}: ${errorMessage(error)}`, error);
        }
        return;
      }
      default:
        return;
    }
  }

  /** MkdirAll of a file's folder, skipped when this restore already made or saw it. */
  private async makeParent(targetPath: string, mode: number): Promise<void> {
    const parent = dirname(targetPath);
    if (this.options.guard.knowsDirectory(parent)) return;
    await mkdir(parent, { recursive: true, mode });
    this.options.guard.rememberDirectory(parent);
  }

  private isWanted(name: string): boolean {
    if (this.options.excluded.has(name)) return false;
    if (this.options.selection !== undefined && !this.options.selection.has(name)) {
      log.debug(`Don't have to unwrap '${name}' this time`);
      return false;
    }
    return true;
  }

  private async file(member: TarMember, relative: string, targetPath: string, body: AsyncIterable<Buffer>): Promise<void> {
    if (!this.isWanted(member.name)) return;
    if (relative === '') throw new UnsafeArchiveError(`tar member '${member.name}' is a file in place of the restore directory itself`);
    this.options.guard.checkPath(relative, member.name, true);
    const description = this.options.files.get(member.name);
    if (this.options.mode === 'forward') return this.forwardFile(member, targetPath, body, description);
    return this.reverseFile(member, targetPath, body, description);
  }

  // ---------------------------------------------------------------------------------------------------------
  // Forward unpack (default): the full backup first, each delta then patches files in place.

  private async forwardFile(member: TarMember, targetPath: string, body: AsyncIterable<Buffer>, description: BackupFileDescription | undefined): Promise<void> {
    if (description?.isIncremented === true && this.options.isIncremental) {
      try {
        await this.applyIncrement(targetPath, new BodyReader(body));
      } catch (error) {
        throw new InterpretError(`Interpret: failed to apply increment for '${targetPath}': ${errorMessage(error)}`, error);
      }
      return;
    }
    try {
      await this.makeParent(targetPath, 0o750);
    } catch (error) {
      throw new InterpretError(`Interpret: failed to create all directories: ${errorMessage(error)}`, error);
    }
    await this.writeNewFile(targetPath, member.mode, body);
  }

  /**
   * A whole file: created or truncated, written, chmod to the header mode, fsynced (WAL-G's WriteLocalFile). The
   * fsync and close run in the background, a few at a time, so one slow disk flush does not stall the stream;
   * flush() waits for them before a tar counts as extracted.
   */
  private async writeNewFile(targetPath: string, mode: number, body: AsyncIterable<Buffer>): Promise<void> {
    let handle: FileHandle;
    try {
      handle = await open(targetPath, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o666);
    } catch (error) {
      throw new InterpretError(`failed to create new file: '${targetPath}': ${errorMessage(error)}`, error);
    }
    try {
      for await (const chunk of body) {
        await writeAll(handle, chunk, null);
        // The tar reader hands a member's data on in the decoder's own slices when they fall wholly inside it, and
        // this loop is their last reader: the decoder can fill them again (src/stream/recycling-pool.ts).
        giveBack(chunk);
      }
    } catch (error) {
      await handle.close().catch(() => undefined);
      await unlink(targetPath).catch(() => undefined);
      throw new InterpretError(`copy failed: ${errorMessage(error)}`, error);
    }
    try {
      await handle.chmod(mode);
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw new InterpretError(`chmod failed: ${errorMessage(error)}`, error);
    }
    if (!this.options.fsync) {
      await handle.close();
      return;
    }
    await this.syncInBackground(handle, targetPath);
  }

  private readonly pendingSyncs = new Set<Promise<void>>();
  private syncFailure: unknown;

  private async syncInBackground(handle: FileHandle, targetPath: string): Promise<void> {
    while (this.pendingSyncs.size >= MAX_PENDING_SYNCS) await Promise.race(this.pendingSyncs);
    const pending: Promise<void> = handle
      .sync()
      .catch((error: unknown) => {
        this.syncFailure ??= new InterpretError(`fsync failed: ${targetPath}: ${errorMessage(error)}`, error);
      })
      .finally(() => handle.close().catch(() => undefined))
      .finally(() => {
        this.pendingSyncs.delete(pending);
      });
    this.pendingSyncs.add(pending);
  }

  /** Waits until every file written so far is fsynced and closed; throws the first fsync failure. */
  async flush(): Promise<void> {
    while (this.pendingSyncs.size > 0) await Promise.all([...this.pendingSyncs]);
    if (this.syncFailure !== undefined) {
      const failure = this.syncFailure;
      this.syncFailure = undefined;
      throw failure;
    }
  }

  private async readIncrementHeader(targetPath: string, reader: BodyReader): Promise<{ header: IncrementHeader; blocks: Uint32Array }> {
    const orioledb = isOrioledbDataPath(targetPath);
    const header = parseIncrementHeader(await reader.readExactly(orioledb ? ORIOLEDB_INCREMENT_HEADER_SIZE : INCREMENT_HEADER_SIZE), this.options.pageSize, orioledb);
    const blocks = parseBlockNumbers(await reader.readExactly(header.blockCount * 4), header.blockCount);
    return { header, blocks };
  }

  /** WAL-G's ApplyFileIncrement: the file must exist; truncate to the recorded size, write each page at its block. */
  private async applyIncrement(targetPath: string, reader: BodyReader): Promise<void> {
    log.debug(`Incrementing ${targetPath}`);
    const { header, blocks } = await this.readIncrementHeader(targetPath, reader);
    let handle: FileHandle;
    try {
      handle = await open(targetPath, constants.O_RDWR);
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') throw new WalgError(`incremented file should always exist: ${errorMessage(error)}`);
      throw new WalgError(`can't open file to increment: ${errorMessage(error)}`);
    }
    try {
      await handle.truncate(header.fileSize);
      for (const block of blocks) {
        const page = await reader.readExactly(header.pageSize);
        await writeAll(handle, page, block * header.pageSize);
      }
      if (!(await reader.atEnd())) throw new WalgError('Expected end of Tar');
      await syncQuietly(handle, targetPath, this.options.fsync);
    } finally {
      await handle.close().catch(() => undefined);
    }
  }

  // ---------------------------------------------------------------------------------------------------------
  // Reverse unpack: the newest backup first; older ones only fill what is still missing.

  private async reverseFile(member: TarMember, targetPath: string, body: AsyncIterable<Buffer>, description: BackupFileDescription | undefined): Promise<void> {
    const isIncremented = description?.isIncremented === true;
    let existingSize: number | undefined;
    try {
      const info = await stat(targetPath);
      if (!info.isDirectory()) existingSize = info.size;
    } catch {
      existingSize = undefined;
    }
    if (existingSize === undefined) {
      try {
        await this.makeParent(targetPath, 0o755);
      } catch (error) {
        throw new InterpretError(`failed to create all directories: ${errorMessage(error)}`, error);
      }
      if (!isIncremented) {
        await this.writeNewFile(targetPath, member.mode, body);
        this.result.completedFiles.push(member.name);
        return;
      }
      const missing = await this.createFromIncrement(targetPath, member.mode, new BodyReader(body));
      this.result.createdPageFiles.set(member.name, missing);
      return;
    }
    const isPageFile = isPagedFile(targetPath, existingSize, false, this.options.pageSize);
    if (!isIncremented && !isPageFile) return; // a newer copy is already on disk
    let handle: FileHandle;
    try {
      handle = await open(targetPath, constants.O_RDWR);
    } catch (error) {
      throw new InterpretError(`failed to open '${targetPath}': ${errorMessage(error)}`, error);
    }
    try {
      const reader = new BodyReader(body);
      if (isIncremented) {
        const written = await this.writeMissingIncrementPages(handle, targetPath, existingSize, reader);
        this.result.writtenIncrementFiles.set(member.name, written);
      } else {
        await this.restoreMissingPages(handle, targetPath, existingSize, reader);
        this.result.completedFiles.push(member.name);
      }
      await syncQuietly(handle, targetPath, this.options.fsync);
    } finally {
      await handle.close().catch(() => undefined);
    }
  }

  /** WAL-G's CreateFileFromIncrement: the listed pages from the increment, zeros elsewhere; returns pages missing. */
  private async createFromIncrement(targetPath: string, mode: number, reader: BodyReader): Promise<number> {
    log.debug(`Creating from increment: ${targetPath}`);
    let handle: FileHandle;
    try {
      handle = await open(targetPath, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o666);
    } catch (error) {
      throw new InterpretError(`failed to create new file: '${targetPath}': ${errorMessage(error)}`, error);
    }
    try {
      const { header, blocks } = await this.readIncrementHeader(targetPath, reader);
      const present = new Set(blocks);
      const pageCount = Math.floor(header.fileSize / header.pageSize);
      const zeroPage = Buffer.alloc(header.pageSize);
      let missing = pageCount;
      for (let block = 0; block < pageCount; block++) {
        if (present.has(block)) {
          await writeAll(handle, await reader.readExactly(header.pageSize), block * header.pageSize);
          missing--;
        } else {
          await writeAll(handle, zeroPage, block * header.pageSize);
        }
      }
      if (!(await reader.atEnd())) log.debug(`Skipping extra increment blocks, target: ${targetPath}`);
      await handle.chmod(mode).catch(() => undefined);
      await syncQuietly(handle, targetPath, this.options.fsync);
      return missing;
    } catch (error) {
      throw new InterpretError(`Interpret: failed to create file from increment '${targetPath}': ${errorMessage(error)}`, error);
    } finally {
      await handle.close().catch(() => undefined);
    }
  }

  private async pageIsMissing(handle: FileHandle, block: number): Promise<boolean> {
    const header = Buffer.alloc(PAGE_HEADER_SIZE);
    const { bytesRead } = await handle.read(header, 0, PAGE_HEADER_SIZE, block * this.options.pageSize);
    if (bytesRead < PAGE_HEADER_SIZE) throw new WalgError('EOF');
    return isMissingPageHeader(header);
  }

  /** WAL-G's WritePagesFromIncrement without overwrite: only pages inside the file whose header is still zero. */
  private async writeMissingIncrementPages(handle: FileHandle, targetPath: string, size: number, reader: BodyReader): Promise<number> {
    log.debug(`Writing pages from increment: ${targetPath}`);
    try {
      const { header, blocks } = await this.readIncrementHeader(targetPath, reader);
      const pageCount = Math.floor(size / header.pageSize);
      let written = 0;
      for (const block of blocks) {
        if (block >= pageCount) {
          await reader.skip(header.pageSize);
          continue;
        }
        const page = await reader.readExactly(header.pageSize);
        if (await this.pageIsMissing(handle, block)) {
          await writeAll(handle, page, block * header.pageSize);
          written++;
        }
      }
      if (!(await reader.atEnd())) throw new WalgError('Expected end of Tar');
      return written;
    } catch (error) {
      throw new InterpretError(`Interpret: failed to write increment to file '${targetPath}': ${errorMessage(error)}`, error);
    }
  }

  /** WAL-G's RestoreMissingPages: an older whole copy of a page file fills the pages still zero. */
  private async restoreMissingPages(handle: FileHandle, targetPath: string, size: number, reader: BodyReader): Promise<void> {
    log.debug(`Restoring missing pages from base backup: ${targetPath}`);
    try {
      const pageCount = Math.floor(size / this.options.pageSize);
      for (let block = 0; block < pageCount; block++) {
        const page = await reader.readUpTo(this.options.pageSize);
        if (page.length < this.options.pageSize) {
          if (page.length === 0) break;
          throw new WalgError('unexpected EOF');
        }
        if (await this.pageIsMissing(handle, block)) await writeAll(handle, page, block * this.options.pageSize);
      }
      if (!(await reader.atEnd())) log.debug(`Skipping pages after end of the local target ${targetPath}, possibly the pagefile was truncated.`);
    } catch (error) {
      throw new InterpretError(`Interpret: failed to restore pages for file '${targetPath}': ${errorMessage(error)}`, error);
    }
  }
}
