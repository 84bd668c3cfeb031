// Reads the tar stream PostgreSQL sends for BASE_BACKUP member by member, in whatever pieces it arrives: USTAR
// headers parsed as Go's tar reader parses them (prefix joined to the name, octal or base-256 numbers), bodies passed
// on as they come, padding skipped, and the end at two zero blocks or at the end of the input (PostgreSQL before 15
// sends no end-of-archive blocks).

import { WalgError } from '../errors.ts';
import { TAR_BLOCK_SIZE, tarPaddingLength, type TarHeaderFields, type TarTypeflag } from './tar-header.ts';

export interface TarStreamHandlers {
  header(fields: TarHeaderFields): Promise<void>;
  /** A piece of the current member's body (never beyond its size). */
  data(chunk: Buffer): Promise<void>;
  /** The current member's body is complete. */
  endMember(fields: TarHeaderFields): Promise<void>;
}

function fieldString(block: Buffer, offset: number, size: number): string {
  const end = block.indexOf(0, offset);
  return block.toString('utf8', offset, end < 0 || end > offset + size ? offset + size : end);
}

/** Go's parseNumeric: base-256 when the high bit is set, else octal with spaces and NULs trimmed. */
export function parseTarNumber(block: Buffer, offset: number, size: number): number {
  if ((block[offset] & 0x80) !== 0) {
    let value = 0n;
    for (let index = 0; index < size; index++) value = (value << 8n) | BigInt(index === 0 ? block[offset] & 0x7f : block[offset + index]);
    return Number(value);
  }
  const text = block.toString('latin1', offset, offset + size).replace(/[\u0000 ]+$/, '').replace(/^[\u0000 ]+/, '');
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new WalgError(`tar stream: invalid number ${JSON.stringify(text)} in a header`);
  return parseInt(text, 8);
}

/** Whether the header block's checksum is right (unsigned sum with the checksum field read as spaces). */
function checksumMatches(block: Buffer): boolean {
  let sum = 0;
  for (let index = 0; index < TAR_BLOCK_SIZE; index++) sum += index >= 148 && index < 156 ? 0x20 : block[index];
  return parseTarNumber(block, 148, 8) === sum;
}

/** The fields of a USTAR header block. */
export function parseTarHeader(block: Buffer): TarHeaderFields {
  if (!checksumMatches(block)) throw new WalgError('tar stream: a header has a wrong checksum');
  let typeflag = String.fromCharCode(block[156]);
  let name = fieldString(block, 0, 100);
  const magic = block.toString('latin1', 257, 263);
  if (magic === 'ustar\u0000' || magic === 'ustar ') {
    const prefix = magic === 'ustar\u0000' ? fieldString(block, 345, 155) : '';
    if (prefix !== '') name = `${prefix}/${name}`;
  }
  if (typeflag === '\u0000' || typeflag === '7') typeflag = name.endsWith('/') ? '5' : '0';
  if (!['0', '2', '3', '4', '5', '6'].includes(typeflag)) {
    throw new WalgError(`tar stream: member ${JSON.stringify(name)} has type '${typeflag}', which a base backup stream does not use`);
  }
  return {
    name,
    mode: parseTarNumber(block, 100, 8),
    uid: parseTarNumber(block, 108, 8),
    gid: parseTarNumber(block, 116, 8),
    size: parseTarNumber(block, 124, 12),
    modTimeSeconds: parseTarNumber(block, 136, 12),
    typeflag: typeflag as TarTypeflag,
    linkname: fieldString(block, 157, 100),
    uname: fieldString(block, 265, 32),
    gname: fieldString(block, 297, 32),
    devmajor: parseTarNumber(block, 329, 8),
    devminor: parseTarNumber(block, 337, 8),
  };
}

/** Header-only types carry no body whatever their size field says. */
function bodyLength(fields: TarHeaderFields): number {
  return fields.typeflag === '0' ? fields.size : 0;
}

/** A push parser: feed it pieces with write(), then call finish(). */
export class TarStreamParser {
  readonly #handlers: TarStreamHandlers;
  readonly #header = Buffer.alloc(TAR_BLOCK_SIZE);
  #headerFill = 0;
  #member: TarHeaderFields | undefined;
  #bodyLeft = 0;
  #paddingLeft = 0;
  #ended = false;

  constructor(handlers: TarStreamHandlers) {
    this.#handlers = handlers;
  }

  async write(chunk: Buffer): Promise<void> {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#ended) return; // bytes after the end-of-archive blocks are zeros, ignored
      if (this.#bodyLeft > 0) {
        const take = Math.min(this.#bodyLeft, chunk.length - offset);
        await this.#handlers.data(chunk.subarray(offset, offset + take));
        this.#bodyLeft -= take;
        offset += take;
        if (this.#bodyLeft === 0) await this.#endMember();
        continue;
      }
      if (this.#paddingLeft > 0) {
        const take = Math.min(this.#paddingLeft, chunk.length - offset);
        this.#paddingLeft -= take;
        offset += take;
        continue;
      }
      const take = Math.min(TAR_BLOCK_SIZE - this.#headerFill, chunk.length - offset);
      chunk.copy(this.#header, this.#headerFill, offset, offset + take);
      this.#headerFill += take;
      offset += take;
      if (this.#headerFill < TAR_BLOCK_SIZE) continue;
      this.#headerFill = 0;
      if (this.#header.every((byte) => byte === 0)) {
        this.#ended = true;
        continue;
      }
      const fields = parseTarHeader(this.#header);
      await this.#handlers.header(fields);
      this.#member = fields;
      this.#bodyLeft = bodyLength(fields);
      if (this.#bodyLeft === 0) await this.#endMember();
    }
  }

  async #endMember(): Promise<void> {
    const member = this.#member!;
    this.#member = undefined;
    this.#paddingLeft = tarPaddingLength(bodyLength(member));
    await this.#handlers.endMember(member);
  }

  /** The input ended: only between members (or after the end blocks) is that complete. */
  finish(): void {
    if (this.#member !== undefined || this.#headerFill !== 0) {
      throw new WalgError('tar stream: the server ended the archive in the middle of a member');
    }
  }
}
