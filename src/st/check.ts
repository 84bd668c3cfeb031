// `st check read` and `st check write`: probes that the storage can be listed and read, and written.

import { Readable } from 'node:stream';
import { WalgError, errorMessage } from '../errors.ts';
import { log } from '../log/logger.ts';
import type { Folder } from '../storage/driver.ts';
import { listLevel } from './listing.ts';
import { nodeCrypto } from '../native/lazy-builtins.ts';

/** `st check read [names]`: the root can be listed and every named object exists. */
export async function checkRead(folder: Folder, names: readonly string[]): Promise<void> {
  try {
    await listLevel(folder);
  } catch (error) {
    throw new WalgError(`failed to list the storage: ${errorMessage(error)}`, 1, { cause: error });
  }
  const missing: string[] = [];
  for (const name of names) {
    let found = false;
    try {
      found = await folder.exists(name);
    } catch {
      found = false;
    }
    if (!found) missing.push(name);
  }
  if (missing.length > 0) throw new WalgError(`files are missing: ${missing.join(', ')}`);
  log.info('Read check OK');
}

/** 32 hex characters, like WAL-G's randomName(32). */
function randomObjectName(): string {
  return nodeCrypto().randomBytes(16).toString('hex');
}

/**
 * `st check write`: writes `test` to a new random name at the root and deletes it again. A failed clean-up is a
 * warning naming the object left behind.
 */
export async function checkWrite(folder: Folder): Promise<void> {
  let name: string;
  for (;;) {
    name = randomObjectName();
    let taken: boolean;
    try {
      taken = await folder.exists(name);
    } catch (error) {
      throw new WalgError(`failed to read from the storage: ${errorMessage(error)}`, 1, { cause: error });
    }
    if (!taken) break;
  }
  let writeError: unknown;
  try {
    await folder.put(name, Readable.from([Buffer.from('test')]), { sizeHint: 4 });
  } catch (error) {
    writeError = error;
  }
  try {
    await folder.deleteMany([name]);
  } catch {
    log.warn(`failed to clean temp files, ${name} left in storage`);
  }
  if (writeError !== undefined) {
    throw new WalgError(`failed to write to the storage: ${errorMessage(writeError)}`, 1, { cause: writeError });
  }
  log.info('Write check OK');
}
