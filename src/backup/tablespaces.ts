// Where a restore puts tablespaces, and the `pg_tblspc/<oid>` symbolic links inside the restore directory.
//
// With --restore-spec, each tablespace goes to the spec's `loc` (as WAL-G does). Without one, WAL-G recreates the
// links under the *original* data directory, so a restore elsewhere leaves pg_tblspc/<oid> a plain directory and
// PostgreSQL refuses to start. Here the link is always inside the restore directory: it points at the recorded
// location when that is usable (creatable or an empty writable directory), otherwise at a sibling folder
// `<restore directory>_tablespaces/<oid>`, with a warning.

import { constants } from 'node:fs';
import { access, mkdir, readdir, readlink, stat, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage, WalgError } from '../errors.ts';
import { log } from '../log/logger.ts';
import type { TablespaceSpec } from './tablespace-spec.ts';

export interface TablespacePlacement {
  /** The symlink name in pg_tblspc (the tablespace OID). */
  readonly name: string;
  /** Where the tablespace's files go. */
  readonly location: string;
  /** True when the files do not go where the backup recorded them (tablespace_map must then not be restored). */
  readonly relocated: boolean;
}

/** The folder a tablespace goes to when its recorded location cannot be used. */
export function siblingTablespaceLocation(target: string, name: string): string {
  return `${target}_tablespaces/${name}`;
}

/** Why a recorded location cannot take the restored files, or undefined when it can (creating it if needed). */
async function unusableReason(location: string): Promise<string | undefined> {
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(location)).isDirectory();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return errorMessage(error);
    try {
      await mkdir(location, { recursive: true, mode: 0o700 });
      return undefined;
    } catch (mkdirError) {
      return `it cannot be created (${errorMessage(mkdirError)})`;
    }
  }
  if (!isDirectory) return 'it is not a directory';
  try {
    await access(location, constants.W_OK);
  } catch {
    return 'it is not writable';
  }
  if ((await readdir(location)).length > 0) return 'it is not empty';
  return undefined;
}

/** Decides every tablespace's location once per restore (from the restore spec, or the target backup's spec). */
export async function planTablespaces(spec: TablespaceSpec | undefined, fromRestoreSpec: boolean, target: string): Promise<TablespacePlacement[]> {
  if (spec === undefined) return [];
  const placements: TablespacePlacement[] = [];
  for (const name of spec.names) {
    const recorded = spec.locations.get(name);
    if (recorded === undefined) continue;
    if (fromRestoreSpec) {
      placements.push({ name, location: recorded.location, relocated: true });
      continue;
    }
    const reason = await unusableReason(recorded.location);
    if (reason === undefined) {
      placements.push({ name, location: recorded.location, relocated: false });
      continue;
    }
    const sibling = siblingTablespaceLocation(target, name);
    log.warn(`Tablespace ${name}: the recorded location ${recorded.location} cannot be used (${reason}); restoring it into ${sibling}`);
    try {
      await mkdir(sibling, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw new WalgError(`error creating ${sibling} folder ${errorMessage(error)}`);
    }
    if ((await readdir(sibling)).length > 0) {
      throw new WalgError(`tablespace ${name}: ${sibling} is not empty; empty it or restore with --restore-spec`);
    }
    placements.push({ name, location: sibling, relocated: true });
  }
  return placements;
}

/**
 * Makes `<target>/pg_tblspc`, each location, and the links (WAL-G's setTablespacePaths); called before each backup
 * of a chain is extracted, so later calls find the links and warn like WAL-G.
 */
export async function ensureTablespaceLinks(target: string, placements: readonly TablespacePlacement[]): Promise<void> {
  if (placements.length === 0) return;
  try {
    await mkdir(join(target, 'pg_tblspc'), { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new WalgError(`error creating pg_tblspc folder ${errorMessage(error)}`);
  }
  for (const placement of placements) {
    try {
      await mkdir(placement.location, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw new WalgError(`error creating ${placement.location} folder ${errorMessage(error)}`);
    }
    const linkPath = join(target, 'pg_tblspc', placement.name);
    let existing: string | undefined;
    try {
      existing = await readlink(linkPath);
    } catch {
      existing = undefined;
    }
    if (existing === undefined) {
      try {
        await symlink(placement.location, linkPath);
      } catch (error) {
        throw new WalgError(`error creating correct tablespace symlink ${errorMessage(error)}`);
      }
    } else if (existing !== placement.location) {
      throw new WalgError(`error creating correct tablespace symlink symlink ${linkPath} having incorrect target`);
    } else {
      log.warn(`Symlink ${linkPath} already exists`);
    }
  }
}
