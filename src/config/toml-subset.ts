// A small TOML reader for config files: key = value pairs, [tables], [[arrays of tables]], strings, numbers,
// booleans, dates, arrays and inline tables, with values turned into the strings WAL-G would see.

import { type ConfigMap, type ConfigValue, ConfigSyntaxError, isConfigMap } from './config-values.ts';
import { formatGoFloat } from './go-values.ts';

const BARE_KEY = /^[A-Za-z0-9_-]+/;
const DECIMAL_INTEGER = /^[+-]?(?:0|[1-9](?:_?[0-9])*)$/;
const PREFIXED_INTEGER = /^0(?:x[0-9A-Fa-f](?:_?[0-9A-Fa-f])*|o[0-7](?:_?[0-7])*|b[01](?:_?[01])*)$/;
const FLOAT = /^[+-]?(?:0|[1-9](?:_?[0-9])*)(?:\.[0-9](?:_?[0-9])*)?(?:[eE][+-]?[0-9](?:_?[0-9])*)?$/;
const SPECIAL_FLOAT = /^[+-]?(?:inf|nan)$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})?)?$|^\d{2}:\d{2}:\d{2}(?:\.\d+)?$/;

const BASIC_ESCAPES: Readonly<Record<string, string>> = {
  b: '\b', t: '\t', n: '\n', f: '\f', r: '\r', '"': '"', '\\': '\\',
};

/** Reads a TOML document into nested maps; throws ConfigSyntaxError with `(line, column): reason`. */
export function parseToml(source: string): ConfigMap {
  return new TomlReader(source).readDocument();
}

class TomlReader {
  private index = 0;
  private readonly root: ConfigMap = new Map();
  /** Tables and keys already defined, to reject redefinitions as go-toml does. */
  private readonly definedTables = new Set<ConfigMap>();

  private readonly text: string;

  constructor(text: string) {
    this.text = text;
  }

  readDocument(): ConfigMap {
    let table = this.root;
    for (;;) {
      this.skipBlankAndComments();
      if (this.index >= this.text.length) return this.root;
      const character = this.text[this.index];
      if (character === '[') {
        table = this.readTableHeader();
      } else {
        this.readKeyValue(table);
      }
      this.expectLineEnd();
    }
  }

  private fail(message: string): ConfigSyntaxError {
    const before = this.text.slice(0, this.index);
    const line = before.split('\n').length;
    const column = this.index - before.lastIndexOf('\n');
    return new ConfigSyntaxError(`(${line}, ${column}): ${message}`);
  }

  private skipSpaces(): void {
    while (this.text[this.index] === ' ' || this.text[this.index] === '\t') this.index++;
  }

  private skipComment(): void {
    if (this.text[this.index] === '#') {
      while (this.index < this.text.length && this.text[this.index] !== '\n') this.index++;
    }
  }

  private skipBlankAndComments(): void {
    for (;;) {
      this.skipSpaces();
      this.skipComment();
      if (this.text[this.index] === '\r' && this.text[this.index + 1] === '\n') this.index += 2;
      else if (this.text[this.index] === '\n') this.index++;
      else return;
    }
  }

  /** Spaces, newlines and comments inside arrays. */
  private skipWhitespaceInArray(): void {
    for (;;) {
      this.skipSpaces();
      this.skipComment();
      const character = this.text[this.index];
      if (character === '\n' || character === '\r') this.index++;
      else return;
    }
  }

  private expectLineEnd(): void {
    this.skipSpaces();
    this.skipComment();
    if (this.index >= this.text.length) return;
    if (this.text[this.index] === '\r' && this.text[this.index + 1] === '\n') this.index += 2;
    else if (this.text[this.index] === '\n') this.index++;
    else throw this.fail('expected a new line after the value');
  }

  private readKeyPath(): string[] {
    const path: string[] = [];
    for (;;) {
      this.skipSpaces();
      const character = this.text[this.index];
      if (character === '"') path.push(this.readBasicString());
      else if (character === "'") path.push(this.readLiteralString());
      else {
        const match = BARE_KEY.exec(this.text.slice(this.index, this.index + 256));
        if (match === null) throw this.fail('expected a key');
        path.push(match[0]);
        this.index += match[0].length;
      }
      this.skipSpaces();
      if (this.text[this.index] !== '.') return path;
      this.index++;
    }
  }

