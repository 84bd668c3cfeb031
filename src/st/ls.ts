// `st ls`: a folder's listing as WAL-G's tabwriter table (type, size, last modified, name, extra), plain,
// recursive, per glob match, and with object versions on storages that keep them.

import { WalgError, errorMessage } from '../errors.ts';
import type { Folder, ObjectInfo, StorageDriver } from '../storage/driver.ts';
import { GO_ZERO_TIME_TEXT, goTimeString, type GoLocation } from './go-time.ts';
import { globFolder, listLevel, type FolderLevel } from './listing.ts';
import { alignTabs } from './tabwriter.ts';

/** A listed object, possibly one version of it (the extra column then holds `<version id> [LATEST] [DELETE]`). */
export interface VersionedObjectInfo extends ObjectInfo {
  readonly additionalInfo?: string;
}

/**
 * What a driver implements when its storage keeps object versions (S3 with versioning). Both are optional; a
 * driver without them lists plain objects and deletes as usual, which is WAL-G's behaviour on such storages.
 */
export interface VersionAwareDriver {
  /**
   * One level under `prefix` with every stored version of each object; `includeDeleted` also lists objects whose
   * latest version is a delete marker, and the markers. undefined when versioning is off for this storage.
   */
  listVersionsLevel?(
    prefix: string,
    options: { includeDeleted: boolean },
  ): Promise<{ objects: VersionedObjectInfo[]; folders: string[] } | undefined>;
  /** WAL-G's SetVersioningEnabled: whether deletes remove every version (only if the bucket has versioning). */
  setVersioningEnabled?(enabled: boolean): void;
}

export interface ListingOptions {
  readonly recursive: boolean;
  /** --all-versions: include deleted objects and delete markers (meaningful only on versioned storage). */
  readonly allVersions: boolean;
}

interface Row {
  readonly type: 'obj' | 'dir';
  readonly size: number;
  readonly modified: string;
  readonly name: string;
  readonly additionalInfo: string;
}

type LevelLister = (prefix: string) => Promise<{ objects: VersionedObjectInfo[]; folders: string[] }>;

/** The backend driver under the retry and rate-limit decorators (each keeps the one it wraps as `inner`). */
export function backendDriver(folder: Folder): StorageDriver & Partial<VersionAwareDriver> {
  let driver: StorageDriver = folder.driver;
  for (;;) {
    const inner = (driver as { inner?: unknown }).inner;
    if (inner === undefined || inner === null || typeof inner !== 'object') return driver;
    driver = inner as StorageDriver;
  }
}

function levelLister(folder: Folder, allVersions: boolean): LevelLister {
  const driver = backendDriver(folder);
  return async (prefix) => {
    if (typeof driver.listVersionsLevel === 'function') {
      const versions = await driver.listVersionsLevel(folder.driverKey(prefix), { includeDeleted: allVersions });
      if (versions !== undefined) {
        const cut = folder.path.length;
        return {
          objects: versions.objects.map((object) => ({ ...object, key: object.key.slice(cut) })),
          folders: versions.folders.map((key) => key.slice(cut)),
        };
      }
    }
    const level: FolderLevel = await listLevel(folder, prefix);
    return level;
  };
}

/**
 * The modification time column: Go's time.String() of what the storage reported. File (and SFTP) storage gives the
 * file's time in the local zone, in full nanoseconds where known, as os.Stat does; cloud storages report UTC.
 */
function modifiedText(folder: Folder, object: ObjectInfo): string {
  const location: GoLocation = folder.driver.kind === 'file' || folder.driver.kind === 'ssh' ? 'Local' : 'UTC';
  return goTimeString(object.modifiedNanoseconds ?? object.modified, location);
}

/**
 * Names as WAL-G prints them. Its file storage takes sub-folder paths relative to a listed folder that has no
 * trailing slash, so below the storage root (or with WALG_STORAGE_PREFIX) folder names and nested object names
 * start with '/'. We print the same, so scripts written against WAL-G keep working.
 */
function nameShownFor(folder: Folder, relativeKey: string, nested: boolean): string {
  if (folder.driver.kind === 'file' && folder.path !== '' && nested) return `/${relativeKey}`;
  return relativeKey;
}

async function collectRows(folder: Folder, options: ListingOptions): Promise<Row[]> {
  const listLevelOf = levelLister(folder, options.allVersions);
  const rows: Row[] = [];
  const objectRow = (object: VersionedObjectInfo): Row => ({
    type: 'obj',
    size: object.size,
    modified: modifiedText(folder, object),
    name: nameShownFor(folder, object.key, object.key.includes('/')),
    additionalInfo: object.additionalInfo ?? '',
  });
  if (!options.recursive) {
    const level = await listLevelOf('');
    for (const sub of level.folders) {
      rows.push({ type: 'dir', size: 0, modified: GO_ZERO_TIME_TEXT, name: nameShownFor(folder, sub, true), additionalInfo: '' });
    }
    for (const object of level.objects) rows.push(objectRow(object));
    return rows;
  }
  // Breadth first, as WAL-G's ListFolderRecursively.
  const queue = [''];
  for (let next = 0; next < queue.length; next++) {
    const level = await listLevelOf(queue[next]);
    for (const object of level.objects) rows.push(objectRow(object));
    queue.push(...level.folders);
  }
  return rows;
}

/** The table WAL-G's WriteObjectsList prints: a header, then one tab-aligned row per folder and object. */
export function formatListing(rows: readonly Row[]): string {
  let text = 'type\tsize\tlast modified\tname\n';
  for (const row of rows) text += `${row.type}\t${row.size}\t${row.modified}\t${row.name}\t${row.additionalInfo}\n`;
  return alignTabs(text);
}

/** `st ls [path]`: the listing of one folder. Failures read `list folder: <reason>`. */
export async function listFolderTable(folder: Folder, options: ListingOptions): Promise<string> {
  let rows: Row[];
  try {
    rows = await collectRows(folder, options);
  } catch (error) {
    throw new WalgError(`list folder: ${errorMessage(error)}`, 1, { cause: error });
  }
  return formatListing(rows);
}

/** How WAL-G's Folder.GetPath() reads for a sub-folder it opened by path (file storage drops the trailing '/'). */
function folderPathShown(folder: Folder): string {
  if (folder.driver.kind === 'file') return folder.path.replace(/\/$/, '');
  return folder.path;
}

/**
 * `st ls --glob pattern`: every folder matching the pattern, as `<path>:`, its listing and a blank line. Objects
 * matching the pattern are not listed, as in WAL-G.
 */
export async function listGlobTables(root: Folder, pattern: string, options: ListingOptions, write: (text: string) => void): Promise<void> {
  const matches = await globFolder(root, pattern);
  for (const path of matches.folderPaths) {
    const folder = root.subFolder(path);
    write(`${folderPathShown(folder)}:\n`);
    write(await listFolderTable(folder, options));
    write('\n');
  }
}
