// Command-line flag parsing with spf13/pflag v1.0.5's exact rules and error texts: interspersed flags, `--name=v`,
// `--name v`, `-x v`, `-xv`, grouped boolean shorthands, `--` ending flags, Go's number/bool/duration syntax.
//
// yargs-parser is deliberately not used: it reads `-pfoo` as three booleans, `--no-x` as x=false and `-5` as a
// number, and reports none of pflag's errors, so scripts written against WAL-G would behave differently.

import { goQuote, parseGoBool, parseGoDuration, parseGoInt, GoParseError } from '../config/go-values.ts';
import type { FlagSpec } from './command-tree.ts';
import type { FlagValue } from './context.ts';
import type { FlagLookup } from './flag-sets.ts';

/** A parse failure; `message` is pflag's text, printed by cobra as `Error: <message>`. */
export class FlagParseError extends Error {
  /** pflag's ErrHelp: `--help`/`-h` given to a flag set that has no help flag. */
  readonly helpRequested: boolean;
  constructor(message: string, helpRequested = false) {
    super(message);
    this.name = 'FlagParseError';
    this.helpRequested = helpRequested;
  }
}

export interface ParsedFlags {
  /** Values of the flags given on the command line, by long name (defaults are not filled in here). */
  readonly values: Map<string, FlagValue>;
  /** Long names in the order they were first set. */
  readonly changed: Set<string>;
  /** Positional arguments in order, including everything after `--`. */
  readonly positionals: string[];
  /** How many positionals preceded `--`, or -1. */
  readonly argsLenAtDash: number;
}

/** Parses `args` against `flags`; throws FlagParseError at the first problem, as pflag does. */
export function parseFlags(flags: FlagLookup, args: readonly string[]): ParsedFlags {
  const result: ParsedFlags & { argsLenAtDash: number } = {
    values: new Map(),
    changed: new Set(),
    positionals: [],
    argsLenAtDash: -1,
  };
  let rest = args.slice();
  while (rest.length > 0) {
    const arg = rest.shift()!;
    if (arg.length === 0 || arg[0] !== '-' || arg.length === 1) {
      result.positionals.push(arg);
      continue;
    }
    if (arg[1] === '-') {
      if (arg.length === 2) {
        result.argsLenAtDash = result.positionals.length;
        result.positionals.push(...rest);
        break;
      }
      rest = parseLongFlag(flags, arg, rest, result);
    } else {
      rest = parseShortFlags(flags, arg, rest, result);
    }
  }
  return result;
}

function parseLongFlag(flags: FlagLookup, arg: string, rest: string[], result: ParsedFlags): string[] {
  const body = arg.slice(2);
  if (body.length === 0 || body[0] === '-' || body[0] === '=') throw new FlagParseError(`bad flag syntax: ${arg}`);
  const equals = body.indexOf('=');
  const name = equals >= 0 ? body.slice(0, equals) : body;
  const flag = flags.byName(name);
  if (flag === undefined) {
    if (name === 'help') throw new FlagParseError('pflag: help requested', true);
    throw new FlagParseError(`unknown flag: --${name}`);
  }
  let value: string;
  if (equals >= 0) value = body.slice(equals + 1);
  else if (flag.type === 'bool') value = 'true';
  else if (rest.length > 0) {
    value = rest[0];
    rest = rest.slice(1);
  } else throw new FlagParseError(`flag needs an argument: ${arg}`);
  setFlag(flag, value, result);
  return rest;
}

function parseShortFlags(flags: FlagLookup, arg: string, rest: string[], result: ParsedFlags): string[] {
  let shorthands = arg.slice(1);
  let remaining = rest;
  while (shorthands.length > 0) {
    // pflag leaves Go test binaries' `-test.*` flags alone.
    if (shorthands.startsWith('test.')) break;
    const letter = shorthands[0];
    const flag = flags.byShorthand(letter);
    if (flag === undefined) {
      if (letter === 'h') throw new FlagParseError('pflag: help requested', true);
      throw new FlagParseError(`unknown shorthand flag: ${goQuoteCharacter(letter)} in -${shorthands}`);
    }
    let value: string;
    let next = shorthands.slice(1);
    if (shorthands.length > 2 && shorthands[1] === '=') {
      value = shorthands.slice(2);
      next = '';
    } else if (flag.type === 'bool') {
      value = 'true';
    } else if (shorthands.length > 1) {
      value = shorthands.slice(1);
      next = '';
    } else if (rest.length > 0) {
      value = rest[0];
      remaining = rest.slice(1);
    } else {
      throw new FlagParseError(`flag needs an argument: ${goQuoteCharacter(letter)} in -${shorthands}`);
    }
    setFlag(flag, value, result);
    shorthands = next;
  }
  return remaining;
}

function setFlag(flag: FlagSpec, text: string, result: ParsedFlags): void {
  let value: FlagValue;
  try {
    value = convertFlagValue(flag, text);
  } catch (err) {
    const display = flag.shorthand !== undefined ? `-${flag.shorthand}, --${flag.name}` : `--${flag.name}`;
    const reason = err instanceof Error ? err.message : String(err);
    throw new FlagParseError(`invalid argument ${goQuote(text)} for ${goQuote(display)} flag: ${reason}`);
  }
  if (flag.type === 'stringSlice' && result.changed.has(flag.name)) {
    // A repeated slice flag appends; its first use replaces the default.
    value = [...(result.values.get(flag.name) as readonly string[]), ...(value as readonly string[])];
  }
  result.values.set(flag.name, value);
  result.changed.add(flag.name);
}

