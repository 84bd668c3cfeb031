// Reads and prints setting values exactly as WAL-G's Go code does (strconv, time.ParseDuration, viper and cast),
// so walnut accepts, rejects and reports the same values with the same error texts.

/** The reason part of Go's strconv errors. */
type GoNumberProblem = 'invalid syntax' | 'value out of range';

/** An error whose message is Go's own text, e.g. `strconv.ParseBool: parsing "x": invalid syntax`. */
export class GoParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GoParseError';
  }
}

const HEX_DIGITS = '0123456789abcdef';

/** strconv.Quote for the characters settings realistically hold: Go escapes, printable text kept as is. */
export function goQuote(text: string): string {
  let quoted = '"';
  for (const character of text) {
    const code = character.codePointAt(0)!;
    switch (character) {
      case '"': quoted += '\\"'; continue;
      case '\\': quoted += '\\\\'; continue;
      case '\x07': quoted += '\\a'; continue;
      case '\b': quoted += '\\b'; continue;
      case '\f': quoted += '\\f'; continue;
      case '\n': quoted += '\\n'; continue;
      case '\r': quoted += '\\r'; continue;
      case '\t': quoted += '\\t'; continue;
      case '\v': quoted += '\\v'; continue;
    }
    if (code < 0x20 || code === 0x7f) {
      quoted += `\\x${HEX_DIGITS[code >> 4]}${HEX_DIGITS[code & 0xf]}`;
    } else if (code >= 0x80 && code < 0xa0) {
      quoted += `\\u00${HEX_DIGITS[code >> 4]}${HEX_DIGITS[code & 0xf]}`;
    } else {
      quoted += character;
    }
  }
  return quoted + '"';
}

/** The time package's own quoting: every non-ASCII or control byte becomes `\xNN`. */
function timeQuote(text: string): string {
  let quoted = '"';
  for (const character of text) {
    const code = character.codePointAt(0)!;
    if (code >= 0x80 || code < 0x20) {
      for (const byte of Buffer.from(character, 'utf8')) {
        quoted += `\\x${HEX_DIGITS[byte >> 4]}${HEX_DIGITS[byte & 0xf]}`;
      }
    } else {
      if (character === '"' || character === '\\') quoted += '\\';
      quoted += character;
    }
  }
  return quoted + '"';
}

function strconvError(functionName: string, text: string, problem: GoNumberProblem): GoParseError {
  return new GoParseError(`${functionName}: parsing ${goQuote(text)}: ${problem}`);
}

// ---------------------------------------------------------------------------------------------------------
// Booleans

/** strconv.ParseBool: only the twelve spellings Go accepts. */
export function parseGoBool(text: string): boolean {
  switch (text) {
    case '1': case 't': case 'T': case 'true': case 'TRUE': case 'True':
      return true;
    case '0': case 'f': case 'F': case 'false': case 'FALSE': case 'False':
      return false;
  }
  throw strconvError('strconv.ParseBool', text, 'invalid syntax');
}

