// The tablespace spec: where PGDATA and each tablespace lived at backup time (sentinel `Spec`), or where they go on
// restore (the `--restore-spec` file). One flat JSON object, keys sorted as Go marshals its map.

import { compareGoStrings, goJsonString, isJsonObject, JsonFormatError, parseJson, type JsonObject, type JsonValue } from './json.ts';

export interface TablespaceLocation {
  /** The tablespace directory (the symlink target), without a trailing `/`. */
  readonly location: string;
  /** `pg_tblspc/<oid>`, relative to PGDATA. */
  readonly link: string;
}

export interface TablespaceSpec {
  /** PGDATA at backup time, without a trailing `/`; '' means unset. */
  readonly basePrefix: string;
  /** Symlink names (tablespace OIDs) in discovery order. */
  readonly names: readonly string[];
  readonly locations: ReadonlyMap<string, TablespaceLocation>;
}

export const BASE_PREFIX_MISSING = 'base prefix not set while working with tablespaces';

/** WAL-G's NormalizePath: one trailing `/` goes. */
function normalizePath(path: string): string {
  return path.endsWith('/') ? path.slice(0, -1) : path;
}

export function emptyTablespaceSpec(basePrefix = ''): TablespaceSpec {
  return { basePrefix: normalizePath(basePrefix), names: [], locations: new Map() };
}

/** A spec with tablespaces added in order (what backup-push records while walking pg_tblspc). */
export function tablespaceSpecOf(basePrefix: string, tablespaces: ReadonlyArray<{ name: string; location: string }>): TablespaceSpec {
  const locations = new Map<string, TablespaceLocation>();
  const names: string[] = [];
  for (const { name, location } of tablespaces) {
    names.push(name);
    locations.set(name, { location: normalizePath(location), link: `pg_tblspc/${name}` });
  }
  return { basePrefix: normalizePath(basePrefix), names, locations };
}

export function isEmptyTablespaceSpec(spec: TablespaceSpec): boolean {
  return spec.names.length === 0;
}

/** Decodes a parsed spec object, with WAL-G's errors. */
export function decodeTablespaceSpec(value: JsonValue): TablespaceSpec {
  if (!isJsonObject(value)) throw new JsonFormatError(`json: cannot unmarshal ${Array.isArray(value) ? 'array' : typeof value} into Go value of type map[string]interface {}`);
  const basePrefix = value.get('base_prefix');
  if (typeof basePrefix !== 'string') throw new JsonFormatError(BASE_PREFIX_MISSING);
  const names: string[] = [];
  const listed = value.get('tablespaces');
  if (Array.isArray(listed)) {
    for (const item of listed) {
      if (typeof item !== 'string') throw new JsonFormatError('bad json structure: "tablespaces" must list strings');
      names.push(item);
    }
  }
  const locations = new Map<string, TablespaceLocation>();
  for (const name of names) {
    const entry = value.get(name);
    if (!isJsonObject(entry)) throw new JsonFormatError(`bad json structure. Couldn't find entry for symlink ${name}`);
    const location = (entry as JsonObject).get('loc');
    const link = (entry as JsonObject).get('link');
    if (typeof location !== 'string' || typeof link !== 'string') {
      throw new JsonFormatError(`bad json structure: entry for symlink ${name} needs string "loc" and "link"`);
    }
    locations.set(name, { location, link });
  }
  return { basePrefix: normalizePath(basePrefix), names, locations };
}

/** Parses a `--restore-spec` file's text. */
export function parseTablespaceSpec(text: string): TablespaceSpec {
  return decodeTablespaceSpec(parseJson(text));
}

/** The JSON WAL-G writes: one object, keys sorted (`"16384"` before `"base_prefix"` before `"tablespaces"`). */
export function encodeTablespaceSpec(spec: TablespaceSpec): string {
  if (spec.basePrefix === '') throw new JsonFormatError(BASE_PREFIX_MISSING);
  const members = new Map<string, string>();
  members.set('base_prefix', goJsonString(spec.basePrefix));
  members.set('tablespaces', `[${spec.names.map(goJsonString).join(',')}]`);
  for (const [name, location] of spec.locations) {
    members.set(name, `{"loc":${goJsonString(location.location)},"link":${goJsonString(location.link)}}`);
  }
  const keys = [...members.keys()].sort(compareGoStrings);
  return `{${keys.map((key) => `${goJsonString(key)}:${members.get(key)}`).join(',')}}`;
}
