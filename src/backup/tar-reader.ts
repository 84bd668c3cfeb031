// Reading tar partitions as a stream (tar-stream), member by member, and the rules that keep a hostile archive
// inside the restore directory: no `..`, link targets that stay inside, and nothing written through a symbolic link
// an earlier member created.

import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tarStream from 'tar-stream';
import { WalgError } from '../errors.ts';

export type TarMemberType = 'file' | 'directory' | 'symlink' | 'link' | 'other';

export interface TarMember {
  /** The name as stored (`/base/1/1259`, `backup_label`, `base/1/1259` in streamed backups). */
  readonly name: string;
  readonly type: TarMemberType;
  readonly size: number;
  /** Permission bits with setuid/setgid/sticky. */
  readonly mode: number;
  readonly linkName: string;
}

/** A member that would land outside the restore directory: never retried, always fatal. */
export class UnsafeArchiveError extends WalgError {
  constructor(message: string) {
    super(message);
    this.name = 'UnsafeArchiveError';
  }
}

function memberType(type: string | null | undefined): TarMemberType {
  switch (type) {
    case 'file':
      return 'file';
    case 'directory':
      return 'directory';
    case 'symlink':
      return 'symlink';
    case 'link':
      return 'link';
    default:
      return 'other';
  }
}

/**
 * Streams the members of one tar to `handle`, in order. `handle` must consume the body (or leave it: the rest is
 * skipped). Bytes after the end-of-archive blocks must be zero, as WAL-G requires.
 */
export async function readTarMembers(source: Readable, handle: (member: TarMember, body: AsyncIterable<Buffer>) => Promise<void>): Promise<void> {
  const extract = tarStream.extract();
  const feeding = pipeline(source, extract);
  try {
    for await (const entry of extract) {
      const header = entry.header;
      const member: TarMember = {
        name: header.name,
        type: memberType(header.type),
        size: header.size ?? 0,
        mode: (header.mode ?? 0) & 0o7777,
        linkName: header.linkname ?? '',
      };
      await handle(member, entry as AsyncIterable<Buffer>);
      // Whatever the handler left unread is skipped, so the archive can move on.
      entry.resume();
    }
    await feeding;
  } catch (error) {
    extract.destroy(error as Error);
    await feeding.catch(() => undefined);
    throw error;
  }
}

/**
 * The path of a member relative to the restore directory, as WAL-G joins it (`path.Join(target, name)`: a leading
 * `/` or `./` means "relative to PGDATA"). '' is the directory itself. A `..` component is refused.
 */
export function memberRelativePath(name: string): string {
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      throw new UnsafeArchiveError(`tar member '${name}' has a '..' path component; refusing to extract it outside the restore directory`);
    }
    if (part.includes('\0')) throw new UnsafeArchiveError(`tar member '${name}' has a NUL byte in its name`);
    parts.push(part);
  }
  return parts.join('/');
}

/**
 * Keeps extraction inside the restore directory: remembers the symbolic links members created and refuses any later
 * member whose path goes through one, and link targets that leave the directory. Tablespace links made before
 * extraction are not members and may be written through.
 */
export class ExtractionGuard {
  private readonly createdLinks = new Set<string>();
  /** Directories known to exist (saves a mkdir per file); not a safety rule. */
  private readonly directories = new Set<string>();

  rememberDirectory(path: string): void {
    this.directories.add(path);
  }

  knowsDirectory(path: string): boolean {
    return this.directories.has(path);
  }

  /** Throws when `relativePath` (from memberRelativePath) passes through a link a member created. */
  checkPath(relativePath: string, memberName: string, includeSelf: boolean): void {
    if (this.createdLinks.size === 0 || relativePath === '') return;
    const parts = relativePath.split('/');
    const limit = includeSelf ? parts.length : parts.length - 1;
    let prefix = '';
    for (let index = 0; index < limit; index++) {
      prefix = prefix === '' ? parts[index] : `${prefix}/${parts[index]}`;
      if (this.createdLinks.has(prefix)) {
        throw new UnsafeArchiveError(`tar member '${memberName}' goes through the symbolic link '${prefix}' an earlier member created; refusing to follow it`);
      }
    }
  }

  /**
   * Validates a symlink member: its target must be relative and, resolved from the link's own folder, stay inside
   * the restore directory.
   */
  checkSymlink(relativePath: string, linkName: string, memberName: string): void {
    this.checkPath(relativePath, memberName, true);
    if (linkName.startsWith('/')) {
      throw new UnsafeArchiveError(`tar member '${memberName}' is a symbolic link to the absolute path '${linkName}', outside the restore directory`);
    }
    const parts = relativePath.split('/');
    parts.pop();
    for (const part of linkName.split('/')) {
      if (part === '' || part === '.') continue;
      if (part === '..') {
        if (parts.length === 0) {
          throw new UnsafeArchiveError(`tar member '${memberName}' is a symbolic link to '${linkName}', which leaves the restore directory`);
        }
        parts.pop();
      } else {
        parts.push(part);
      }
    }
  }

  /** Validates a hard link member's source (a member name, relative to the restore directory). */
  hardLinkSource(linkName: string, memberName: string): string {
    let source: string;
    try {
      source = memberRelativePath(linkName);
    } catch {
      throw new UnsafeArchiveError(`tar member '${memberName}' is a hard link to '${linkName}', which leaves the restore directory`);
    }
    if (source === '') throw new UnsafeArchiveError(`tar member '${memberName}' is a hard link to the restore directory itself`);
    this.checkPath(source, memberName, true);
    return source;
  }

  rememberLink(relativePath: string): void {
    this.createdLinks.add(relativePath);
  }
}
