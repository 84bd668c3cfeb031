// Reading tar partitions as a stream, member by member, as Go's archive/tar reads what WAL-G wrote (USTAR, PAX and
// GNU long names, octal or base-256 numbers, zeros only after the end-of-archive blocks), and the rules that keep a
// hostile archive inside the restore directory: no `..`, link targets that stay inside, and nothing written through
// a symbolic link an earlier member created.
//
// Member bodies are handed on as views of the decoded chunks, never copied; a chunk shared by two members is cut
// with a ChunkSplitter, so the restore writer can give every part back and the decoder refills the chunk
// (src/stream/recycling-pool.ts).

import type { Readable } from 'node:stream';
import { WalgError } from '../errors.ts';
import { parseTarNumber } from '../backup-push/tar-stream-parser.ts';
import { ChunkSplitter, giveBack } from '../stream/recycling-pool.ts';

export type TarMemberType = 'file' | 'directory' | 'symlink' | 'link' | 'other';

export interface TarMember {
  /** The name as stored (`/base/1/1259`, `backup_label`, `base/1/1259` in streamed backups). */
  readonly name: string;
  readonly type: TarMemberType;
  readonly size: number;
  /** Permission bits with setuid/setgid/sticky. */
  readonly mode: number;
  readonly linkName: string;
}

/** A member that would land outside the restore directory: never retried, always fatal. */
export class UnsafeArchiveError extends WalgError {
  constructor(message: string) {
    super(message);
    this.name = 'UnsafeArchiveError';
  }
}

const BLOCK = 512;
/** PAX records and GNU long names are read whole; anything larger is not a header WAL-G writes. */
const MAX_EXTENDED_HEADER = 1 << 20;
const EMPTY = Buffer.alloc(0);

function headerField(block: Buffer, offset: number, size: number): string {
  const end = block.indexOf(0, offset);
  return block.toString('utf8', offset, end < 0 || end > offset + size ? offset + size : end);
}

/** Go's checksum rule: the unsigned or the signed sum of the block with the checksum field read as spaces. */
function checksumMatches(block: Buffer): boolean {
  let unsigned = 0;
  let signed = 0;
  for (let index = 0; index < BLOCK; index++) {
    const byte = index >= 148 && index < 156 ? 0x20 : block[index];
    unsigned += byte;
    signed += byte < 0x80 ? byte : byte - 0x100;
  }
  let stored: number;
  try {
    stored = parseTarNumber(block, 148, 8);
  } catch {
    return false;
  }
  return stored === unsigned || stored === signed;
}

function isZeroBlock(block: Buffer): boolean {
  for (let index = 0; index < BLOCK; index++) if (block[index] !== 0) return false;
  return true;
}

/** Types Go treats as header-only: their size field says nothing about a body. */
const HEADER_ONLY_TYPES = new Set(['1', '2', '3', '4', '5', '6']);

interface RawHeader {
  readonly typeflag: string;
  readonly name: string;
  readonly linkName: string;
  readonly size: number;
  readonly mode: number;
}

function parseHeader(block: Buffer, position: number): RawHeader {
  const invalid = (why: string) => new WalgError(`archive/tar: invalid tar header at byte ${position} (${why}); the tar part is damaged or not a tar`);
  if (!checksumMatches(block)) throw invalid('wrong checksum');
  let name = headerField(block, 0, 100);
  const magic = block.toString('latin1', 257, 263);
  if (magic === 'ustar\u0000') {
    const prefix = headerField(block, 345, 155);
    if (prefix !== '') name = `${prefix}/${name}`;
  }
  try {
    return {
      typeflag: String.fromCharCode(block[156]),
      name,
      linkName: headerField(block, 157, 100),
      size: parseTarNumber(block, 124, 12),
      mode: parseTarNumber(block, 100, 8),
    };
  } catch (error) {
    throw invalid((error as Error).message);
  }
}

