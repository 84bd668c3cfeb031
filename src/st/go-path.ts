// Go's slash-path helpers that decide what the `st` commands print and touch: path.Match (globs), Base, Ext, Clean,
// Join and filepath.Dir, with Go's edge cases (a trailing slash, '.', an empty path).

import { WalgError } from '../errors.ts';

/** Go's path.ErrBadPattern text. */
export const BAD_PATTERN_MESSAGE = 'syntax error in pattern';

type PatternToken =
  | { readonly kind: 'star' }
  | { readonly kind: 'any' }
  | { readonly kind: 'char'; readonly char: number }
  | { readonly kind: 'class'; readonly negated: boolean; readonly ranges: readonly (readonly [number, number])[] };

const SLASH = 0x2f;

/** Reads one (possibly escaped) class character like Go's getEsc; undefined means a malformed pattern. */
function classCharacter(pattern: readonly number[], at: number): { char: number; next: number } | undefined {
  if (at >= pattern.length || pattern[at] === 0x2d /* - */ || pattern[at] === 0x5d /* ] */) return undefined;
  let index = at;
  if (pattern[index] === 0x5c /* \ */) {
    index++;
    if (index >= pattern.length) return undefined;
  }
  const next = index + 1;
  // Go requires something (at least the closing bracket) after every class character.
  if (next >= pattern.length) return undefined;
  return { char: pattern[index], next };
}

function parsePattern(text: string): PatternToken[] {
  const pattern = [...text].map((character) => character.codePointAt(0)!);
  const tokens: PatternToken[] = [];
  let index = 0;
  while (index < pattern.length) {
    const code = pattern[index];
    if (code === 0x2a /* * */) {
      tokens.push({ kind: 'star' });
      index++;
    } else if (code === 0x3f /* ? */) {
      tokens.push({ kind: 'any' });
      index++;
    } else if (code === 0x5c /* \ */) {
      if (index + 1 >= pattern.length) throw new WalgError(BAD_PATTERN_MESSAGE);
      tokens.push({ kind: 'char', char: pattern[index + 1] });
      index += 2;
    } else if (code === 0x5b /* [ */) {
      index++;
      let negated = false;
      if (index < pattern.length && pattern[index] === 0x5e /* ^ */) {
        negated = true;
        index++;
      }
      const ranges: [number, number][] = [];
      for (;;) {
        if (index < pattern.length && pattern[index] === 0x5d && ranges.length > 0) {
          index++;
          break;
        }
        const low = classCharacter(pattern, index);
        if (low === undefined) throw new WalgError(BAD_PATTERN_MESSAGE);
        let high = low;
        if (pattern[low.next] === 0x2d) {
          const upper = classCharacter(pattern, low.next + 1);
          if (upper === undefined) throw new WalgError(BAD_PATTERN_MESSAGE);
          high = upper;
        }
        ranges.push([low.char, high.char]);
        index = high.next;
      }
      tokens.push({ kind: 'class', negated, ranges });
    } else {
      tokens.push({ kind: 'char', char: code });
      index++;
    }
  }
  return tokens;
}

function matchesToken(token: PatternToken, char: number): boolean {
  switch (token.kind) {
    case 'any':
      return char !== SLASH;
    case 'char':
      return char === token.char;
    case 'class': {
      const inRange = token.ranges.some(([low, high]) => low <= char && char <= high);
      return inRange !== token.negated;
    }
    default:
      return false;
  }
}

function matchFrom(tokens: readonly PatternToken[], tokenAt: number, name: readonly number[], nameAt: number): boolean {
  for (;;) {
    if (tokenAt === tokens.length) return nameAt === name.length;
    const token = tokens[tokenAt];
    if (token.kind === 'star') {
      // A star takes any run of non-slash characters: try every length, shortest first.
      for (let end = nameAt; ; end++) {
        if (matchFrom(tokens, tokenAt + 1, name, end)) return true;
        if (end >= name.length || name[end] === SLASH) return false;
      }
    }
    if (nameAt >= name.length || !matchesToken(token, name[nameAt])) return false;
    tokenAt++;
    nameAt++;
  }
}

/**
 * Go's path.Match: whether the whole name matches the shell pattern (`*`, `?`, `[a-z]`, `[^x]`, `\` escapes;
 * `*` and `?` never match '/'). A malformed pattern throws WalgError('syntax error in pattern'), like ErrBadPattern.
 */
export function goPathMatch(pattern: string, name: string): boolean {
  const tokens = parsePattern(pattern);
  const codes = [...name].map((character) => character.codePointAt(0)!);
  return matchFrom(tokens, 0, codes, 0);
}

/** Go's path.Clean: the shortest equivalent slash path ('' → '.', 'a//b/../c/' → 'a/c'). */
export function goPathClean(path: string): string {
  if (path === '') return '.';
  const rooted = path.startsWith('/');
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length > 0 && parts[parts.length - 1] !== '..') parts.pop();
      else if (!rooted) parts.push('..');
      continue;
    }
    parts.push(part);
  }
  const joined = parts.join('/');
  if (rooted) return `/${joined}`;
  return joined === '' ? '.' : joined;
}

/** Go's path.Join: the non-empty elements joined with '/', then cleaned; '' when all are empty. */
export function goPathJoin(...elements: string[]): string {
  const kept = elements.filter((element) => element !== '');
  return kept.length === 0 ? '' : goPathClean(kept.join('/'));
}

/** Go's path.Base: the last element, trailing slashes ignored; '.' for '' and '/' for only slashes. */
export function goPathBase(path: string): string {
  if (path === '') return '.';
  let end = path.length;
  while (end > 0 && path[end - 1] === '/') end--;
  if (end === 0) return '/';
  const trimmed = path.slice(0, end);
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}

/** Go's path.Ext: from the last '.' of the last element, dot included; '' when there is none. */
export function goPathExt(path: string): string {
  for (let index = path.length - 1; index >= 0 && path[index] !== '/'; index--) {
    if (path[index] === '.') return path.slice(index);
  }
  return '';
}

/** Go's filepath.Dir on Unix: everything before the last element, cleaned ('a' → '.', '/a' → '/'). */
export function goPathDir(path: string): string {
  const slash = path.lastIndexOf('/');
  return goPathClean(path.slice(0, slash + 1));
}
