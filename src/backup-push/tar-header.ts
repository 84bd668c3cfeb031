// Tar member headers exactly as Go's archive/tar writes them for WAL-G (USTAR when it fits, else PAX), the
// header WAL-G builds from a file's lstat (tar.FileInfoHeader), and the end-of-archive blocks.

import type { BigIntStats } from 'node:fs';
import { WalgError } from '../errors.ts';

export const TAR_BLOCK_SIZE = 512;
/** Go's tar.Writer.Close: two zero blocks, no padding to a 10240-byte record. */
export const TAR_END_OF_ARCHIVE = Buffer.alloc(2 * TAR_BLOCK_SIZE);

export type TarTypeflag = '0' | '2' | '3' | '4' | '5' | '6' | 'x';

/** The header fields WAL-G sets; everything else Go leaves zero. */
export interface TarHeaderFields {
  readonly name: string;
  /** Permission bits plus setuid/setgid/sticky. */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Body length; 0 for everything but regular files. */
  readonly size: number;
  /** Whole seconds since the epoch (Go's writer rounds to seconds before encoding). */
  readonly modTimeSeconds: number;
  readonly typeflag: TarTypeflag;
  readonly linkname: string;
  readonly uname: string;
  readonly gname: string;
  readonly devmajor: number;
  readonly devminor: number;
}

/** The zero-filled tail that brings a body of `size` bytes to a whole block. */
export function tarPaddingLength(size: number): number {
  const rest = size % TAR_BLOCK_SIZE;
  return rest === 0 ? 0 : TAR_BLOCK_SIZE - rest;
}

// ---------------------------------------------------------------------------------------------------------------
// Field formatting (Go's formatter)

const NAME_SIZE = 100;
const PREFIX_SIZE = 155;

function isAscii(text: string): boolean {
  for (let index = 0; index < text.length; index++) if (text.charCodeAt(index) >= 0x80) return false;
  return true;
}

/** Go's toASCII: drops every non-ASCII character (used for PAX fallback fields). */
function toAscii(text: string): string {
  let result = '';
  for (const character of text) if (character.charCodeAt(0) < 0x80) result += character;
  return result;
}

function byteLength(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/** Go's fitsInOctal: n bytes hold n-1 octal digits and a NUL (22+ bytes hold anything). */
function fitsInOctal(fieldSize: number, value: number): boolean {
  return value >= 0 && (fieldSize >= 22 || value < 2 ** ((fieldSize - 1) * 3));
}

/** Writes `text` into the field, NUL-terminated when shorter; too long is cut (Go reports an error it then ignores). */
function putString(block: Buffer, offset: number, size: number, text: string): void {
  const bytes = Buffer.from(text, 'utf8');
  bytes.copy(block, offset, 0, Math.min(bytes.length, size));
  if (bytes.length < size) block[offset + bytes.length] = 0;
  // Go replaces a trailing slash of a cut name with NUL so buggy readers do not see a directory.
  if (bytes.length > size && block[offset + size - 1] === 0x2f) {
    let end = size - 1;
    while (end > 0 && bytes[end - 1] === 0x2f) end--;
    block[offset + end] = 0;
  }
}

/** Go's formatOctal: zero-padded octal digits, room left for a NUL; a value that does not fit is written as 0. */
function putOctal(block: Buffer, offset: number, size: number, value: number): void {
  const digits = (fitsInOctal(size, value) ? value : 0).toString(8);
  putString(block, offset, size, digits.padStart(size - 1, '0'));
}

/** Go's splitUSTARPath: a long ASCII name cut at a slash into the 155-byte prefix and the 100-byte name. */
export function splitUstarPath(name: string): { prefix: string; suffix: string } | undefined {
  let length = name.length;
  if (length <= NAME_SIZE || !isAscii(name)) return undefined;
  if (length > PREFIX_SIZE + 1) length = PREFIX_SIZE + 1;
  else if (name[length - 1] === '/') length--;
  const slash = name.slice(0, length).lastIndexOf('/');
  const suffixLength = name.length - slash - 1;
  if (slash <= 0 || suffixLength > NAME_SIZE || suffixLength === 0 || slash > PREFIX_SIZE) return undefined;
  return { prefix: name.slice(0, slash), suffix: name.slice(slash + 1) };
}

/** Go's formatPAXRecord: `<length> <key>=<value>\n`, the length counting itself. */
export function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let size = byteLength(body);
  size += String(size).length;
  let record = `${size}${body}`;
  if (byteLength(record) !== size) record = `${byteLength(record)}${body}`;
  return record;
}

