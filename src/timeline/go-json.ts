// Small pieces of Go's encoding/json and time formatting that WAL-G's JSON outputs depend on: reading a JSON object
// without losing 64-bit integers, and writing strings, integers and times the way Go writes them.

/** The members of a JSON object, each value kept as its exact source text (numbers keep every digit). */
export class RawJsonObject {
  private readonly members = new Map<string, string>();

  constructor(text: string, what = 'JSON document') {
    const scanner = new Scanner(text, what);
    scanner.skipSpace();
    scanner.expect('{');
    scanner.skipSpace();
    if (scanner.peek() === '}') {
      scanner.position++;
    } else {
      for (;;) {
        scanner.skipSpace();
        const keyStart = scanner.position;
        scanner.skipString();
        const key = JSON.parse(text.slice(keyStart, scanner.position)) as string;
        scanner.skipSpace();
        scanner.expect(':');
        scanner.skipSpace();
        const valueStart = scanner.position;
        scanner.skipValue();
        this.members.set(key, text.slice(valueStart, scanner.position));
        scanner.skipSpace();
        const next = scanner.next();
        if (next === '}') break;
        if (next !== ',') scanner.fail(`expected ',' or '}'`);
      }
    }
    scanner.skipSpace();
    if (scanner.position !== text.length) scanner.fail('unexpected data after the object');
  }

  /** The raw text of a member; like Go's decoder, an exact key match wins, else a case-insensitive one. */
  raw(key: string): string | undefined {
    const exact = this.members.get(key);
    if (exact !== undefined) return exact;
    const lower = key.toLowerCase();
    let found: string | undefined;
    for (const [name, value] of this.members) {
      if (name.toLowerCase() === lower) found = value;
    }
    return found;
  }

  string(key: string): string {
    const raw = this.raw(key);
    if (raw === undefined || raw === 'null') return '';
    const value: unknown = JSON.parse(raw);
    return typeof value === 'string' ? value : '';
  }

  bool(key: string): boolean {
    return this.raw(key) === 'true';
  }

  /** An integer member as bigint (0 when absent or null); fractions or exponents are rejected as Go does. */
  integer(key: string): bigint {
    const raw = this.raw(key);
    if (raw === undefined || raw === 'null') return 0n;
    if (!/^-?\d+$/.test(raw)) throw new Error(`field ${key}: ${raw} is not an integer`);
    return BigInt(raw);
  }

  /** An integer member that may be null: undefined for null or absent. */
  optionalInteger(key: string): bigint | undefined {
    const raw = this.raw(key);
    if (raw === undefined || raw === 'null') return undefined;
    return this.integer(key);
  }

  has(key: string): boolean {
    const raw = this.raw(key);
    return raw !== undefined && raw !== 'null';
  }
}

class Scanner {
  position = 0;
  private readonly text: string;
  private readonly what: string;

  constructor(text: string, what: string) {
    this.text = text;
    this.what = what;
  }

  fail(problem: string): never {
    throw new Error(`${this.what}: invalid JSON at offset ${this.position}: ${problem}`);
  }

  peek(): string {
    return this.text[this.position];
  }

  next(): string {
    if (this.position >= this.text.length) this.fail('unexpected end');
    return this.text[this.position++];
  }

  expect(character: string): void {
    if (this.next() !== character) this.fail(`expected '${character}'`);
  }

  skipSpace(): void {
    while (this.position < this.text.length && ' \t\r\n'.includes(this.text[this.position])) this.position++;
  }

  skipString(): void {
    this.expect('"');
    for (;;) {
      const character = this.next();
      if (character === '\\') this.next();
      else if (character === '"') return;
    }
  }

  skipValue(): void {
    const first = this.peek();
    if (first === '"') return this.skipString();
    if (first === '{' || first === '[') {
      // Nested values are kept as text only, so matching brackets (outside strings) is enough.
      let depth = 0;
      do {
        const character = this.peek();
        if (character === '"') {
          this.skipString();
          continue;
        }
        this.next();
        if (character === '{' || character === '[') depth++;
        else if (character === '}' || character === ']') depth--;
      } while (depth > 0);
      return;
    }
    const match = /^(?:-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(this.text.slice(this.position, this.position + 400));
    if (!match) this.fail('unexpected value');
    this.position += match[0].length;
  }
}

/** A string as Go's encoding/json writes it: HTML characters and U+2028/U+2029 escaped. */
export function goJsonString(text: string): string {
  return JSON.stringify(text)
    .replaceAll('<', '\\u003c')
    .replaceAll('>', '\\u003e')
    .replaceAll('&', '\\u0026')
    .replaceAll('\u2028', '\\u2028')
    .replaceAll('\u2029', '\\u2029');
}

/**
 * Any JSON value re-encoded as Go does after decoding it into interface{}: object keys sorted, numbers as float64
 * (which is what JavaScript numbers are), strings Go-escaped.
 */
export function goJsonReencode(rawJson: string): string {
  return encodeGoValue(JSON.parse(rawJson) as unknown);
}

function encodeGoValue(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return goJsonString(value);
  if (typeof value === 'number' || typeof value === 'boolean') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(encodeGoValue).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([key, member]) => `${goJsonString(key)}:${encodeGoValue(member)}`).join(',')}}`;
}

/** Go's time.RFC3339Nano rendering of an instant in UTC: fraction without trailing zeros, `Z` suffix. */
export function goTimeRfc3339Nano(date: Date, extraNanoseconds = 0): string {
  const iso = date.toISOString(); // 2024-01-31T12:34:56.789Z
  const nanos = date.getUTCMilliseconds() * 1_000_000 + extraNanoseconds;
  const fraction = nanos === 0 ? '' : `.${String(nanos).padStart(9, '0').replace(/0+$/, '')}`;
  return `${iso.slice(0, 19)}${fraction}Z`;
}
