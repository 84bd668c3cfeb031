// WAL-G's database tar ball composer (--database-composer): the files of each database directory go into parts of
// their own, everything else into parts shared by the rest; headers are written as the walk finds them.

import { dirname } from 'node:path';
import type { WalkedEntry } from '../pgdata-walk.ts';
import { TarComposer } from '../tar-composer.ts';

/** A walked file waiting to be packed. */
interface PendingFile {
  readonly entry: WalkedEntry;
  readonly incremented: boolean;
}

/**
 * The group a file is packed with: its directory when the walked path contains `base` anywhere (WAL-G's
 * postgresPathFilter, a substring test on the whole path), '' for the rest.
 */
export function databaseGroupOf(path: string): string {
  return path.includes('base') ? dirname(path) : '';
}

/** Composes one backup's parts database by database. */
export class DatabaseTarComposer extends TarComposer {
  /** Group → its files, groups in the order the walk found them. */
  readonly #groups = new Map<string, PendingFile[]>();

  override async addFile(entry: WalkedEntry, incremented: boolean): Promise<void> {
    const group = databaseGroupOf(entry.path);
    let files = this.#groups.get(group);
    if (files === undefined) {
      files = [];
      this.#groups.set(group, files);
    }
    files.push({ entry, incremented });
  }

  /**
   * FinishComposing: the part holding the headers is closed first, then each group is packed into its own run of
   * parts (groups take parts as they come free, up to WALG_UPLOAD_DISK_CONCURRENCY at once).
   */
  override async finishComposing(): Promise<void> {
    await this.#packGroup([]);
    const groups = [...this.#groups.values()];
    this.#groups.clear();
    // run() records the first failure and stops the groups still waiting for a part.
    for (const files of groups) this.run(() => this.#packGroup(files));
    await super.finishComposing();
  }

  /** addListToTar: files into a part, a new part once one passes the threshold, and the last part closed. */
  async #packGroup(files: readonly PendingFile[]): Promise<void> {
    let partition = await this.deque();
    partition.setUp();
    for (const { entry, incremented } of files) {
      await this.recordTarMember(partition.name, entry.memberName);
      await this.packFile(partition, entry, incremented);
      if (partition.size > this.composerOptions.sizeThreshold) {
        await this.finishPartition(partition);
        partition = await this.deque();
        partition.setUp();
      }
    }
    await this.finishPartition(partition);
  }
}