function setChecksumAndMagic(block: Buffer): void {
  block.write('ustar\u000000', 257, 'latin1');
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (let index = 0; index < TAR_BLOCK_SIZE; index++) sum += block[index];
  putOctal(block, 148, 7, sum);
  block[155] = 0x20;
}

/** Go's templateV7Plus: every field a USTAR or PAX main header shares. */
function templateBlock(fields: TarHeaderFields, name: string, text: (value: string) => string): Buffer {
  const block = Buffer.alloc(TAR_BLOCK_SIZE);
  block[156] = fields.typeflag.charCodeAt(0);
  putString(block, 0, NAME_SIZE, text(name));
  putString(block, 157, NAME_SIZE, text(fields.linkname));
  putOctal(block, 100, 8, fields.mode);
  putOctal(block, 108, 8, fields.uid);
  putOctal(block, 116, 8, fields.gid);
  putOctal(block, 124, 12, fields.size);
  putOctal(block, 136, 12, fields.modTimeSeconds);
  putString(block, 265, 32, text(fields.uname));
  putString(block, 297, 32, text(fields.gname));
  putOctal(block, 329, 8, fields.devmajor);
  putOctal(block, 337, 8, fields.devminor);
  return block;
}

/** Go's writeRawFile for the PAX extended header: minimal fields, device numbers left as NUL bytes. */
function paxExtendedHeader(realName: string, data: Buffer): Buffer {
  const slash = realName.lastIndexOf('/');
  const directory = realName.slice(0, slash + 1);
  const file = realName.slice(slash + 1);
  let name = toAscii(joinCleanPath(directory, 'PaxHeaders.0', file));
  if (name.length > NAME_SIZE) name = name.slice(0, NAME_SIZE);
  name = name.replace(/\/+$/, '');
  const block = Buffer.alloc(TAR_BLOCK_SIZE);
  block[156] = 'x'.charCodeAt(0);
  putString(block, 0, NAME_SIZE, name);
  putOctal(block, 100, 8, 0);
  putOctal(block, 108, 8, 0);
  putOctal(block, 116, 8, 0);
  putOctal(block, 124, 12, data.length);
  putOctal(block, 136, 12, 0);
  setChecksumAndMagic(block);
  return Buffer.concat([block, data, Buffer.alloc(tarPaddingLength(data.length))]);
}

/** Go's path.Join: joined with `/`, then cleaned (`//`, `.` and `..` resolved). */
function joinCleanPath(...parts: string[]): string {
  const joined = parts.filter((part) => part !== '').join('/');
  if (joined === '') return '';
  const rooted = joined.startsWith('/');
  const kept: string[] = [];
  for (const part of joined.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..' && kept.length > 0 && kept[kept.length - 1] !== '..') kept.pop();
    else if (part === '..' && rooted) continue;
    else kept.push(part);
  }
  const cleaned = kept.join('/');
  return rooted ? `/${cleaned}` : cleaned || '.';
}

/**
 * The bytes Go's tar.Writer emits for a header (Go's allowedFormats, then USTAR or PAX): USTAR when every field fits
 * (long ASCII names split into prefix and name), otherwise a PAX `x` record block followed by the main header.
 * Returns one block, or the PAX blocks plus the main block.
 */
