// Exact JSON for WAL-G's documents: a reader that keeps numbers as their digits and objects in key order, and writers
// that print what Go's encoding/json (v1, and v2 for files_metadata.json) prints.
//
// JSON.parse cannot be used for sentinels and metadata: LSNs and system identifiers are unsigned 64-bit integers and
// lose their low digits as doubles, and plain objects reorder integer-like keys ("16384" before "base_prefix").

import { WalgError } from '../errors.ts';

/** A JSON number exactly as written; convert with the typed readers below. */
export class JsonNumber {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

/** An object in document order. Duplicate keys keep the last value, as Go does. */
export type JsonObject = Map<string, JsonValue>;
export type JsonValue = null | boolean | string | JsonNumber | JsonValue[] | JsonObject;

/** A document that is not JSON, or not the shape a reader expects; the message is Go-like. */
export class JsonFormatError extends WalgError {
  constructor(message: string) {
    super(message);
    this.name = 'JsonFormatError';
  }
}

// ---------------------------------------------------------------------------------------------------------
// Reading

/** Parses a complete JSON text. Errors read like Go's: `invalid character 'x' looking for beginning of value`. */
export function parseJson(text: string): JsonValue {
  const parser = new Parser(text);
  parser.skipSpace();
  const value = parser.value();
  parser.skipSpace();
  if (parser.position < text.length) throw parser.invalid('after top-level value');
  return value;
}

class Parser {
  readonly text: string;
  position = 0;

  constructor(text: string) {
    this.text = text;
  }

  skipSpace(): void {
    const text = this.text;
    while (this.position < text.length) {
      const code = text.charCodeAt(this.position);
      if (code !== 0x20 && code !== 0x0a && code !== 0x0d && code !== 0x09) break;
      this.position++;
    }
  }

  invalid(context: string): JsonFormatError {
    if (this.position >= this.text.length) return new JsonFormatError('unexpected end of JSON input');
    const character = this.text[this.position];
    const shown = character === "'" ? "'\\''" : `'${character}'`;
    return new JsonFormatError(`invalid character ${shown} ${context}`);
  }

  value(): JsonValue {
    const code = this.text.charCodeAt(this.position);
    switch (code) {
      case 0x7b: // {
        return this.object();
      case 0x5b: // [
        return this.array();
      case 0x22: // "
        return this.string();
      case 0x74: // t
        return this.literal('true', true);
      case 0x66: // f
        return this.literal('false', false);
      case 0x6e: // n
        return this.literal('null', null);
      default:
        if (code === 0x2d || (code >= 0x30 && code <= 0x39)) return this.number();
        throw this.invalid('looking for beginning of value');
    }
  }

  literal<T>(word: string, result: T): T {
    for (let index = 0; index < word.length; index++) {
      if (this.text[this.position] !== word[index]) throw this.invalid(`in literal ${word} (expecting '${word[index]}')`);
      this.position++;
    }
    return result;
  }

  number(): JsonNumber {
    const match = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
    match.lastIndex = this.position;
    const found = match.exec(this.text);
    if (found === null || found[0] === '-') {
      this.position++;
      throw this.invalid('in numeric literal');
    }
    this.position += found[0].length;
    return new JsonNumber(found[0]);
  }

  string(): string {
    const text = this.text;
    let position = this.position + 1;
    let result = '';
    let runStart = position;
    for (;;) {
      if (position >= text.length) {
        this.position = position;
        throw new JsonFormatError('unexpected end of JSON input');
      }
      const code = text.charCodeAt(position);
      if (code === 0x22) break;
      if (code < 0x20) {
        this.position = position;
        throw this.invalid('in string literal');
      }
      if (code !== 0x5c) {
        position++;
        continue;
      }
      result += text.slice(runStart, position);
      const escape = text[position + 1];
      switch (escape) {
        case '"':
        case '\\':
        case '/':
          result += escape;
          position += 2;
          break;
        case 'b':
          result += '\b';
          position += 2;
          break;
        case 'f':
          result += '\f';
          position += 2;
          break;
        case 'n':
          result += '\n';
          position += 2;
          break;
        case 'r':
          result += '\r';
          position += 2;
          break;
        case 't':
          result += '\t';
          position += 2;
          break;
        case 'u': {
          const hex = text.slice(position + 2, position + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) {
            this.position = position + 2;
            throw this.invalid('in \\u hexadecimal character escape');
          }
          result += String.fromCharCode(parseInt(hex, 16));
          position += 6;
          break;
        }
        default:
          this.position = position + 1;
          throw this.invalid('in string escape code');
      }
      runStart = position;
    }
    result += text.slice(runStart, position);
    this.position = position + 1;
    return result;
  }

