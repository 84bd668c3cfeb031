// `st rm`: removing an object, or a whole folder by prefix, or whatever a glob matches.

import { WalgError, errorMessage } from '../errors.ts';
import type { Folder } from '../storage/driver.ts';
import { goQuote } from '../storage/go-text.ts';
import { globFolder, listByPrefix } from './listing.ts';
import { backendDriver } from './ls.ts';

/**
 * WAL-G's SetVersioningEnabled before `st rm`: on storages that keep versions, deletes remove every version only
 * with --all-versions; otherwise they leave a delete marker. Drivers without versions ignore it.
 */
export function setDeleteAllVersions(folder: Folder, allVersions: boolean): void {
  const driver = backendDriver(folder);
  if (typeof driver.setVersioningEnabled === 'function') driver.setVersioningEnabled(allVersions);
}

/**
 * `st rm prefix`: the object with exactly that path, or else everything under the folder of that name ('/' is
 * the whole storage). Nothing there is an error: `object or folder "<prefix>" does not exist`.
 */
export async function removeByPrefix(folder: Folder, prefix: string): Promise<void> {
  let keys: string[];
  try {
    keys = (await listByPrefix(folder, prefix)).map((object) => object.key);
  } catch (error) {
    throw new WalgError(`list files by prefix: ${errorMessage(error)}`, 1, { cause: error });
  }
  if (keys.length === 0) throw new WalgError(`object or folder ${goQuote(prefix)} does not exist`);
  try {
    await folder.deleteMany(keys);
  } catch (error) {
    throw new WalgError(`delete objects by the prefix: ${errorMessage(error)}`, 1, { cause: error });
  }
}

/** `st rm --glob pattern`: each matching object, then each matching folder with everything under it. */
export async function removeByGlob(folder: Folder, pattern: string): Promise<void> {
  const matches = await globFolder(folder, pattern);
  for (const objectPath of matches.objectPaths) await removeByPrefix(folder, objectPath);
  for (const folderPath of matches.folderPaths) await removeByPrefix(folder, folderPath);
}
