// WAL-G's local `<group>_delta_part` file: the record fragments that cross segment boundaries inside one group of 16
// segments, kept until every piece is there. Entries are `[type u8][id u8][length u32 LE][data]`, type 0 = last
// record head of the previous group, 1 = tail of segment `id`, 2 = head of segment `id`. Pure encode/decode plus
// the combination step that turns head + tail pairs into records.

import { BlockLocationList } from './block-locations.ts';
import { WAL_FILES_IN_DELTA } from './delta-file.ts';
import { parseRecordBytes, type WalParserOptions } from './wal-record-parser.ts';

const PREVIOUS_WAL_HEAD = 0;
const WAL_TAIL = 1;
const WAL_HEAD = 2;
const GROUP_SIZE = Number(WAL_FILES_IN_DELTA);

export class PartFileFormatError extends Error {
  override name = 'PartFileFormatError';
}

/** Fragments of one group; `undefined` = not recorded yet (an empty Buffer is a recorded empty fragment). */
export class WalPartFile {
  readonly walTails: (Buffer | undefined)[] = new Array(GROUP_SIZE).fill(undefined);
  readonly walHeads: (Buffer | undefined)[] = new Array(GROUP_SIZE).fill(undefined);
  previousWalHead: Buffer | undefined = undefined;

  /** Every tail, every head and the previous group's last head are present. */
  isComplete(): boolean {
    return this.previousWalHead !== undefined && this.walTails.every((tail) => tail !== undefined) && this.walHeads.every((head) => head !== undefined);
  }

  /** WAL-G's order: tails by id, then the previous head, then heads by id. */
  encode(): Buffer {
    const parts: Buffer[] = [];
    const entry = (type: number, id: number, data: Buffer): void => {
      const header = Buffer.alloc(6);
      header.writeUInt8(type, 0);
      header.writeUInt8(id, 1);
      header.writeUInt32LE(data.length, 2);
      parts.push(header, data);
    };
    this.walTails.forEach((tail, id) => tail !== undefined && entry(WAL_TAIL, id, tail));
    if (this.previousWalHead !== undefined) entry(PREVIOUS_WAL_HEAD, 0, this.previousWalHead);
    this.walHeads.forEach((head, id) => head !== undefined && entry(WAL_HEAD, id, head));
    return Buffer.concat(parts);
  }

  static decode(data: Buffer): WalPartFile {
    const file = new WalPartFile();
    let at = 0;
    while (at < data.length) {
      if (at + 6 > data.length) throw new PartFileFormatError(`part file ends inside an entry header at byte ${at}`);
      const type = data.readUInt8(at);
      const id = data.readUInt8(at + 1);
      const length = data.readUInt32LE(at + 2);
      at += 6;
      if (at + length > data.length) throw new PartFileFormatError(`part file entry at byte ${at - 6} announces ${length} bytes, ${data.length - at} present`);
      const body = Buffer.from(data.subarray(at, at + length));
      at += length;
      if (type === PREVIOUS_WAL_HEAD) file.previousWalHead = body;
      else if ((type === WAL_TAIL || type === WAL_HEAD) && id < GROUP_SIZE) (type === WAL_TAIL ? file.walTails : file.walHeads)[id] = body;
      // WAL-G ignores unknown types; an id ≥ 16 would crash it, so it never writes one.
    }
    return file;
  }

  /**
   * The block references of the records that cross into each segment of the group: record i = head that ended
   * segment i-1 (the previous group's last head for i = 0) + tail that starts segment i. Throws WalParseError when a
   * combination is not a valid record.
   */
  combineRecords(options: WalParserOptions = {}): BlockLocationList {
    const locations = new BlockLocationList();
    for (let id = 0; id < GROUP_SIZE; id++) {
      const head = id === 0 ? this.previousWalHead : this.walHeads[id - 1];
      const tail = this.walTails[id];
      const length = (head?.length ?? 0) + (tail?.length ?? 0);
      if (length === 0) continue;
      parseRecordBytes(Buffer.concat([head ?? Buffer.alloc(0), tail ?? Buffer.alloc(0)]), locations, options);
    }
    return locations;
  }
}
