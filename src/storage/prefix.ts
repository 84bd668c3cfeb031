// Parsing of storage prefixes (WALG_S3_PREFIX and friends) into bucket and root path, exactly as WAL-G does it.
//
// WAL-G hands every URL prefix to Go's net/url.Parse, so the URL part below follows that parser (fragment and
// query cut off, path percent-decoded, userinfo dropped, port kept in the host) and reproduces its error texts.
// Each backend then trims the path its own way; `path` in the result is the root folder every object key is
// appended to: '' or ending with '/'.

import { WalgError } from '../errors.ts';
import { goQuote } from './go-text.ts';
import { trimSlashes } from './driver.ts';

/** Storage kinds, named after their setting: WALG_<KIND>_PREFIX. */
export type StorageKind = 'oss' | 's3' | 'file' | 'gs' | 'az' | 'swift' | 'ssh';

/** The order in which WAL-G tries the prefix settings; the first one set wins (config.md §3.1). */
export const STORAGE_KINDS_IN_ORDER: readonly StorageKind[] = ['oss', 's3', 'file', 'gs', 'az', 'swift', 'ssh'];

export function prefixSettingName(kind: StorageKind): string {
  return `WALG_${kind.toUpperCase()}_PREFIX`;
}

/** WAL-E wrote file prefixes as URLs on localhost; WAL-G strips this and uses the rest as a path. */
export const WALE_FILE_URL = 'file://localhost';

export interface ParsedStoragePrefix {
  kind: StorageKind;
  /** Bucket (s3, gs, oss), container (az, swift), `host[:port]` (ssh); '' for file. */
  bucket: string;
  /**
   * Cloud kinds: the root folder inside the bucket, '' or ending with '/'; object names are this plus the key.
   * ssh: the remote directory (absolute when the URL had a path, else '' = the login directory), '' or ending '/'.
   * file: the root directory as given, `file://localhost` removed.
   */
  path: string;
}

export interface PrefixOptions {
  /** GCS_NORMALIZE_PREFIX (default true); false keeps doubled slashes for WAL-E compatibility. */
  gcsNormalizePrefix?: boolean;
}

/** A prefix WAL-G would refuse; the message is WAL-G's adapter-level text. */
export class StoragePrefixError extends WalgError {
  constructor(message: string) {
    super(message);
    this.name = 'StoragePrefixError';
  }
}

/** Parses `value` of WALG_<kind>_PREFIX the way that WAL-G backend's ConfigureStorage does. */
export function parseStoragePrefix(kind: StorageKind, value: string, options: PrefixOptions = {}): ParsedStoragePrefix {
  switch (kind) {
    case 'file':
      return { kind, bucket: '', path: fileStorageRoot(value) };
    case 's3':
    case 'oss': {
      // OSS keeps a leading '/' on objects put straight into an unprefixed root (its GetPath turns '' into '/');
      // that quirk belongs to its driver, not to the prefix.
      const { bucket, path } = withContext(`extract bucket and path from prefix ${goQuote(value)}`, () => pathFromPrefix(value));
      return { kind, bucket, path: addDelimiter(path) };
    }
    case 'gs': {
      const context = `extract bucket and path from prefix ${goQuote(value)}`;
      if (options.gcsNormalizePrefix ?? true) {
        const { bucket, path } = withContext(context, () => pathFromPrefix(value));
        return { kind, bucket, path: addDelimiter(path) };
      }
      const { host, path } = withContext(context, () => parsePrefixAsUrl(value));
      // The WAL-E mode drops one leading '/', adds the delimiter, then the folder drops one more leading '/'.
      // (WAL-G itself crashes on an empty path here; an empty root is the sensible reading.)
      const rooted = addDelimiter(path.startsWith('/') ? path.slice(1) : path);
      return { kind, bucket: host, path: rooted.startsWith('/') ? rooted.slice(1) : rooted };
    }
    case 'az':
    case 'swift': {
      const { bucket, path } = withContext(`extract container and path from prefix ${goQuote(value)}`, () =>
        pathFromPrefix(value),
      );
      return { kind, bucket, path: addDelimiter(path) };
    }
    case 'ssh': {
      const { host, path } = withContext(`parse SSH storage prefix ${goQuote(value)}`, () => parsePrefixAsUrl(value));
      return { kind, bucket: host, path: addDelimiter(path) };
    }
  }
}

/** WAL-G's fs adapter: a leading `file://localhost` is removed, nothing else is touched. */
export function fileStorageRoot(value: string): string {
  return value.startsWith(WALE_FILE_URL) ? value.slice(WALE_FILE_URL.length) : value;
}

/** WAL-G's storage.GetPathFromPrefix: bucket = URL host, path = URL path without leading or trailing '/'. */
export function pathFromPrefix(prefix: string): { bucket: string; path: string } {
  const { host, path } = parsePrefixAsUrl(prefix);
  return { bucket: host, path: trimSlashes(path) };
}