/** PAX records (`LEN key=value\n`) into a map. */
function parsePaxRecords(data: Buffer): Map<string, string> {
  const records = new Map<string, string>();
  let offset = 0;
  while (offset < data.length) {
    const space = data.indexOf(0x20, offset);
    const length = space < 0 ? NaN : Number(data.toString('latin1', offset, space));
    if (!Number.isInteger(length) || length <= 0 || offset + length > data.length || data[offset + length - 1] !== 0x0a) {
      throw new WalgError('archive/tar: invalid PAX record; the tar part is damaged');
    }
    const record = data.toString('utf8', space + 1, offset + length - 1);
    const equals = record.indexOf('=');
    if (equals <= 0) throw new WalgError('archive/tar: invalid PAX record; the tar part is damaged');
    records.set(record.slice(0, equals), record.slice(equals + 1));
    offset += length;
  }
  return records;
}

function memberType(typeflag: string, name: string): TarMemberType {
  switch (typeflag) {
    case '0':
    case '7':
      return 'file';
    case '\u0000':
      return name.endsWith('/') ? 'directory' : 'file';
    case '1':
      return 'link';
    case '2':
      return 'symlink';
    case '5':
      return 'directory';
    default:
      return 'other';
  }
}

/** A pull reader over the chunks of one tar: headers, then each member's body as views of those chunks. */
class TarReader {
  readonly #chunks: AsyncIterator<Buffer>;
  readonly #splitter = new ChunkSplitter();
  readonly #block = Buffer.alloc(BLOCK);
  #chunk: Buffer = EMPTY;
  #offset = 0;
  #inputEnded = false;
  /** Whether the current chunk went to a body whole or in parts: then its holders give it back, else the reader. */
  #chunkHandedOn = false;
  /** Bytes of the tar consumed before the current chunk. */
  #consumed = 0;
  #bodyLeft = 0;
  #paddingLeft = 0;

  constructor(chunks: AsyncIterator<Buffer>) {
    this.#chunks = chunks;
  }

