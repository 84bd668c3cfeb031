// Reading across the chosen storages the way WAL-G's multi-storage folder does: an object is taken from the first
// storage that has it, and listings either unite every storage (each entry tagged with its storage) or merge them
// (an object seen in an earlier storage hides the same key in later ones).

import { errorMessage, WalgError } from '../errors.ts';
import type { ListEntry, ListOptions, ObjectInfo } from '../storage/driver.ts';
import { goQuote } from '../storage/go-text.ts';
import type { NamedFolder } from './multi-storage.ts';

/** A listing entry and the storage it came from. */
export interface StorageEntry {
  readonly storageName: string;
  readonly entry: ListEntry;
}

/** An object found in one of the storages. */
export interface FoundObject {
  readonly storage: NamedFolder;
  readonly info: ObjectInfo;
}

/**
 * The first storage, in priority order, that holds `key` (relative to each storage's folder), with the object's
 * size and time; undefined when none does. A storage that cannot answer fails the lookup (WAL-G's
 * `check file for existence in "<storage>": …`) rather than letting a later storage's copy win silently.
 */
export async function findObject(storages: readonly NamedFolder[], key: string): Promise<FoundObject | undefined> {
  for (const storage of storages) {
    let info: ObjectInfo | undefined;
    try {
      info = await storage.folder.stat(key);
    } catch (error) {
      throw new WalgError(`check file for existence in ${goQuote(storage.name)}: ${errorMessage(error)}`, 1, { cause: error });
    }
    if (info !== undefined) return { storage, info };
  }
  return undefined;
}

async function* listOne(storage: NamedFolder, prefix: string, options: ListOptions): AsyncGenerator<ListEntry> {
  try {
    yield* storage.folder.list(prefix, options);
  } catch (error) {
    throw new WalgError(`list folder in storage ${goQuote(storage.name)}: ${errorMessage(error)}`, 1, { cause: error });
  }
}

/**
 * Every storage's entries under `prefix`, storage after storage (WAL-G's "unite" listing, used by backup-list,
 * backup-fetch and delete): the same object in two storages appears twice, once per storage; a sub-folder
 * appears once, tagged with the first storage that has it.
 */
export async function* listUnited(
  storages: readonly NamedFolder[],
  prefix = '',
  options: ListOptions = {},
): AsyncGenerator<StorageEntry> {
  const seenFolders = new Set<string>();
  for (const storage of storages) {
    for await (const entry of listOne(storage, prefix, options)) {
      if (entry.kind === 'folder') {
        if (seenFolders.has(entry.key)) continue;
        seenFolders.add(entry.key);
      }
      yield { storageName: storage.name, entry };
    }
  }
}

/**
 * Like listUnited, but a key already listed from an earlier storage is skipped in later ones (WAL-G's "merge"
 * listing, as if all storages were one).
 */
export async function* listMerged(
  storages: readonly NamedFolder[],
  prefix = '',
  options: ListOptions = {},
): AsyncGenerator<StorageEntry> {
  const seen = new Set<string>();
  for (const storage of storages) {
    for await (const entry of listOne(storage, prefix, options)) {
      if (seen.has(entry.key)) continue;
      seen.add(entry.key);
      yield { storageName: storage.name, entry };
    }
  }
}
