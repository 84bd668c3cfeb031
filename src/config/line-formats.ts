// Readers for the line-oriented config formats viper accepts: Java properties, dotenv, INI and flat HCL,
// each following the quirks of the Go library WAL-G uses for it.

import { type ConfigMap, type ConfigValue, ConfigSyntaxError } from './config-values.ts';
import { formatGoFloat } from './go-values.ts';

type Environment = Readonly<Record<string, string | undefined>>;

// ---------------------------------------------------------------------------------------------------------
// Java properties (magiconair/properties): `key = value`, `key: value` or `key value`; `#`/`!` comments;
// backslash continuation and escapes; `${name}` expands another key, else an environment variable.

const PROPERTY_ESCAPES: Readonly<Record<string, string>> = { t: '\t', n: '\n', r: '\r', f: '\f' };

function unescapeProperty(text: string): string {
  let result = '';
  for (let index = 0; index < text.length; index++) {
    const character = text[index];
    if (character !== '\\' || index + 1 >= text.length) {
      result += character;
      continue;
    }
    const next = text[++index];
    if (next === 'u') {
      const hex = text.slice(index + 1, index + 5);
      if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw new ConfigSyntaxError(`invalid unicode literal in ${JSON.stringify(text)}`);
      result += String.fromCharCode(parseInt(hex, 16));
      index += 4;
    } else {
      result += PROPERTY_ESCAPES[next] ?? next;
    }
  }
  return result;
}

function expandProperty(value: string, seen: string[], values: ReadonlyMap<string, string>, env: Environment): string {
  if (seen.length > 64) throw new ConfigSyntaxError('expansion too deep');
  let text = value;
  for (;;) {
    const start = text.indexOf('${');
    if (start < 0) return text;
    const nameEnd = text.indexOf('}', start + 2);
    if (nameEnd < 0) throw new ConfigSyntaxError('malformed expression');
    const name = text.slice(start + 2, nameEnd);
    if (seen.includes(name)) throw new ConfigSyntaxError('circular reference');
    const replacement = expandProperty(values.get(name) ?? env[name] ?? '', [...seen, name], values, env);
    text = text.slice(0, start) + replacement + text.slice(nameEnd + 1);
  }
}

/** Splits a logical properties line into its raw (still escaped) key and value. */
function splitPropertyLine(line: string): [string, string] {
  let index = 0;
  let key = '';
  while (index < line.length) {
    const character = line[index];
    if (character === '\\' && index + 1 < line.length) {
      key += character + line[index + 1];
      index += 2;
      continue;
    }
    if (character === '=' || character === ':' || character === ' ' || character === '\t' || character === '\f') break;
    key += character;
    index++;
  }
  while (line[index] === ' ' || line[index] === '\t' || line[index] === '\f') index++;
  if (line[index] === '=' || line[index] === ':') {
    index++;
    while (line[index] === ' ' || line[index] === '\t' || line[index] === '\f') index++;
  }
  return [key, line.slice(index)];
}

export function parseProperties(source: string, env: Environment): ConfigMap {
  const rawLines = source.split(/\r?\n|\r/);
  const values = new Map<string, string>();
  for (let index = 0; index < rawLines.length; index++) {
    let line = rawLines[index].replace(/^[ \t\f]+/, '');
    if (line === '' || line[0] === '#' || line[0] === '!') continue;
    // A line ending in an odd number of backslashes continues on the next line, without its leading blanks.
    while (/(?:^|[^\\])(?:\\\\)*\\$/.test(line) && index + 1 < rawLines.length) {
      line = line.slice(0, -1) + rawLines[++index].replace(/^[ \t\f]+/, '');
    }
    const [rawKey, rawValue] = splitPropertyLine(line);
    values.set(unescapeProperty(rawKey), unescapeProperty(rawValue));
  }
  const result: ConfigMap = new Map();
  for (const [key, value] of values) result.set(key, expandProperty(value, [key], values, env));
  return result;
}

// ---------------------------------------------------------------------------------------------------------
// dotenv (subosito/gotenv 1.2.0, strict): `[export] KEY=value` or `KEY: value`; quotes; `#` comments;
// `$NAME`/`${NAME}` expand earlier keys, else environment variables (not inside single quotes).