  get #position(): number {
    return this.#consumed + this.#offset;
  }

  /** Makes the current chunk hold an unread byte; false at the end of the input. */
  async #fill(): Promise<boolean> {
    while (this.#offset >= this.#chunk.length) {
      if (this.#inputEnded) return false;
      this.#releaseChunk();
      this.#consumed += this.#chunk.length;
      this.#chunk = EMPTY;
      this.#offset = 0;
      const next = await this.#chunks.next();
      if (next.done === true) {
        this.#inputEnded = true;
        return false;
      }
      const value = next.value as Uint8Array;
      this.#chunk = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    }
    return true;
  }

  /** Done with the current chunk: headers, padding and skipped bodies only are the reader's to give back. */
  #releaseChunk(): void {
    if (this.#chunkHandedOn) this.#splitter.release();
    else giveBack(this.#chunk);
    this.#chunkHandedOn = false;
  }

  /** The next 512-byte block, or undefined at a clean end of input (between blocks). */
  async #readBlock(): Promise<Buffer | undefined> {
    if (!(await this.#fill())) return undefined;
    if (this.#chunk.length - this.#offset >= BLOCK) {
      const block = this.#chunk.subarray(this.#offset, this.#offset + BLOCK);
      this.#offset += BLOCK;
      return block;
    }
    let filled = 0;
    while (filled < BLOCK) {
      if (!(await this.#fill())) throw new WalgError(`archive/tar: unexpected EOF in a header at byte ${this.#position}; the tar part is truncated`);
      const take = Math.min(BLOCK - filled, this.#chunk.length - this.#offset);
      this.#chunk.copy(this.#block, filled, this.#offset, this.#offset + take);
      filled += take;
      this.#offset += take;
    }
    return this.#block;
  }

  async #skip(length: number, what: string): Promise<void> {
    let left = length;
    while (left > 0) {
      if (!(await this.#fill())) throw new WalgError(`archive/tar: unexpected EOF in ${what} at byte ${this.#position}; the tar part is truncated`);
      const take = Math.min(left, this.#chunk.length - this.#offset);
      this.#offset += take;
      left -= take;
    }
  }

  /** The body of an extended header (PAX, GNU long name), with its padding. */
  async #readExtended(size: number): Promise<Buffer> {
    if (size > MAX_EXTENDED_HEADER) throw new WalgError(`archive/tar: an extended header of ${size} bytes at byte ${this.#position} is larger than any WAL-G writes`);
    const data = Buffer.alloc(size);
    let filled = 0;
    while (filled < size) {
      if (!(await this.#fill())) throw new WalgError(`archive/tar: unexpected EOF in an extended header at byte ${this.#position}; the tar part is truncated`);
      const take = Math.min(size - filled, this.#chunk.length - this.#offset);
      this.#chunk.copy(data, filled, this.#offset, this.#offset + take);
      filled += take;
      this.#offset += take;
    }
    await this.#skip((BLOCK - (size % BLOCK)) % BLOCK, 'an extended header');
    return data;
  }

  /** The next member, or undefined after the end-of-archive blocks (or a clean end of input between members). */
  async nextMember(): Promise<TarMember | undefined> {
    await this.skipBody();
    let paxPath: string | undefined;
    let paxLink: string | undefined;
    let paxSize: number | undefined;
    let longName: string | undefined;
    let longLink: string | undefined;
    for (;;) {
      const start = this.#position;
      const block = await this.#readBlock();
      if (block === undefined) return undefined;
      if (isZeroBlock(block)) {
        const second = await this.#readBlock();
        if (second !== undefined && !isZeroBlock(second)) throw new WalgError(`archive/tar: invalid tar header at byte ${start + BLOCK} (data after a zero block); the tar part is damaged`);
        return undefined;
      }
      const header = parseHeader(block, start);
      switch (header.typeflag) {
        case 'x': {
          const records = parsePaxRecords(await this.#readExtended(header.size));
          paxPath = records.get('path') ?? paxPath;
          paxLink = records.get('linkpath') ?? paxLink;
          const size = records.get('size');
          if (size !== undefined) {
            if (!/^[0-9]+$/.test(size)) throw new WalgError(`archive/tar: invalid PAX size ${JSON.stringify(size)}; the tar part is damaged`);
            paxSize = Number(size);
          }
          continue;
        }
        case 'g':
          await this.#readExtended(header.size); // global PAX records: nothing WAL-G's restore uses
          continue;
        case 'L':
          longName = headerField(await this.#readExtended(header.size), 0, header.size);
          continue;
        case 'K':
          longLink = headerField(await this.#readExtended(header.size), 0, header.size);
          continue;
      }
      const name = paxPath ?? longName ?? header.name;
      const size = HEADER_ONLY_TYPES.has(header.typeflag) ? 0 : (paxSize ?? header.size);
      this.#bodyLeft = size;
      this.#paddingLeft = (BLOCK - (size % BLOCK)) % BLOCK;
      return { name, type: memberType(header.typeflag, name), size, mode: header.mode & 0o7777, linkName: paxLink ?? longLink ?? header.linkName };
    }
  }

  /** The current member's unread body, as views of the input chunks (parts of shared chunks are counted). */
  async *body(): AsyncGenerator<Buffer> {
    while (this.#bodyLeft > 0) {
      if (!(await this.#fill())) throw new WalgError(`archive/tar: unexpected EOF in a member body at byte ${this.#position}; the tar part is truncated`);
      const start = this.#offset;
      const take = Math.min(this.#bodyLeft, this.#chunk.length - start);
      this.#offset += take;
      this.#bodyLeft -= take;
      // A chunk wholly inside this body travels as it is; one shared with a header or another member is cut.
      this.#chunkHandedOn = true;
      yield take === this.#chunk.length ? this.#chunk : this.#splitter.part(this.#chunk, start, start + take);
    }
  }

  /** Skips what the handler left of the current body, and its padding. */
  async skipBody(): Promise<void> {
    const left = this.#bodyLeft;
    this.#bodyLeft = 0;
    await this.#skip(left, 'a member body');
    const padding = this.#paddingLeft;
    this.#paddingLeft = 0;
    await this.#skip(padding, 'the padding of a member');
  }

  /** WAL-G's readTrailingZeros: after the end-of-archive blocks only zeros may follow. */
  async expectOnlyZeros(): Promise<void> {
    while (await this.#fill()) {
      const rest = this.#chunk.subarray(this.#offset);
      const nonZero = rest.findIndex((byte) => byte !== 0);
      if (nonZero >= 0) throw new WalgError(`archive/tar: invalid tar header at byte ${this.#position + nonZero} (data after the end of the archive); the tar part is damaged`);
      this.#offset = this.#chunk.length;
    }
    this.#releaseChunk();
  }
}

/**
 * Streams the members of one tar to `handle`, in order. `handle` may consume the body or leave it (the rest is
 * skipped). Bytes after the end-of-archive blocks must be zero, as WAL-G requires.
 */
export async function readTarMembers(source: Readable, handle: (member: TarMember, body: AsyncIterable<Buffer>) => Promise<void>): Promise<void> {
  const chunks = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const reader = new TarReader(chunks);
  try {
    for (;;) {
      const member = await reader.nextMember();
      if (member === undefined) break;
      await handle(member, reader.body());
    }
    await reader.expectOnlyZeros();
  } catch (error) {
    source.destroy();
    throw error;
  }
}

/**
 * The path of a member relative to the restore directory, as WAL-G joins it (`path.Join(target, name)`: a leading
 * `/` or `./` means "relative to PGDATA"). '' is the directory itself. A `..` component is refused.
 */
export function memberRelativePath(name: string): string {
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      throw new UnsafeArchiveError(`tar member '${name}' has a '..' path component; refusing to extract it outside the restore directory`);
    }
    if (part.includes('\0')) throw new UnsafeArchiveError(`tar member '${name}' has a NUL byte in its name`);
    parts.push(part);
  }
  return parts.join('/');
}

/**
 * Keeps extraction inside the restore directory: remembers the symbolic links members created and refuses any later
 * member whose path goes through one, and link targets that leave the directory. Tablespace links made before
 * extraction are not members and may be written through.
 */
export class ExtractionGuard {
  private readonly createdLinks = new Set<string>();
  /** Directories known to exist (saves a mkdir per file); not a safety rule. */
  private readonly directories = new Set<string>();

  rememberDirectory(path: string): void {
    this.directories.add(path);
  }

  knowsDirectory(path: string): boolean {
    return this.directories.has(path);
  }

  /** Throws when `relativePath` (from memberRelativePath) passes through a link a member created. */
  checkPath(relativePath: string, memberName: string, includeSelf: boolean): void {
    if (this.createdLinks.size === 0 || relativePath === '') return;
    const parts = relativePath.split('/');
    const limit = includeSelf ? parts.length : parts.length - 1;
    let prefix = '';
    for (let index = 0; index < limit; index++) {
      prefix = prefix === '' ? parts[index] : `${prefix}/${parts[index]}`;
      if (this.createdLinks.has(prefix)) {
        throw new UnsafeArchiveError(`tar member '${memberName}' goes through the symbolic link '${prefix}' an earlier member created; refusing to follow it`);
      }
    }
  }

  /**
   * Validates a symlink member: its target must be relative and, resolved from the link's own folder, stay inside
   * the restore directory.
   */
  checkSymlink(relativePath: string, linkName: string, memberName: string): void {
    this.checkPath(relativePath, memberName, true);
    if (linkName.startsWith('/')) {
      throw new UnsafeArchiveError(`tar member '${memberName}' is a symbolic link to the absolute path '${linkName}', outside the restore directory`);
    }
    const parts = relativePath.split('/');
    parts.pop();
    for (const part of linkName.split('/')) {
      if (part === '' || part === '.') continue;
      if (part === '..') {
        if (parts.length === 0) {
          throw new UnsafeArchiveError(`tar member '${memberName}' is a symbolic link to '${linkName}', which leaves the restore directory`);
        }
        parts.pop();
      } else {
        parts.push(part);
      }
    }
  }

  /** Validates a hard link member's source (a member name, relative to the restore directory). */
  hardLinkSource(linkName: string, memberName: string): string {
    let source: string;
    try {
      source = memberRelativePath(linkName);
    } catch {
      throw new UnsafeArchiveError(`tar member '${memberName}' is a hard link to '${linkName}', which leaves the restore directory`);
    }
    if (source === '') throw new UnsafeArchiveError(`tar member '${memberName}' is a hard link to the restore directory itself`);
    this.checkPath(source, memberName, true);
    return source;
  }

  rememberLink(relativePath: string): void {
    this.createdLinks.add(relativePath);
  }
}