/** WAL-G's storage.ParsePrefixAsURL: the URL must have a scheme and a host. */
export function parsePrefixAsUrl(prefix: string): { scheme: string; host: string; path: string } {
  let url: GoUrl;
  try {
    url = parseGoUrl(prefix);
  } catch (error) {
    if (error instanceof GoUrlError) throw new StoragePrefixError(`failed to parse url '${prefix}': ${error.message}`);
    throw error;
  }
  if (url.scheme === '' || url.host === '') {
    throw new StoragePrefixError(`missing url scheme=${goQuote(url.scheme)} and/or host=${goQuote(url.host)}`);
  }
  return url;
}

/** WAL-G's storage.AddDelimiterToPath. */
export function addDelimiter(path: string): string {
  return path === '' || path.endsWith('/') ? path : `${path}/`;
}

function withContext<T>(context: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof StoragePrefixError) throw new StoragePrefixError(`${context}: ${error.message}`);
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Go's net/url.Parse, reduced to what a prefix needs: scheme, host (with port) and decoded path.

export interface GoUrl {
  scheme: string;
  host: string;
  path: string;
}

/** url.Parse's error; the message is Go's `parse "<url>": <reason>`. */
export class GoUrlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GoUrlError';
  }
}

/** A reason without the `parse "<url>": ` wrapper, as Go's inner functions return it. */
class UrlProblem extends Error {}

type Encoding = 'path' | 'host' | 'zone' | 'userPassword' | 'fragment';

export function parseGoUrl(raw: string): GoUrl {
  const hashAt = raw.indexOf('#');
  const withoutFragment = hashAt < 0 ? raw : raw.slice(0, hashAt);
  let url: GoUrl;
  try {
    url = parseWithoutFragment(withoutFragment);
  } catch (error) {
    if (error instanceof UrlProblem) throw new GoUrlError(`parse ${goQuote(withoutFragment)}: ${error.message}`);
    throw error;
  }
  if (hashAt >= 0) {
    try {
      unescape(raw.slice(hashAt + 1), 'fragment');
    } catch (error) {
      if (error instanceof UrlProblem) throw new GoUrlError(`parse ${goQuote(raw)}: ${error.message}`);
      throw error;
    }
  }
  return url;
}

function parseWithoutFragment(raw: string): GoUrl {
  for (let i = 0; i < raw.length; i++) {
    const code = raw.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) throw new UrlProblem('net/url: invalid control character in URL');
  }
  if (raw === '*') return { scheme: '', host: '', path: '*' };

  let { scheme, rest } = splitScheme(raw);
  scheme = scheme.toLowerCase();

  if (rest.endsWith('?') && rest.indexOf('?') === rest.length - 1) {
    rest = rest.slice(0, -1);
  } else {
    const queryAt = rest.indexOf('?');
    if (queryAt >= 0) rest = rest.slice(0, queryAt);
  }

  if (!rest.startsWith('/')) {
    // Go keeps a rootless rest after a scheme as "opaque": no host, no path.
    if (scheme !== '') return { scheme, host: '', path: '' };
    const slashAt = rest.indexOf('/');
    const firstSegment = slashAt < 0 ? rest : rest.slice(0, slashAt);
    if (firstSegment.includes(':')) throw new UrlProblem('first path segment in URL cannot contain colon');
  }

  let host = '';
  if ((scheme !== '' || !rest.startsWith('///')) && rest.startsWith('//')) {
    let authority = rest.slice(2);
    rest = '';
    const slashAt = authority.indexOf('/');
    if (slashAt >= 0) {
      rest = authority.slice(slashAt);
      authority = authority.slice(0, slashAt);
    }
    host = parseAuthority(authority);
  }
  return { scheme, host, path: unescape(rest, 'path') };
}

function splitScheme(raw: string): { scheme: string; rest: string } {
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) continue;
    if ((c >= '0' && c <= '9') || c === '+' || c === '-' || c === '.') {
      if (i === 0) return { scheme: '', rest: raw };
      continue;
    }
    if (c === ':') {
      if (i === 0) throw new UrlProblem('missing protocol scheme');
      return { scheme: raw.slice(0, i), rest: raw.slice(i + 1) };
    }
    return { scheme: '', rest: raw };
  }
  return { scheme: '', rest: raw };
}

/** Returns the host; userinfo is checked the way Go checks it and then dropped (WAL-G never reads it). */
function parseAuthority(authority: string): string {
  const at = authority.lastIndexOf('@');
  const host = parseHost(at < 0 ? authority : authority.slice(at + 1));
  if (at < 0) return host;
  const userinfo = authority.slice(0, at);
  if (!validUserinfo(userinfo)) throw new UrlProblem('net/url: invalid userinfo');
  const colonAt = userinfo.indexOf(':');
  if (colonAt < 0) {
    unescape(userinfo, 'userPassword');
  } else {
    unescape(userinfo.slice(0, colonAt), 'userPassword');
    unescape(userinfo.slice(colonAt + 1), 'userPassword');
  }
  return host;
}