/** Converts flag text to its typed value with Go's parsers (and their error texts). */
export function convertFlagValue(flag: FlagSpec, text: string): FlagValue {
  switch (flag.type) {
    case 'bool':
      return parseGoBool(text);
    case 'string':
      return text;
    case 'int':
      return parseGoInt(text, 0);
    case 'uint':
      return Number(parseGoUnsigned(text, 64));
    case 'uint32':
      return Number(parseGoUnsigned(text, 32));
    case 'uint64':
      return parseGoUnsigned(text, 64);
    case 'duration':
      return parseGoDuration(text);
    case 'stringSlice':
      return text === '' ? [] : readCsvRecord(text);
  }
}

/** strconv.ParseUint(text, 0, bits): Go literal prefixes, `_` separators, no sign. */
export function parseGoUnsigned(text: string, bits: 32 | 64): bigint {
  const fail = (problem: string): GoParseError => new GoParseError(`strconv.ParseUint: parsing ${goQuote(text)}: ${problem}`);
  if (text === '') throw fail('invalid syntax');
  let body = text;
  let radix = 10;
  if (body[0] === '0') {
    const marker = body.length >= 3 ? body[1].toLowerCase() : '';
    if (marker === 'b') radix = 2;
    else if (marker === 'o') radix = 8;
    else if (marker === 'x') radix = 16;
    else radix = 8;
    body = radix === 8 && marker !== 'o' ? body.slice(1) : body.slice(2);
  }
  const limit = (1n << BigInt(bits)) - 1n;
  const bigRadix = BigInt(radix);
  let value = 0n;
  let underscores = false;
  for (const character of body) {
    if (character === '_') {
      underscores = true;
      continue;
    }
    const digit = digitValue(character);
    if (digit >= radix) throw fail('invalid syntax');
    value = value * bigRadix + BigInt(digit);
    if (value > limit) throw fail('value out of range');
  }
  if (underscores && !underscoresWellPlaced(text)) throw fail('invalid syntax');
  return value;
}

function digitValue(character: string): number {
  const code = character.charCodeAt(0);
  if (code >= 48 && code <= 57) return code - 48;
  const lower = code | 0x20;
  if (lower >= 97 && lower <= 122) return lower - 97 + 10;
  return 99;
}

/** strconv's underscoreOK: `_` only between digits (a base prefix counts as a digit). */
function underscoresWellPlaced(text: string): boolean {
  let saw: 'start' | 'digit' | 'underscore' | 'other' = 'start';
  let index = 0;
  let hex = false;
  if (text.length >= 2 && text[0] === '0' && 'bBoOxX'.includes(text[1])) {
    index = 2;
    saw = 'digit';
    hex = text[1] === 'x' || text[1] === 'X';
  }
  for (; index < text.length; index++) {
    const character = text[index];
    const lower = character.toLowerCase();
    if ((character >= '0' && character <= '9') || (hex && lower >= 'a' && lower <= 'f')) {
      saw = 'digit';
    } else if (character === '_') {
      if (saw !== 'digit') return false;
      saw = 'underscore';
    } else {
      if (saw === 'underscore') return false;
      saw = 'other';
    }
  }
  return saw !== 'underscore';
}

/**
 * The first record of Go's encoding/csv reader, which pflag uses for string-slice flags (`a,"b,c"` → [a, b,c]).
 * Error texts follow encoding/csv's ParseError.
 */
export function readCsvRecord(text: string): string[] {
  const line = text.split('\n')[0].replace(/\r$/, '');
  const fields: string[] = [];
  let index = 0;
  for (;;) {
    if (line[index] === '"') {
      let field = '';
      let position = index + 1;
      for (;;) {
        const quote = line.indexOf('"', position);
        if (quote < 0) throw csvError(line.length + 1, 'extraneous or missing " in quoted-field');
        field += line.slice(position, quote);
        if (line[quote + 1] === '"') {
          field += '"';
          position = quote + 2;
        } else if (quote + 1 === line.length || line[quote + 1] === ',') {
          index = quote + 1;
          break;
        } else {
          throw csvError(quote + 2, 'extraneous or missing " in quoted-field');
        }
      }
      fields.push(field);
    } else {
      const comma = line.indexOf(',', index);
      const field = comma < 0 ? line.slice(index) : line.slice(index, comma);
      const bareQuote = field.indexOf('"');
      if (bareQuote >= 0) throw csvError(index + bareQuote + 1, 'bare " in non-quoted-field');
      fields.push(field);
      index = comma < 0 ? line.length : comma;
    }
    if (index >= line.length) return fields;
    index += 1; // the comma
  }
}

function csvError(column: number, problem: string): Error {
  return new Error(`parse error on line 1, column ${column}: ${problem}`);
}

/** Go's %q for a single byte, as pflag prints an unknown shorthand letter: `'x'`. */
export function goQuoteCharacter(character: string): string {
  if (character === "'") return "'\\''";
  if (character === '\\') return "'\\\\'";
  const code = character.charCodeAt(0);
  if (code < 0x20 || code === 0x7f) return `'\\x${code.toString(16).padStart(2, '0')}'`;
  return `'${character}'`;
}
