// Explicit aliveness checks of failover storages: a read check (list the storage root) and, for commands that
// write, a write check (upload WALG_FAILOVER_STORAGES_CHECK_SIZE random bytes as `wal-g_storage_check`, delete it).
//
// WAL-G v3.0.8 runs both checks but, through a quirk, decides on the read check's result alone and lets the write
// check finish (or not) in the background, sometimes leaving `wal-g_storage_check` behind. Here a storage passes
// the write check only when the upload and the delete both succeed within the timeout: a full or read-only
// storage is what failover storages exist for.

import { Readable } from 'node:stream';
import { errorMessage } from '../errors.ts';
import { log } from '../log/logger.ts';
import type { Folder } from '../storage/driver.ts';
import { goQuote } from '../storage/go-text.ts';
import { nodeCrypto } from '../native/lazy-builtins.ts';

export const CHECK_OBJECT_NAME = 'wal-g_storage_check';
const RANDOM_CHUNK_SIZE = 64 * 1024;

export interface AliveCheckOptions {
  /** One deadline for all storages checked together (WALG_FAILOVER_STORAGES_CHECK_TIMEOUT). */
  readonly timeoutMs: number;
  /** Run the write check with this many bytes; undefined for read-only checks. */
  readonly writeBytes?: number;
}

/** `size` random bytes, made chunk by chunk so a large check size does not sit in memory. */
export function randomBody(size: number): Readable {
  let remaining = size;
  return new Readable({
    read() {
      if (remaining <= 0) {
        this.push(null);
        return;
      }
      const chunk = Buffer.allocUnsafe(Math.min(RANDOM_CHUNK_SIZE, remaining));
      nodeCrypto().randomFillSync(chunk);
      remaining -= chunk.length;
      this.push(chunk);
    },
  });
}

/** The folder path as WAL-G's messages show it ('' for the root). */
function shownPath(folder: Folder): string {
  return folder.path;
}

async function readCheck(folder: Folder): Promise<void> {
  try {
    for await (const _entry of folder.list('')) {
      // WAL-G lists the whole root level; the entries themselves do not matter.
    }
  } catch (error) {
    throw new Error(`read check: list folder ${goQuote(shownPath(folder))}: ${errorMessage(error)}`, { cause: error });
  }
}

async function writeCheck(folder: Folder, writeBytes: number): Promise<void> {
  const objectPath = shownPath(folder) + CHECK_OBJECT_NAME;
  try {
    await folder.put(CHECK_OBJECT_NAME, randomBody(writeBytes));
  } catch (error) {
    throw new Error(`write check: put object ${goQuote(objectPath)}: ${errorMessage(error)}`, { cause: error });
  }
  try {
    await folder.deleteMany([CHECK_OBJECT_NAME]);
  } catch (error) {
    throw new Error(`write check: delete object ${goQuote(objectPath)}: ${errorMessage(error)}`, { cause: error });
  }
}

async function checkOne(folder: Folder, options: AliveCheckOptions): Promise<void> {
  await readCheck(folder);
  if (options.writeBytes !== undefined) await writeCheck(folder, options.writeBytes);
}

/**
 * Checks the named storages in parallel and tells which are alive. A failed check is logged as an ERROR line
 * (`storage '<name>': read check: …`) and the storage counts as dead, as in WAL-G; so does one that has not
 * answered when the deadline passes (`storage '<name>': alive check timeout`).
 */
export async function checkStoragesAlive(
  folders: ReadonlyMap<string, Folder>,
  names: readonly string[],
  options: AliveCheckOptions,
): Promise<Map<string, boolean>> {
  const results = new Map<string, boolean>();
  if (names.length === 0) {
    log.debug('Found 0 alive storages among requested: map[]');
    return results;
  }
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), options.timeoutMs);
  });
  try {
    const outcomes = await Promise.all(
      names.map(async (name): Promise<{ name: string; error?: string }> => {
        const folder = folders.get(name);
        if (folder === undefined) return { name, error: `unknown storage '${name}'` };
        const check = checkOne(folder, options).then(
          () => undefined,
          (error: unknown) => errorMessage(error),
        );
        const outcome = await Promise.race([check, deadline]);
        if (outcome === 'timeout') return { name, error: `storage '${name}': alive check timeout` };
        return outcome === undefined ? { name } : { name, error: `storage '${name}': ${outcome}` };
      }),
    );
    for (const outcome of outcomes) {
      results.set(outcome.name, outcome.error === undefined);
      if (outcome.error !== undefined) log.error(outcome.error);
    }
  } finally {
    clearTimeout(timer);
  }
  const alive = [...results.values()].filter(Boolean).length;
  const shown = [...results.keys()].sort().map((name) => `${name}:${results.get(name)}`);
  log.debug(`Found ${alive} alive storages among requested: map[${shown.join(' ')}]`);
  return results;
}