  array(): JsonValue[] {
    this.position++;
    const items: JsonValue[] = [];
    this.skipSpace();
    if (this.text.charCodeAt(this.position) === 0x5d) {
      this.position++;
      return items;
    }
    for (;;) {
      this.skipSpace();
      items.push(this.value());
      this.skipSpace();
      const code = this.text.charCodeAt(this.position);
      if (code === 0x2c) {
        this.position++;
        continue;
      }
      if (code === 0x5d) {
        this.position++;
        return items;
      }
      throw this.invalid('after array element');
    }
  }

  object(): JsonObject {
    this.position++;
    const entries: JsonObject = new Map();
    this.skipSpace();
    if (this.text.charCodeAt(this.position) === 0x7d) {
      this.position++;
      return entries;
    }
    for (;;) {
      this.skipSpace();
      if (this.text.charCodeAt(this.position) !== 0x22) throw this.invalid('looking for beginning of object key string');
      const key = this.string();
      this.skipSpace();
      if (this.text.charCodeAt(this.position) !== 0x3a) throw this.invalid('after object key');
      this.position++;
      this.skipSpace();
      const value = this.value();
      // Go keeps the last of duplicate keys; deleting first moves the key to where the winning value stands.
      entries.delete(key);
      entries.set(key, value);
      this.skipSpace();
      const code = this.text.charCodeAt(this.position);
      if (code === 0x2c) {
        this.position++;
        continue;
      }
      if (code === 0x7d) {
        this.position++;
        return entries;
      }
      throw this.invalid('after object key:value pair');
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Typed access, with encoding/json v1's matching: an exact key first, otherwise a case-insensitive one.

export function isJsonObject(value: JsonValue | undefined): value is JsonObject {
  return value instanceof Map;
}

/** The value of a struct field as Go's decoder finds it; undefined when absent. */
export function fieldOf(object: JsonObject, name: string): JsonValue | undefined {
  if (object.has(name)) return object.get(name);
  const folded = name.toLowerCase();
  let found: JsonValue | undefined;
  for (const [key, value] of object) {
    // Go takes the last case-insensitive match among duplicates, as it overwrites the field each time.
    if (key.toLowerCase() === folded) found = value;
  }
  return found;
}

/** Describes a JSON value's kind the way Go's UnmarshalTypeError does ("number", "string", "object", ...). */
export function jsonKind(value: JsonValue): string {
  if (value === null) return 'null';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'string') return 'string';
  if (value instanceof JsonNumber) return 'number';
  if (Array.isArray(value)) return 'array';
  return 'object';
}

function typeError(value: JsonValue, field: string, goType: string): JsonFormatError {
  const shown = value instanceof JsonNumber ? `number ${value.text}` : jsonKind(value);
  return new JsonFormatError(`json: cannot unmarshal ${shown} into Go struct field ${field} of type ${goType}`);
}

/** An unsigned 64-bit integer field (LSNs, system identifier), exact. null and absence are undefined. */
export function readUint64(object: JsonObject, name: string, where: string): bigint | undefined {
  const value = fieldOf(object, name);
  if (value === undefined || value === null) return undefined;
  if (!(value instanceof JsonNumber) || !/^(0|[1-9][0-9]*)$/.test(value.text)) throw typeError(value, `${where}.${name}`, 'uint64');
  const result = BigInt(value.text);
  if (result > 0xffffffffffffffffn) throw typeError(value, `${where}.${name}`, 'uint64');
  return result;
}

/** A signed integer field that fits a double exactly (sizes, versions, counts). */
export function readInteger(object: JsonObject, name: string, where: string, goType = 'int'): number | undefined {
  const value = fieldOf(object, name);
  if (value === undefined || value === null) return undefined;
  if (!(value instanceof JsonNumber) || !/^-?(0|[1-9][0-9]*)$/.test(value.text)) throw typeError(value, `${where}.${name}`, goType);
  const result = Number(value.text);
  if (!Number.isSafeInteger(result)) {
    throw new JsonFormatError(`${where}.${name}: ${value.text} is too large to handle exactly`);
  }
  return result;
}

export function readString(object: JsonObject, name: string, where: string): string | undefined {
  const value = fieldOf(object, name);
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw typeError(value, `${where}.${name}`, 'string');
  return value;
}

export function readBoolean(object: JsonObject, name: string, where: string): boolean | undefined {
  const value = fieldOf(object, name);
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw typeError(value, `${where}.${name}`, 'bool');
  return value;
}

/** Converts a parsed value to plain JavaScript the way Go decodes into interface{}: numbers become float64. */
export function toPlainValue(value: JsonValue): unknown {
  if (value instanceof JsonNumber) return Number(value.text);
  if (Array.isArray(value)) return value.map(toPlainValue);
  if (value instanceof Map) {
    const result: Record<string, unknown> = {};
    for (const [key, item] of value) result[key] = toPlainValue(item);
    return result;
  }
  return value;
}

/** reflect.DeepEqual over values decoded into interface{} (objects compare by key set, arrays by order). */
export function deepEqualPlain(left: unknown, right: unknown): boolean {
  if (left === right) return true;
  if (typeof left !== 'object' || typeof right !== 'object' || left === null || right === null) return false;
  if (Array.isArray(left) || Array.isArray(right)) {
    if (!Array.isArray(left) || !Array.isArray(right) || left.length !== right.length) return false;
    return left.every((item, index) => deepEqualPlain(item, right[index]));
  }
  const leftKeys = Object.keys(left);
  const rightRecord = right as Record<string, unknown>;
  if (leftKeys.length !== Object.keys(rightRecord).length) return false;
  return leftKeys.every((key) => Object.hasOwn(rightRecord, key) && deepEqualPlain((left as Record<string, unknown>)[key], rightRecord[key]));
}

// ---------------------------------------------------------------------------------------------------------
// Writing

/**
 * A JSON string as Go's encoding/json v1 writes it: `<`, `>`, `&`, U+2028 and U+2029 escaped as \u00XX, control
 * characters as \b \f \n \r \t or \u00XX, a lone surrogate (invalid UTF-8 in Go) as \ufffd.
 */
export function goJsonString(text: string): string {
  return quoteJson(text, true);
}

/** A JSON string as encoding/json/v2 writes it (files_metadata.json): no HTML escaping. */
export function goJsonV2String(text: string): string {
  return quoteJson(text, false);
}

const SHORT_ESCAPES: Record<number, string> = { 0x08: '\\b', 0x09: '\\t', 0x0a: '\\n', 0x0c: '\\f', 0x0d: '\\r', 0x22: '\\"', 0x5c: '\\\\' };

function quoteJson(text: string, escapeHtml: boolean): string {
  let result = '"';
  let runStart = 0;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    let replacement: string | undefined;
    if (code < 0x20 || code === 0x22 || code === 0x5c) {
      replacement = SHORT_ESCAPES[code] ?? `\\u00${code.toString(16).padStart(2, '0')}`;
    } else if (escapeHtml && (code === 0x3c || code === 0x3e || code === 0x26)) {
      replacement = `\\u00${code.toString(16)}`;
    } else if (escapeHtml && (code === 0x2028 || code === 0x2029)) {
      replacement = `\\u${code.toString(16)}`;
    } else if (code >= 0xd800 && code <= 0xdfff) {
      const isPair = code <= 0xdbff && index + 1 < text.length && (text.charCodeAt(index + 1) & 0xfc00) === 0xdc00;
      if (isPair) {
        index++;
        continue;
      }
      replacement = '\\ufffd';
    }
    if (replacement !== undefined) {
      result += text.slice(runStart, index) + replacement;
      runStart = index + 1;
    }
  }
  return `${result}${text.slice(runStart)}"`;
}

/**
 * A float64 as Go's encoder prints it: shortest round-trip digits, exponent form below 1e-6 and from 1e21 on,
 * `e-7` rather than `e-07`. JavaScript's Number#toString uses the same rule and the same digits.
 */
export function goJsonFloat(value: number): string {
  if (!Number.isFinite(value)) throw new JsonFormatError(`json: unsupported value: ${value}`);
  if (Object.is(value, -0)) return '-0';
  return String(value);
}

/**
 * Re-encodes a parsed value as Go re-encodes what it decoded into interface{}: object keys sorted, numbers through
 * float64, strings with v1 escaping. backup-mark rewrites user_data this way.
 */
export function encodeAsGoInterface(value: JsonValue): string {
  if (value === null) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'string') return goJsonString(value);
  if (value instanceof JsonNumber) return goJsonFloat(Number(value.text));
  if (Array.isArray(value)) return `[${value.map(encodeAsGoInterface).join(',')}]`;
  const keys = [...value.keys()].sort(compareGoStrings);
  return `{${keys.map((key) => `${goJsonString(key)}:${encodeAsGoInterface(value.get(key)!)}`).join(',')}}`;
}

/** Go sorts map keys by their UTF-8 bytes, which is code point order. */
export function compareGoStrings(left: string, right: string): number {
  const a = [...left];
  const b = [...right];
  const length = Math.min(a.length, b.length);
  for (let index = 0; index < length; index++) {
    const difference = a[index].codePointAt(0)! - b[index].codePointAt(0)!;
    if (difference !== 0) return difference;
  }
  return a.length - b.length;
}

/** Writes a parsed value back exactly as it was read: same key order, same number digits, v1 string escaping. */
export function encodeVerbatim(value: JsonValue, quote: (text: string) => string = goJsonString): string {
  if (value === null) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'string') return quote(value);
  if (value instanceof JsonNumber) return value.text;
  if (Array.isArray(value)) return `[${value.map((item) => encodeVerbatim(item, quote)).join(',')}]`;
  const parts: string[] = [];
  for (const [key, item] of value) parts.push(`${quote(key)}:${encodeVerbatim(item, quote)}`);
  return `{${parts.join(',')}}`;
}

/**
 * Indents compact JSON as Go's json.Indent / Encoder.SetIndent("", indent) does: one member per line, `": "` after
 * keys, empty objects and arrays stay `{}` and `[]`.
 */
export function indentJson(compact: string, indent: string): string {
  let result = '';
  let depth = 0;
  let inString = false;
  for (let index = 0; index < compact.length; index++) {
    const character = compact[index];
    if (inString) {
      result += character;
      if (character === '\\') {
        result += compact[++index];
      } else if (character === '"') {
        inString = false;
      }
      continue;
    }
    switch (character) {
      case '"':
        inString = true;
        result += character;
        break;
      case '{':
      case '[': {
        const closing = character === '{' ? '}' : ']';
        if (compact[index + 1] === closing) {
          result += character + closing;
          index++;
          break;
        }
        depth++;
        result += `${character}\n${indent.repeat(depth)}`;
        break;
      }
      case '}':
      case ']':
        depth--;
        result += `\n${indent.repeat(depth)}${character}`;
        break;
      case ',':
        result += `,\n${indent.repeat(depth)}`;
        break;
      case ':':
        result += ': ';
        break;
      default:
        result += character;
    }
  }
  return result;
}
