// Changed-block references (tablespace, database, relation, block number) collected from WAL records, kept in a
// flat growable Uint32Array so a 16 MiB segment's worth costs no per-reference objects, and their 16-byte
// little-endian wire form used by `_delta` sidecars.

export interface BlockLocation {
  readonly spcNode: number;
  readonly dbNode: number;
  readonly relNode: number;
  readonly blockNo: number;
}

/** Bytes of one location on the wire: four little-endian u32. */
export const LOCATION_BYTES = 16;

export class BlockLocationList {
  private values: Uint32Array;
  private used = 0;

  constructor(initialCapacity = 256) {
    this.values = new Uint32Array(initialCapacity * 4);
  }

  get length(): number {
    return this.used >> 2;
  }

  push(spcNode: number, dbNode: number, relNode: number, blockNo: number): void {
    if (this.used + 4 > this.values.length) {
      const grown = new Uint32Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    const values = this.values;
    const at = this.used;
    values[at] = spcNode;
    values[at + 1] = dbNode;
    values[at + 2] = relNode;
    values[at + 3] = blockNo;
    this.used = at + 4;
  }

  append(other: BlockLocationList): void {
    const count = other.used;
    while (this.used + count > this.values.length) {
      const grown = new Uint32Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values.set(other.values.subarray(0, count), this.used);
    this.used += count;
  }

  at(index: number): BlockLocation {
    const base = index * 4;
    return { spcNode: this.values[base], dbNode: this.values[base + 1], relNode: this.values[base + 2], blockNo: this.values[base + 3] };
  }

  toArray(): BlockLocation[] {
    const result: BlockLocation[] = [];
    for (let index = 0; index < this.length; index++) result.push(this.at(index));
    return result;
  }

  /** The wire form: 16 bytes per location, little-endian, no terminator. */
  toBuffer(): Buffer {
    const out = Buffer.allocUnsafe(this.used * 4);
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    for (let index = 0; index < this.used; index++) view.setUint32(index * 4, this.values[index], true);
    return out;
  }
}