/** viper.GetBool on a string: anything Go cannot parse is silently false. */
export function lenientGoBool(text: string | undefined): boolean {
  if (text === undefined) return false;
  try {
    return parseGoBool(text);
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Integers

const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN_MAGNITUDE = 1n << 63n;
const UINT64_MAX = (1n << 64n) - 1n;

/** Go's rule for `_` digit separators in base-prefixed literals (strconv.underscoreOK). */
function underscoresAreWellPlaced(text: string): boolean {
  let previous: 'start' | 'digit' | 'underscore' | 'other' = 'start';
  let index = 0;
  let body = text;
  if (body.length >= 1 && (body[0] === '-' || body[0] === '+')) body = body.slice(1);
  let hex = false;
  if (body.length >= 2 && body[0] === '0' && 'bBoOxX'.includes(body[1])) {
    index = 2;
    previous = 'digit';
    hex = body[1] === 'x' || body[1] === 'X';
  }
  for (; index < body.length; index++) {
    const character = body[index];
    const lower = character.toLowerCase();
    if ((character >= '0' && character <= '9') || (hex && lower >= 'a' && lower <= 'f')) {
      previous = 'digit';
      continue;
    }
    if (character === '_') {
      if (previous !== 'digit') return false;
      previous = 'underscore';
      continue;
    }
    if (previous === 'underscore') return false;
    previous = 'other';
  }
  return previous !== 'underscore';
}

function digitValue(character: string): number {
  const code = character.charCodeAt(0);
  if (code >= 48 && code <= 57) return code - 48;
  const lower = code | 0x20;
  if (lower >= 97 && lower <= 122) return lower - 97 + 10;
  return 99;
}

/**
 * strconv.ParseInt(text, base, 64) for base 0 (Go literal prefixes 0x, 0o, 0b, leading-0 octal, `_` separators)
 * or base 10. Throws GoParseError with Go's text under the given function name.
 */
export function parseGoInt(text: string, base: 0 | 10, functionName = 'strconv.ParseInt'): number {
  if (text === '') throw strconvError(functionName, text, 'invalid syntax');
  let body = text;
  let negative = false;
  if (body[0] === '+' || body[0] === '-') {
    negative = body[0] === '-';
    body = body.slice(1);
  }
  if (body === '') throw strconvError(functionName, text, 'invalid syntax');
  let radix = 10;
  if (base === 0 && body[0] === '0') {
    const marker = body.length >= 3 ? body[1].toLowerCase() : '';
    if (marker === 'b') { radix = 2; body = body.slice(2); }
    else if (marker === 'o') { radix = 8; body = body.slice(2); }
    else if (marker === 'x') { radix = 16; body = body.slice(2); }
    else { radix = 8; body = body.slice(1); }
  }
  let magnitude = 0n;
  let sawUnderscore = false;
  const bigRadix = BigInt(radix);
  for (const character of body) {
    if (character === '_' && base === 0) {
      sawUnderscore = true;
      continue;
    }
    const digit = digitValue(character);
    if (digit >= radix) throw strconvError(functionName, text, 'invalid syntax');
    magnitude = magnitude * bigRadix + BigInt(digit);
    // Go reads the digits as an unsigned 64-bit number first and stops at its overflow.
    if (magnitude > UINT64_MAX) throw strconvError(functionName, text, 'value out of range');
  }
  if (sawUnderscore && !underscoresAreWellPlaced(text)) throw strconvError(functionName, text, 'invalid syntax');
  if (negative ? magnitude > INT64_MIN_MAGNITUDE : magnitude > INT64_MAX) {
    throw strconvError(functionName, text, 'value out of range');
  }
  return Number(negative ? -magnitude : magnitude);
}

/** viper.GetInt on a string (cast.ToInt: base-0 ParseInt): anything unparsable is silently 0. */
export function lenientGoInt(text: string | undefined): number {
  if (text === undefined) return 0;
  try {
    return parseGoInt(text, 0);
  } catch {
    return 0;
  }
}

/** strconv.Atoi: plain decimal with an optional sign. */
export function goAtoi(text: string): number {
  return parseGoInt(text, 10, 'strconv.Atoi');
}

// ---------------------------------------------------------------------------------------------------------
// Floats

const DECIMAL_FLOAT = /^[+-]?(?:\d(?:_?\d)*(?:\.(?:\d(?:_?\d)*)?)?|\.\d(?:_?\d)*)(?:[eE][+-]?\d(?:_?\d)*)?$/;
const INFINITY_WORD = /^[+-]?(?:inf|infinity)$/i;

/** strconv.ParseFloat(text, 64) for decimal literals, inf/infinity and nan (hex floats are not accepted). */
export function parseGoFloat(text: string): number {
  if (INFINITY_WORD.test(text)) return text[0] === '-' ? -Infinity : Infinity;
  if (text.length === 3 && text.toLowerCase() === 'nan') return NaN;
  if (!DECIMAL_FLOAT.test(text)) throw strconvError('strconv.ParseFloat', text, 'invalid syntax');
  const value = Number(text.includes('_') ? text.replaceAll('_', '') : text);
  if (!Number.isFinite(value)) throw strconvError('strconv.ParseFloat', text, 'value out of range');
  return value;
}

/** viper.GetFloat64 on a string: anything unparsable is silently 0. */
export function lenientGoFloat(text: string | undefined): number {
  if (text === undefined) return 0;
  try {
    return parseGoFloat(text);
  } catch {
    return 0;
  }
}

/** strconv.FormatFloat(value, 'f', -1, 64): shortest digits, never an exponent (how Go prints JSON numbers). */
export function formatGoFloat(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  const shortest = String(value);
  const exponentAt = shortest.indexOf('e');
  if (exponentAt < 0) return shortest;
  const negative = shortest[0] === '-';
  const mantissa = shortest.slice(negative ? 1 : 0, exponentAt);
  const exponent = Number(shortest.slice(exponentAt + 1));
  const pointAt = mantissa.indexOf('.');
  const digits = pointAt < 0 ? mantissa : mantissa.slice(0, pointAt) + mantissa.slice(pointAt + 1);
  const integerDigits = (pointAt < 0 ? mantissa.length : pointAt) + exponent;
  let plain: string;
  if (integerDigits <= 0) plain = '0.' + '0'.repeat(-integerDigits) + digits;
  else if (integerDigits >= digits.length) plain = digits + '0'.repeat(integerDigits - digits.length);
  else plain = digits.slice(0, integerDigits) + '.' + digits.slice(integerDigits);
  return negative ? '-' + plain : plain;
}

// ---------------------------------------------------------------------------------------------------------
// Durations

const NANOSECONDS_PER_UNIT: ReadonlyMap<string, bigint> = new Map([
  ['ns', 1n],
  ['us', 1_000n],
  ['\u00b5s', 1_000n], // micro sign
  ['\u03bcs', 1_000n], // Greek mu
  ['ms', 1_000_000n],
  ['s', 1_000_000_000n],
  ['m', 60_000_000_000n],
  ['h', 3_600_000_000_000n],
]);

const DURATION_LIMIT = 1n << 63n;

function isDigit(character: string | undefined): boolean {
  return character !== undefined && character >= '0' && character <= '9';
}

/**
 * time.ParseDuration: a signed sequence of decimal numbers with units (`300ms`, `1h30m`, `1.5s`, `-1s`, bare `0`).
 * Returns nanoseconds; throws GoParseError with Go's text (`time: invalid duration "x"`, `time: missing unit ...`).
 */
export function parseGoDuration(text: string): number {
  const invalid = (): GoParseError => new GoParseError(`time: invalid duration ${timeQuote(text)}`);
  let rest = text;
  let negative = false;
  if (rest !== '' && (rest[0] === '-' || rest[0] === '+')) {
    negative = rest[0] === '-';
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') throw invalid();
  let total = 0n;
  while (rest !== '') {
    if (!(rest[0] === '.' || isDigit(rest[0]))) throw invalid();
    // Whole part: Go gives up once the value cannot fit in 63 bits.
    let whole = 0n;
    let index = 0;
    while (isDigit(rest[index])) {
      if (whole > DURATION_LIMIT / 10n) throw invalid();
      whole = whole * 10n + BigInt(rest.charCodeAt(index) - 48);
      if (whole > DURATION_LIMIT) throw invalid();
      index++;
    }
    const sawWhole = index > 0;
    rest = rest.slice(index);
    // Fraction: digits past what fits are dropped, as Go does.
    let fraction = 0n;
    let scale = 1;
    let sawFraction = false;
    if (rest[0] === '.') {
      rest = rest.slice(1);
      index = 0;
      let overflowed = false;
      while (isDigit(rest[index])) {
        if (!overflowed) {
          if (fraction > (DURATION_LIMIT - 1n) / 10n) overflowed = true;
          else {
            const next = fraction * 10n + BigInt(rest.charCodeAt(index) - 48);
            if (next > DURATION_LIMIT) overflowed = true;
            else {
              fraction = next;
              scale *= 10;
            }
          }
        }
        index++;
      }
      sawFraction = index > 0;
      rest = rest.slice(index);
    }
    if (!sawWhole && !sawFraction) throw invalid();
    index = 0;
    while (index < rest.length && rest[index] !== '.' && !isDigit(rest[index])) index++;
    if (index === 0) throw new GoParseError(`time: missing unit in duration ${timeQuote(text)}`);
    const unitName = rest.slice(0, index);
    rest = rest.slice(index);
    const unit = NANOSECONDS_PER_UNIT.get(unitName);
    if (unit === undefined) {
      throw new GoParseError(`time: unknown unit ${timeQuote(unitName)} in duration ${timeQuote(text)}`);
    }
    if (whole > DURATION_LIMIT / unit) throw invalid();
    let value = whole * unit;
    if (fraction > 0n) {
      value += BigInt(Math.trunc(Number(fraction) * (Number(unit) / scale)));
      if (value > DURATION_LIMIT) throw invalid();
    }
    total += value;
    if (total > DURATION_LIMIT) throw invalid();
  }
  if (negative) return -Number(total);
  if (total > DURATION_LIMIT - 1n) throw invalid();
  return Number(total);
}

function formatFraction(value: bigint, digits: number): { text: string; rest: bigint } {
  // Prints the low `digits` decimal digits of value as a fraction, dropping trailing zeros (Go's fmtFrac).
  let text = '';
  let printing = false;
  let remaining = value;
  for (let index = 0; index < digits; index++) {
    const digit = remaining % 10n;
    printing = printing || digit !== 0n;
    if (printing) text = String(digit) + text;
    remaining /= 10n;
  }
  if (printing) text = '.' + text;
  return { text, rest: remaining };
}

/** time.Duration.String for a number of nanoseconds: `0s`, `1.5s`, `1m0s`, `1h30m0s`, `300ms`, `1µs`. */
export function formatGoDuration(nanoseconds: number): string {
  let magnitude = BigInt(Math.round(Math.abs(nanoseconds)));
  const sign = nanoseconds < 0 ? '-' : '';
  if (magnitude === 0n) return '0s';
  if (magnitude < 1_000_000_000n) {
    // Sub-second values use the largest unit that keeps a non-zero whole part.
    let digits: number;
    let unit: string;
    if (magnitude < 1_000n) return `${sign}${magnitude}ns`;
    if (magnitude < 1_000_000n) { digits = 3; unit = '\u00b5s'; }
    else { digits = 6; unit = 'ms'; }
    const { text, rest } = formatFraction(magnitude, digits);
    return `${sign}${rest}${text}${unit}`;
  }
  const { text: fraction, rest: seconds } = formatFraction(magnitude, 9);
  magnitude = seconds;
  let result = `${magnitude % 60n}${fraction}s`;
  magnitude /= 60n;
  if (magnitude > 0n) {
    result = `${magnitude % 60n}m${result}`;
    magnitude /= 60n;
    if (magnitude > 0n) result = `${magnitude}h${result}`;
  }
  return sign + result;
}

// ---------------------------------------------------------------------------------------------------------
// Sizes

/**
 * viper.GetSizeInBytes: a number with an optional `b`, `kb`, `mb` or `gb` suffix (any case, powers of 1024).
 * Lenient like viper: unparsable or negative numbers are 0. Quirk kept: a one-digit `1b` reads as 0.
 */
export function viperSizeInBytes(text: string): number {
  let body = text.trim();
  let multiplier = 1;
  const last = body.length - 1;
  if (last > 0 && (body[last] === 'b' || body[last] === 'B') && last > 1) {
    const unit = body[last - 1].toLowerCase();
    if (unit === 'k') multiplier = 1024;
    else if (unit === 'm') multiplier = 1024 * 1024;
    else if (unit === 'g') multiplier = 1024 * 1024 * 1024;
    body = (multiplier === 1 ? body.slice(0, last) : body.slice(0, last - 1)).trim();
  }
  const size = lenientGoInt(body);
  return size < 0 ? 0 : size * multiplier;
}