  private readTableHeader(): ConfigMap {
    const isArray = this.text[this.index + 1] === '[';
    this.index += isArray ? 2 : 1;
    const path = this.readKeyPath();
    if (this.text[this.index] !== ']' || (isArray && this.text[this.index + 1] !== ']')) throw this.fail('expected ] to close the table name');
    this.index += isArray ? 2 : 1;
    let table = this.root;
    for (let position = 0; position < path.length - 1; position++) table = this.descend(table, path[position]);
    const last = path[path.length - 1];
    if (isArray) {
      // An array of tables holds no setting value for us; its rows are still read so the syntax is checked.
      const existing = table.get(last);
      const rows = Array.isArray(existing) ? (existing as ConfigValue[]) : [];
      if (existing !== undefined && !Array.isArray(existing)) throw this.fail(`key ${last} is already defined`);
      const row: ConfigMap = new Map();
      rows.push(row);
      table.set(last, rows);
      return row;
    }
    const existing = table.get(last);
    if (existing !== undefined && (!isConfigMap(existing) || this.definedTables.has(existing))) {
      throw this.fail(`duplicated tables: ${path.join('.')}`);
    }
    const created = isConfigMap(existing) ? existing : new Map<string, ConfigValue>();
    table.set(last, created);
    this.definedTables.add(created);
    return created;
  }

  private descend(table: ConfigMap, key: string): ConfigMap {
    const existing = table.get(key);
    if (existing === undefined) {
      const created: ConfigMap = new Map();
      table.set(key, created);
      return created;
    }
    if (isConfigMap(existing)) return existing;
    if (Array.isArray(existing) && existing.length > 0 && isConfigMap(existing[existing.length - 1])) {
      return existing[existing.length - 1] as ConfigMap;
    }
    throw this.fail(`key ${key} is already defined`);
  }

  private readKeyValue(table: ConfigMap): void {
    const path = this.readKeyPath();
    if (this.text[this.index] !== '=') throw this.fail('expected = after a key');
    this.index++;
    this.skipSpaces();
    const value = this.readValue();
    let target = table;
    for (let position = 0; position < path.length - 1; position++) target = this.descend(target, path[position]);
    const last = path[path.length - 1];
    if (target.has(last)) throw this.fail(`key ${path.join('.')} is already defined`);
    target.set(last, value);
  }

  private readValue(): ConfigValue {
    const character = this.text[this.index];
    if (character === '"') {
      return this.text.startsWith('"""', this.index) ? this.readMultilineBasicString() : this.readBasicString();
    }
    if (character === "'") {
      return this.text.startsWith("'''", this.index) ? this.readMultilineLiteralString() : this.readLiteralString();
    }
    if (character === '[') return this.readArray();
    if (character === '{') return this.readInlineTable();
    return this.readBareValue();
  }

  private readBareValue(): string {
    const start = this.index;
    while (this.index < this.text.length && !' \t\r\n,]}#'.includes(this.text[this.index])) this.index++;
    // A date and time may be separated by one space.
    if (this.text[this.index] === ' ' && /^\d{4}-\d{2}-\d{2}$/.test(this.text.slice(start, this.index)) && /\d/.test(this.text[this.index + 1] ?? '')) {
      this.index++;
      while (this.index < this.text.length && !' \t\r\n,]}#'.includes(this.text[this.index])) this.index++;
    }
    const token = this.text.slice(start, this.index);
    if (token === 'true' || token === 'false') return token;
    if (DECIMAL_INTEGER.test(token)) return BigInt(token.replaceAll('_', '')).toString();
    if (PREFIXED_INTEGER.test(token)) return BigInt(token.replaceAll('_', '')).toString();
    if (SPECIAL_FLOAT.test(token)) return token.endsWith('nan') ? 'NaN' : token[0] === '-' ? '-Inf' : '+Inf';
    if (FLOAT.test(token)) return formatGoFloat(Number(token.replaceAll('_', '')));
    if (DATE_TIME.test(token)) return token;
    this.index = start;
    throw this.fail(token === '' ? 'expected a value' : `invalid value ${JSON.stringify(token)}`);
  }

