// WAL-G's copy tar ball composer (--copy-composer): a part of the previous full backup whose every member is still
// there with the same mtime is copied inside the storage as `copy_<n>.tar.<ext>`; everything else is packed anew.

import { parseGoTime } from '../../backup/go-time.ts';
import type { FilesMetadata } from '../../backup/files-metadata.ts';
import { tarPartitionFolder } from '../../backup/names.ts';
import { errorMessage, WalgError } from '../../errors.ts';
import { log } from '../../log/logger.ts';
import type { Folder } from '../../storage/driver.ts';
import { mtimeEquals, type WalkedEntry } from '../pgdata-walk.ts';
import { TarComposer, type ComposerOptions } from '../tar-composer.ts';

/** The backup whose parts may be copied: a full backup and its files_metadata.json. */
export interface CopySource {
  readonly name: string;
  readonly filesMetadata: FilesMetadata;
}

export interface CopyTarget {
  /** basebackups_005/ holding both backups (the copy stays inside one storage). */
  readonly baseBackups: Folder;
  readonly source: CopySource;
  readonly newBackupName: string;
}

type CopyStatus = 'possibleCopy' | 'doNotCopy' | 'fromNew' | 'processed';

interface PendingMember {
  status: CopyStatus;
  readonly entry: WalkedEntry;
  readonly incremented: boolean;
  readonly isHeader: boolean;
}

/** `copy_<n>.tar.<ext>` with the extension the copied object has (the text after its last dot). */
export function copiedPartName(copyNumber: number, sourceTarName: string): string {
  return `copy_${copyNumber}.tar.${sourceTarName.slice(sourceTarName.lastIndexOf('.') + 1)}`;
}

/** Composes one backup's parts, copying the previous backup's unchanged parts. */
export class CopyTarComposer extends TarComposer {
  readonly #target: CopyTarget;
  /** Member → the previous part holding it. */
  readonly #previousTarOf = new Map<string, string>();
  /** Previous part → how many of its members were not (yet) found unchanged. */
  readonly #unchangedLeft = new Map<string, number>();
  /** Walked members in walk order, keyed by member name. */
  readonly #members = new Map<string, PendingMember>();
  #copyCount = 0;

  constructor(options: ComposerOptions, target: CopyTarget) {
    super(options);
    this.#target = target;
    for (const [tarName, members] of target.source.filesMetadata.tarFileSets) {
      for (const member of members) this.#previousTarOf.set(member, tarName);
      this.#unchangedLeft.set(tarName, members.length);
    }
  }

  /** A member is copyable when the previous backup has it with the same mtime; its part's count goes down. */
  #classify(entry: WalkedEntry): CopyStatus {
    const tarName = this.#previousTarOf.get(entry.memberName);
    if (tarName === undefined) return 'fromNew';
    const recorded = this.#target.source.filesMetadata.files.get(entry.memberName);
    const time = recorded === undefined ? undefined : parseGoTime(recorded.modificationTime);
    if (time === undefined || !mtimeEquals(entry.stats, time)) return 'doNotCopy';
    this.#unchangedLeft.set(tarName, this.#unchangedLeft.get(tarName)! - 1);
    return 'possibleCopy';
  }

  override async addFile(entry: WalkedEntry, incremented: boolean): Promise<void> {
    this.#members.set(entry.memberName, { status: this.#classify(entry), entry, incremented, isHeader: false });
  }

  override async addHeader(entry: WalkedEntry): Promise<void> {
    this.#members.set(entry.memberName, { status: this.#classify(entry), entry, incremented: false, isHeader: true });
    await this.recordFile(entry, { isIncremented: false, isSkipped: false });
  }

  /** FinishComposing: copy the parts left whole, then pack the files and write the headers that were not copied. */
  override async finishComposing(): Promise<void> {
    await this.#copyUnchangedParts();
    for (const member of this.#members.values()) {
      if (member.isHeader || member.status === 'processed') continue;
      member.status = 'processed';
      await super.addFile(member.entry, member.incremented);
    }
    for (const member of this.#members.values()) {
      if (!member.isHeader || member.status === 'processed') continue;
      member.status = 'processed';
      await this.writeHeaderMember(member.entry);
    }
    this.#members.clear();
    await super.finishComposing();
  }

  /** copyUnchangedTars: a part with a member missing or changed is packed anew; the others are copied once each. */
  async #copyUnchangedParts(): Promise<void> {
    const memberLists = this.#target.source.filesMetadata.tarFileSets;
    for (const [tarName, left] of this.#unchangedLeft) {
      if (left === 0) continue;
      for (const member of memberLists.get(tarName) ?? []) {
        const pending = this.#members.get(member);
        if (pending !== undefined) pending.status = 'doNotCopy';
      }
    }
    for (const [memberName, member] of this.#members) {
      if (member.status === 'possibleCopy') await this.#copyPart(this.#previousTarOf.get(memberName)!);
    }
  }

  /** copyTar: a storage-side copy, and the part's members recorded under the new name. */
  async #copyPart(tarName: string): Promise<void> {
    log.info(`Copying ${tarName} ...`);
    const newTarName = copiedPartName(this.#copyCount++, tarName);
    const { baseBackups, source, newBackupName } = this.#target;
    const sourceKey = `${tarPartitionFolder(source.name)}${tarName}`;
    try {
      await baseBackups.copy(sourceKey, `${tarPartitionFolder(newBackupName)}${newTarName}`);
    } catch (error) {
      throw new WalgError(
        `copy composer: copying ${sourceKey} to ${newTarName} failed: ${errorMessage(error)} — was backup ${source.name} deleted during this backup? Push again, or without --copy-composer`,
        1,
        { cause: error },
      );
    }
    for (const memberName of source.filesMetadata.tarFileSets.get(tarName) ?? []) {
      const member = this.#members.get(memberName);
      if (member === undefined) continue;
      member.status = 'processed';
      await this.recordTarMember(newTarName, memberName);
      if (!member.isHeader) await this.recordFile(member.entry, { isIncremented: member.incremented, isSkipped: false });
    }
  }
}