// Like gotenv's pattern, a quoted value runs to the last matching quote on the line.
const DOTENV_LINE = /^\s*(?:export\s+)?([\w.]+)(?:\s*=\s*|:\s+?)('(?:'|[^'])*'|"(?:"|[^"])*"|[^#\n]+)?\s*(?:\s*#.*)?$/;
const DOTENV_VARIABLE = /(\\)?(\$)(\{?([A-Z0-9_]+)?\}?)/g;
const DOTENV_SURROUNDING_QUOTES = /^(['"])(.*)(['"])$/;

export function parseDotenv(source: string, env: Environment): ConfigMap {
  const values = new Map<string, string>();
  const lines = source.replace(/^\uFEFF/, '').split(/\r?\n/);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  for (const line of lines) readDotenvLine(line, values, env);
  return new Map<string, ConfigValue>(values);
}

function readDotenvLine(line: string, values: Map<string, string>, env: Environment): void {
  const match = DOTENV_LINE.exec(line);
  if (match === null) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    if (trimmed.startsWith('export')) {
      const [, name] = trimmed.split(' ', 2);
      if (name !== undefined && !values.has(name)) throw new ConfigSyntaxError(`line \`${trimmed}\` has an unset variable`);
    }
    throw new ConfigSyntaxError(`line \`${line}\` doesn't match format`);
  }
  const key = match[1];
  let value = match[2] ?? '';
  const doubleQuoted = value.startsWith('"');
  const singleQuoted = value.startsWith("'");
  value = value.replace(/^ +| +$/g, '').replace(DOTENV_SURROUNDING_QUOTES, '$2');
  if (doubleQuoted) {
    value = value.replaceAll('\\n', '\n').replaceAll('\\r', '\r').replace(/\\([^$])/g, '$1');
  }
  value = value.replace(DOTENV_VARIABLE, (whole: string, escape: string | undefined, _dollar: string, _braced: string, name: string | undefined) => {
    if (escape !== undefined) return whole.slice(1);
    if (singleQuoted || name === undefined) return whole;
    return values.get(name) ?? env[name] ?? '';
  });
  // gotenv quirk: a value holding `=` and an escaped line break is split, the tail read as further lines.
  if (value.includes('=') && value !== '\n' && value !== '\r') {
    let parts = value.split('\n');
    if (parts.length === 1) parts = value.split('\r');
    if (parts.length > 1) {
      value = parts[0];
      for (const extra of parts.slice(1)) {
        try {
          readDotenvLine(extra, values, env);
        } catch {
          /* gotenv ignores errors in these extra lines */
        }
      }
    }
  }
  values.set(key, value);
}

// ---------------------------------------------------------------------------------------------------------
// INI (go-ini): `[section]` headers and `key = value` lines. As in viper, every key is stored under its section
// name, keys before any header under `DEFAULT`: so `.walg.ini` settings land in `DEFAULT.<key>`, which WAL-G warns
// about as the unknown key DEFAULT and never applies.

export function parseIni(source: string): ConfigMap {
  const result: ConfigMap = new Map();
  let section: ConfigMap = new Map();
  result.set('DEFAULT', section);
  const lines = source.replace(/^\uFEFF/, '').split(/\r?\n/);
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index].trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    if (line.startsWith('[')) {
      const close = line.indexOf(']');
      if (close < 0) throw new ConfigSyntaxError(`unclosed section: ${line}`);
      const name = line.slice(1, close).trim();
      const existing = result.get(name);
      section = existing instanceof Map ? existing : new Map();
      result.set(name, section);
      continue;
    }
    const delimiter = line.search(/[=:]/);
    if (delimiter < 0) throw new ConfigSyntaxError(`key-value delimiter not found: ${line}`);
    let key = line.slice(0, delimiter).trim();
    if ((key.startsWith('"') && key.endsWith('"')) || (key.startsWith('`') && key.endsWith('`'))) key = key.slice(1, -1);
    section.set(key, readIniValue(line.slice(delimiter + 1).trim()));
  }
  return result;
}

function readIniValue(text: string): string {
  const quote = text[0];
  if (quote === '"' || quote === "'" || quote === '`') {
    const close = text.indexOf(quote, 1);
    if (close > 0) return text.slice(1, close);
  }
  const commentAt = text.search(/[#;]/);
  let value = (commentAt >= 0 ? text.slice(0, commentAt) : text).trim();
  if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value[value.length - 1] === value[0]) value = value.slice(1, -1);
  return value;
}

// ---------------------------------------------------------------------------------------------------------
// HCL, flat subset: `KEY = "value"`, numbers, booleans and lists, with `#`, `//` and `/* */` comments.
// Blocks (`name { ... }`) are refused with a parse error.

const HCL_ASSIGNMENT = /^("(?:[^"\\]|\\.)*"|[A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$/;

export function parseHcl(source: string): ConfigMap {
  const result: ConfigMap = new Map();
  const withoutBlockComments = source.replace(/\/\*[\s\S]*?\*\//g, (comment) => comment.replace(/[^\n]/g, ' '));
  const lines = withoutBlockComments.split(/\r?\n/);
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index].trim();
    if (line === '' || line.startsWith('#') || line.startsWith('//')) continue;
    const match = HCL_ASSIGNMENT.exec(line);
    if (match === null) throw new ConfigSyntaxError(`At ${index + 1}:1: only flat key = value pairs are supported in HCL config files`);
    const key = match[1].startsWith('"') ? (JSON.parse(match[1]) as string) : match[1];
    result.set(key, readHclValue(match[2], index + 1));
  }
  return result;
}

function readHclValue(text: string, lineNumber: number): ConfigValue {
  if (text.startsWith('"')) {
    const close = /^"((?:[^"\\]|\\.)*)"\s*(?:(?:#|\/\/).*)?$/.exec(text);
    if (close === null) throw new ConfigSyntaxError(`At ${lineNumber}:1: unterminated string`);
    return JSON.parse(`"${close[1]}"`) as string;
  }
  const token = text.replace(/\s*(?:#|\/\/).*$/, '').trim();
  if (token === 'true' || token === 'false') return token;
  if (/^-?\d+$/.test(token)) return BigInt(token).toString();
  if (/^-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?$/.test(token)) return formatGoFloat(Number(token));
  if (token.startsWith('[') && token.endsWith(']')) return [];
  throw new ConfigSyntaxError(`At ${lineNumber}:1: unsupported value`);
}
