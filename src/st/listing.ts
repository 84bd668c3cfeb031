// Folder listings the way WAL-G's storage helpers walk them: one level (ListFolder), breadth-first recursion
// (ListFolderRecursively), "this object or everything under this folder" (ListFolderRecursivelyWithPrefix) and
// per-segment globs (storage.Glob). Keys are relative to the folder passed in.

import { WalgError, errorMessage } from '../errors.ts';
import { compareKeys, folderPath, trimSlashes, type Folder, type ObjectInfo } from '../storage/driver.ts';
import { goQuote } from '../storage/go-text.ts';
import { goPathBase, goPathMatch } from './go-path.ts';

export interface FolderLevel {
  /** Objects directly in the folder. */
  readonly objects: ObjectInfo[];
  /** Sub-folder paths relative to the listed folder, each ending with '/'. */
  readonly folders: string[];
}

/** One level of `prefix` (a folder path relative to `folder`, '' = the folder itself): WAL-G's ListFolder. */
export async function listLevel(folder: Folder, prefix = ''): Promise<FolderLevel> {
  const objects: ObjectInfo[] = [];
  const folders: string[] = [];
  for await (const entry of folder.list(prefix)) {
    if (entry.kind === 'object') objects.push(entry);
    else folders.push(entry.key);
  }
  // WAL-G's file storage lists folders in os.ReadDir order, by bare name ('a' before 'a.b'); the driver orders
  // them as keys with their '/', as S3 does.
  if (folder.driver.kind === 'file') folders.sort((a, b) => compareKeys(a.slice(0, -1), b.slice(0, -1)));
  return { objects, folders };
}

/**
 * Every object under `folder`, breadth first as WAL-G's ListFolderRecursively visits them: the folder's own
 * objects, then each sub-folder's objects level by level. Each level is one non-recursive listing, as in WAL-G.
 */
export async function listRecursively(folder: Folder, prefix = ''): Promise<ObjectInfo[]> {
  const result: ObjectInfo[] = [];
  const queue: string[] = [folderPath(prefix)];
  for (let next = 0; next < queue.length; next++) {
    const level = await listLevel(folder, queue[next]);
    result.push(...level.objects);
    queue.push(...level.folders);
  }
  return result;
}

/**
 * WAL-G's ListFolderRecursivelyWithPrefix: a prefix not ending in '/' that names an object yields just that object;
 * otherwise the prefix is a folder and everything below it is listed ('' or '/' = the whole folder).
 */
export async function listByPrefix(folder: Folder, prefix: string): Promise<ObjectInfo[]> {
  const trimmed = trimSlashes(prefix);
  if (prefix !== '' && !prefix.endsWith('/') && trimmed !== '') {
    let exact: ObjectInfo | undefined;
    try {
      exact = await folder.stat(trimmed);
    } catch (error) {
      const slash = trimmed.lastIndexOf('/');
      throw new WalgError(`can't list folder ${goQuote(trimmed.slice(0, slash + 1))}: ${errorMessage(error)}`, 1, { cause: error });
    }
    if (exact !== undefined) return [exact];
  }
  try {
    return await listRecursively(folder, trimmed);
  } catch (error) {
    throw new WalgError(`can't list folder ${goQuote(trimmed)}: ${errorMessage(error)}`, 1, { cause: error });
  }
}

export interface GlobMatches {
  /** Matching objects, relative to the folder. */
  readonly objectPaths: string[];
  /** Matching folders, relative to the folder, each ending with '/' ('/' alone for the pattern '/'). */
  readonly folderPaths: string[];
}

/**
 * WAL-G's storage.Glob: the pattern is matched one path segment at a time (Go's path.Match per segment) by walking
 * the folder tree; the last segment may match both objects and folders. The pattern '/' means the whole storage.
 */
export async function globFolder(folder: Folder, pattern: string): Promise<GlobMatches> {
  const objectPaths: string[] = [];
  const folderPaths: string[] = [];
  if (pattern === '/') return { objectPaths, folderPaths: ['/'] };
  const queue: { prefix: string; pattern: string }[] = [{ prefix: '', pattern: pattern.replace(/^\/+/, '') }];
  for (let next = 0; next < queue.length; next++) {
    const current = queue[next];
    const parts = current.pattern.split('/');
    const part = parts[0];
    const isLast = parts.length === 1 || (parts.length === 2 && parts[1] === '');
    const level = await listLevel(folder, current.prefix);
    for (const sub of level.folders) {
      if (!goPathMatch(part, goPathBase(sub))) continue;
      if (isLast) folderPaths.push(sub);
      else queue.push({ prefix: sub, pattern: current.pattern.startsWith(`${part}/`) ? current.pattern.slice(part.length + 1) : current.pattern });
    }
    if (!isLast) continue;
    for (const object of level.objects) {
      if (goPathMatch(part, goPathBase(object.key))) objectPaths.push(object.key);
    }
  }
  return { objectPaths, folderPaths };
}