function parseHost(host: string): string {
  const openAt = host.lastIndexOf('[');
  if (openAt > 0) throw new UrlProblem('invalid IP-literal');
  if (openAt === 0) {
    const closeAt = host.lastIndexOf(']');
    if (closeAt < 0) throw new UrlProblem("missing ']' in host");
    const colonPort = host.slice(closeAt + 1);
    if (!validOptionalPort(colonPort)) throw new UrlProblem(`invalid port ${goQuote(colonPort)} after host`);
    const port = unescape(colonPort, 'host');
    const bracketed = host.slice(1, closeAt);
    const zoneAt = bracketed.indexOf('%25');
    const address =
      zoneAt >= 0
        ? unescape(bracketed.slice(0, zoneAt), 'host') + unescape(bracketed.slice(zoneAt), 'zone')
        : unescape(bracketed, 'host');
    // Since Go 1.25.2 only an IPv6 address may stand in brackets. Go's exact netip wording is not reproduced.
    if (/^\d+\.\d+\.\d+\.\d+$/.test(address)) throw new UrlProblem('invalid IP-literal');
    // node:net only when a bracketed host needs it: loading it costs ~20 ms of CPU per wal-push otherwise.
    if (!process.getBuiltinModule('node:net').isIPv6(address)) throw new UrlProblem(`invalid host: ParseAddr(${goQuote(address)}): unable to parse IP`);
    return `[${address}]${port}`;
  }
  const colonAt = host.lastIndexOf(':');
  if (colonAt >= 0) {
    const colonPort = host.slice(colonAt);
    if (!validOptionalPort(colonPort)) throw new UrlProblem(`invalid port ${goQuote(colonPort)} after host`);
  }
  return unescape(host, 'host');
}

function validOptionalPort(port: string): boolean {
  if (port === '') return true;
  if (port[0] !== ':') return false;
  for (let i = 1; i < port.length; i++) {
    const c = port[i];
    if (c < '0' || c > '9') return false;
  }
  return true;
}

const USERINFO_PUNCTUATION = new Set(['-', '.', '_', ':', '~', '!', '$', '&', "'", '(', ')', '*', '+', ',', ';', '=', '%', '@']);

function validUserinfo(text: string): boolean {
  for (const c of text) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) continue;
    if (!USERINFO_PUNCTUATION.has(c)) return false;
  }
  return true;
}

const HOST_PUNCTUATION = new Set(['!', '$', '&', "'", '(', ')', '*', '+', ',', ';', '=', ':', '[', ']', '<', '>', '"']);

/** Go's shouldEscape, only for the host and zone modes (the only ones where it decides validity). */
function invalidInHost(c: string): boolean {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return false;
  if (HOST_PUNCTUATION.has(c)) return false;
  return !(c === '-' || c === '_' || c === '.' || c === '~');
}

function isHex(c: string | undefined): boolean {
  return c !== undefined && /^[0-9a-fA-F]$/.test(c);
}

/** Go's unescape: checks escapes (and host characters), then decodes %XX bytes as UTF-8. */
function unescape(text: string, mode: Encoding): string {
  let escapes = 0;
  for (let i = 0; i < text.length; ) {
    const c = text[i];
    if (c === '%') {
      escapes++;
      if (i + 2 >= text.length || !isHex(text[i + 1]) || !isHex(text[i + 2])) {
        throw new UrlProblem(`invalid URL escape ${goQuote(text.slice(i, i + 3))}`);
      }
      const triple = text.slice(i, i + 3);
      // In a host only non-ASCII bytes may be escaped, plus %25 for IPv6 zones.
      if (mode === 'host' && parseInt(text[i + 1], 16) < 8 && triple !== '%25') {
        throw new UrlProblem(`invalid URL escape ${goQuote(triple)}`);
      }
      if (mode === 'zone') {
        const value = String.fromCharCode(parseInt(text.slice(i + 1, i + 3), 16));
        if (triple !== '%25' && value !== ' ' && invalidInHost(value)) {
          throw new UrlProblem(`invalid URL escape ${goQuote(triple)}`);
        }
      }
      i += 3;
      continue;
    }
    if ((mode === 'host' || mode === 'zone') && c.charCodeAt(0) < 0x80 && invalidInHost(c)) {
      throw new UrlProblem(`invalid character ${goQuote(c)} in host name`);
    }
    i++;
  }
  if (escapes === 0) return text;

  const bytes: number[] = [];
  for (let i = 0; i < text.length; ) {
    if (text[i] === '%') {
      bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 3;
    } else {
      const codePoint = text.codePointAt(i)!;
      const character = String.fromCodePoint(codePoint);
      for (const byte of Buffer.from(character, 'utf8')) bytes.push(byte);
      i += character.length;
    }
  }
  return Buffer.from(bytes).toString('utf8');
}