  private readBasicString(): string {
    this.index++;
    let value = '';
    for (;;) {
      const character = this.text[this.index];
      if (character === undefined || character === '\n') throw this.fail('unterminated string');
      this.index++;
      if (character === '"') return value;
      value += character === '\\' ? this.readEscape() : character;
    }
  }

  private readEscape(): string {
    const next = this.text[this.index++];
    if (next === 'u' || next === 'U') {
      const length = next === 'u' ? 4 : 8;
      const hex = this.text.slice(this.index, this.index + length);
      if (hex.length !== length || !/^[0-9A-Fa-f]+$/.test(hex)) throw this.fail('invalid unicode escape');
      this.index += length;
      return String.fromCodePoint(parseInt(hex, 16));
    }
    const escaped = BASIC_ESCAPES[next];
    if (escaped === undefined) throw this.fail(`invalid escape sequence \\${next ?? ''}`);
    return escaped;
  }

  private readMultilineBasicString(): string {
    this.index += 3;
    if (this.text[this.index] === '\n') this.index++;
    else if (this.text.startsWith('\r\n', this.index)) this.index += 2;
    let value = '';
    for (;;) {
      if (this.index >= this.text.length) throw this.fail('unterminated multi-line string');
      if (this.text.startsWith('"""', this.index)) {
        this.index += 3;
        // Up to two extra quotes right before the closing delimiter belong to the string.
        for (let extra = 0; extra < 2 && this.text[this.index] === '"'; extra++) {
          value += '"';
          this.index++;
        }
        return value;
      }
      const character = this.text[this.index++];
      if (character === '\\') {
        // A backslash at the end of a line trims the break and the following whitespace.
        const lineEnd = /^[ \t]*\r?\n/.exec(this.text.slice(this.index, this.index + 64));
        if (lineEnd !== null) {
          this.index += lineEnd[0].length;
          while (' \t\r\n'.includes(this.text[this.index] ?? 'x')) this.index++;
          continue;
        }
        value += this.readEscape();
        continue;
      }
      value += character;
    }
  }

  private readLiteralString(): string {
    this.index++;
    const end = this.text.indexOf("'", this.index);
    const lineEnd = this.text.indexOf('\n', this.index);
    if (end < 0 || (lineEnd >= 0 && lineEnd < end)) throw this.fail('unterminated literal string');
    const value = this.text.slice(this.index, end);
    this.index = end + 1;
    return value;
  }

  private readMultilineLiteralString(): string {
    this.index += 3;
    if (this.text[this.index] === '\n') this.index++;
    else if (this.text.startsWith('\r\n', this.index)) this.index += 2;
    const end = this.text.indexOf("'''", this.index);
    if (end < 0) throw this.fail('unterminated multi-line literal string');
    let closing = end + 3;
    while (this.text[closing] === "'") closing++;
    const value = this.text.slice(this.index, closing - 3);
    this.index = closing;
    return value;
  }

  private readArray(): ConfigValue[] {
    this.index++;
    const items: ConfigValue[] = [];
    for (;;) {
      this.skipWhitespaceInArray();
      if (this.text[this.index] === ']') {
        this.index++;
        return items;
      }
      items.push(this.readValue());
      this.skipWhitespaceInArray();
      if (this.text[this.index] === ',') this.index++;
      else if (this.text[this.index] !== ']') throw this.fail('expected , or ] in an array');
    }
  }

  private readInlineTable(): ConfigMap {
    this.index++;
    const table: ConfigMap = new Map();
    this.skipSpaces();
    if (this.text[this.index] === '}') {
      this.index++;
      return table;
    }
    for (;;) {
      this.readKeyValue(table);
      this.skipSpaces();
      if (this.text[this.index] === '}') {
        this.index++;
        return table;
      }
      if (this.text[this.index] !== ',') throw this.fail('expected , or } in an inline table');
      this.index++;
      this.skipSpaces();
    }
  }
}