export function encodeTarHeader(fields: TarHeaderFields): Buffer {
  const pax = new Map<string, string>();
  let ustar = true;
  const checkString = (value: string, size: number, key: string, splittable: boolean): void => {
    const tooLong = byteLength(value) > size;
    if (value.includes('\u0000')) throw new WalgError(`tar header: ${key} ${JSON.stringify(value)} holds a NUL byte`);
    if (!isAscii(value) || tooLong) {
      if (!splittable || splitUstarPath(value) === undefined) ustar = false;
      pax.set(key, value);
    }
  };
  checkString(fields.name, NAME_SIZE, 'path', true);
  checkString(fields.linkname, NAME_SIZE, 'linkpath', false);
  checkString(fields.uname, 32, 'uname', false);
  checkString(fields.gname, 32, 'gname', false);
  const checkNumber = (value: number, size: number, key: string | undefined): void => {
    if (fitsInOctal(size, value)) return;
    ustar = false;
    if (key === undefined) throw new WalgError(`tar header: ${value} does not fit the ${size}-byte field of ${fields.name}`);
    pax.set(key, String(value));
  };
  checkNumber(fields.mode, 8, undefined);
  checkNumber(fields.uid, 8, 'uid');
  checkNumber(fields.gid, 8, 'gid');
  checkNumber(fields.size, 12, 'size');
  checkNumber(fields.devmajor, 8, undefined);
  checkNumber(fields.devminor, 8, undefined);
  checkNumber(fields.modTimeSeconds, 12, 'mtime');

  if (ustar) {
    const split = splitUstarPath(fields.name);
    const block = templateBlock(fields, split?.suffix ?? fields.name, (value) => value);
    if (split !== undefined) putString(block, 345, PREFIX_SIZE, split.prefix);
    setChecksumAndMagic(block);
    return block;
  }
  const keys = [...pax.keys()].sort();
  const data = Buffer.from(keys.map((key) => paxRecord(key, pax.get(key)!)).join(''), 'utf8');
  const main = templateBlock(fields, fields.name, toAscii);
  setChecksumAndMagic(main);
  return Buffer.concat([paxExtendedHeader(fields.name, data), main]);
}

// ---------------------------------------------------------------------------------------------------------------
// Headers from the file system (tar.FileInfoHeader with WAL-G's arguments)

/** Looks up user and group names by id (Go's os/user through tar.FileInfoHeader); '' when unknown. */
export interface AccountNames {
  userName(uid: number): string;
  groupName(gid: number): string;
}

/** Go's tar.Writer rounds ModTime to whole seconds, halves up, when no format is asked for. */
export function roundedSeconds(epochNanoseconds: bigint): number {
  const seconds = epochNanoseconds / 1_000_000_000n;
  let rest = epochNanoseconds % 1_000_000_000n;
  let whole = seconds;
  if (rest < 0n) {
    rest += 1_000_000_000n;
    whole -= 1n;
  }
  return Number(rest >= 500_000_000n ? whole + 1n : whole);
}

/** Linux's major/minor split of a device number. */
function deviceNumbers(rdev: bigint): { major: number; minor: number } {
  return {
    major: Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn)),
    minor: Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn)),
  };
}

/** A socket cannot go into a tar; WAL-G fails the backup on one. */
export class UnsupportedFileTypeError extends WalgError {}

/**
 * What WAL-G's tar.FileInfoHeader(lstat, basename) gives, with the member name replaced: type from the mode, size
 * only for regular files, permission and setuid/setgid/sticky bits, numeric ids and their names, mtime rounded to
 * seconds, and — a WAL-G quirk — a symlink's Linkname set to its own basename.
 */
export function headerFromStats(stats: BigIntStats, memberName: string, baseName: string, accounts: AccountNames): TarHeaderFields {
  let typeflag: TarTypeflag;
  let size = 0;
  let linkname = '';
  let devmajor = 0;
  let devminor = 0;
  if (stats.isFile()) {
    typeflag = '0';
    size = Number(stats.size);
  } else if (stats.isDirectory()) {
    typeflag = '5';
  } else if (stats.isSymbolicLink()) {
    typeflag = '2';
    linkname = baseName;
  } else if (stats.isCharacterDevice() || stats.isBlockDevice()) {
    typeflag = stats.isCharacterDevice() ? '3' : '4';
    ({ major: devmajor, minor: devminor } = deviceNumbers(stats.rdev));
  } else if (stats.isFIFO()) {
    typeflag = '6';
  } else {
    throw new UnsupportedFileTypeError(`addToBundle: could not grab header info: archive/tar: sockets not supported (${memberName})`);
  }
  const uid = Number(stats.uid);
  const gid = Number(stats.gid);
  return {
    name: memberName,
    mode: Number(stats.mode & 0o7777n),
    uid,
    gid,
    size,
    modTimeSeconds: roundedSeconds(stats.mtimeNs),
    typeflag,
    linkname,
    uname: accounts.userName(uid),
    gname: accounts.groupName(gid),
    devmajor,
    devminor,
  };
}

/** The header WAL-G gives backup_label and tablespace_map: a plain 0600 file, root-owned, at the epoch. */
export function labelFileHeader(name: string, size: number): TarHeaderFields {
  return { name, mode: 0o600, uid: 0, gid: 0, size, modTimeSeconds: 0, typeflag: '0', linkname: '', uname: '', gname: '', devmajor: 0, devminor: 0 };
}
