// A small, safe YAML reader for config files: block mappings, scalars, block/flow collections, anchors,
// resolving plain scalars the way gopkg.in/yaml.v2 does (so `yes`, `0755`, `1e3` read as WAL-G reads them).

import { type ConfigList, type ConfigMap, type ConfigValue, ConfigSyntaxError, isConfigMap } from './config-values.ts';
import { formatGoFloat } from './go-values.ts';

interface SourceLine {
  readonly number: number; // 1-based, for error messages
  readonly indent: number;
  readonly text: string; // the line without its indentation
}

// yaml.v2 (YAML 1.1) boolean and null spellings.
const TRUE_WORDS = new Set(['y', 'Y', 'yes', 'Yes', 'YES', 'true', 'True', 'TRUE', 'on', 'On', 'ON']);
const FALSE_WORDS = new Set(['n', 'N', 'no', 'No', 'NO', 'false', 'False', 'FALSE', 'off', 'Off', 'OFF']);
const NULL_WORDS = new Set(['', '~', 'null', 'Null', 'NULL']);
const YAML_FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$/;
const INT64_MAX = (1n << 63n) - 1n;
const UINT64_MAX = (1n << 64n) - 1n;

function yamlError(line: number, message: string): ConfigSyntaxError {
  return new ConfigSyntaxError(`yaml: line ${line}: ${message}`);
}

/** Go's base-0 integer syntax after yaml.v2 removed underscores; undefined when it is not an integer. */
function parseYamlInteger(text: string): bigint | undefined {
  let body = text;
  let negative = false;
  if (body[0] === '+' || body[0] === '-') {
    negative = body[0] === '-';
    body = body.slice(1);
  }
  if (body === '') return undefined;
  let digits = body;
  let radix = 10;
  if (body[0] === '0' && body.length > 1) {
    const marker = body[1].toLowerCase();
    if (marker === 'x' && body.length > 2) { radix = 16; digits = body.slice(2); }
    else if (marker === 'o' && body.length > 2) { radix = 8; digits = body.slice(2); }
    else if (marker === 'b' && body.length > 2) { radix = 2; digits = body.slice(2); }
    else { radix = 8; digits = body.slice(1); }
  }
  let value = 0n;
  for (const character of digits) {
    const digit = parseInt(character, radix);
    if (Number.isNaN(digit)) return undefined;
    value = value * BigInt(radix) + BigInt(digit);
  }
  if (negative ? value > INT64_MAX + 1n : value > UINT64_MAX) return undefined;
  return negative ? -value : value;
}

/** What yaml.v2 makes of an unquoted scalar, printed the way Go's cast.ToString prints it. */
export function resolvePlainScalar(text: string): string | null {
  if (NULL_WORDS.has(text)) return null;
  if (TRUE_WORDS.has(text)) return 'true';
  if (FALSE_WORDS.has(text)) return 'false';
  const first = text[0];
  if (first === '.' || first === '+' || first === '-' || (first >= '0' && first <= '9')) {
    const lower = text.toLowerCase();
    if (lower === '.inf' || lower === '+.inf') return '+Inf';
    if (lower === '-.inf') return '-Inf';
    if (lower === '.nan') return 'NaN';
    const plain = text.replaceAll('_', '');
    const integer = parseYamlInteger(plain);
    if (integer !== undefined) return integer.toString();
    if (YAML_FLOAT.test(plain)) return formatGoFloat(Number(plain));
  }
  return text;
}

const DOUBLE_QUOTE_ESCAPES: Readonly<Record<string, string>> = {
  '0': '\0', a: '\x07', b: '\b', t: '\t', '\t': '\t', n: '\n', v: '\v', f: '\f', r: '\r', e: '\x1b',
  ' ': ' ', '"': '"', '/': '/', '\\': '\\', N: '\u0085', _: '\u00a0', L: '\u2028', P: '\u2029',
};

/** Reads one block-style YAML document into a map; throws ConfigSyntaxError on anything outside the subset. */
export function parseYaml(source: string): ConfigMap {
  return new YamlReader(source).readDocument();
}

class YamlReader {
  private readonly lines: SourceLine[] = [];
  private position = 0;
  private readonly anchors = new Map<string, ConfigValue>();
  private rootIndent = -1;
  private rootMappingSeen = false;

  constructor(source: string) {
    const rawLines = source.replace(/^\uFEFF/, '').split(/\r?\n/);
    let seenContent = false;
    for (let index = 0; index < rawLines.length; index++) {
      const raw = rawLines[index];
      const number = index + 1;
      if (!seenContent && raw.startsWith('%')) continue; // directives such as %YAML 1.1
      if (/^---(?:\s|$)/.test(raw)) {
        if (seenContent) break; // only the first document counts, as with yaml.Unmarshal
        const rest = raw.slice(3).trim();
        if (rest !== '' && !rest.startsWith('#')) throw yamlError(number, 'content after a document marker is not supported');
        continue;
      }
      if (/^\.\.\.(?:\s|$)/.test(raw)) break;
      let indent = 0;
      while (raw[indent] === ' ') indent++;
      const text = raw.slice(indent);
      if (text.trim() !== '' && !text.startsWith('#')) seenContent = true;
      this.lines.push({ number, indent, text });
    }
  }

  readDocument(): ConfigMap {
    const first = this.nextContentLine();
    if (first === undefined) return new Map();
    this.rootIndent = first.indent;
    const value = this.readNode(first.indent);
    const leftover = this.nextContentLine();
    if (leftover !== undefined) throw yamlError(leftover.number, 'did not find expected key');
    if (isConfigMap(value)) return value;
    if (value === null) return new Map();
    const kind = Array.isArray(value) ? '!!seq' : '!!str';
    throw new ConfigSyntaxError(`yaml: unmarshal errors:\n  line ${first.number}: cannot unmarshal ${kind} into map[string]interface {}`);
  }

  /** Skips blank and comment-only lines; returns the next line with content without consuming it. */
  private nextContentLine(): SourceLine | undefined {
    while (this.position < this.lines.length) {
      const line = this.lines[this.position];
      const trimmed = line.text.trim();
      if (trimmed === '' || trimmed.startsWith('#')) {
        this.position++;
        continue;
      }
      // Tabs may not indent structure (inside block scalars they are content, and those read lines directly).
      if (line.text[0] === '\t') throw yamlError(line.number, 'found character that cannot start any token');
      return line;
    }
    return undefined;
  }

  /** The block node starting on the next content line, or null when that line is indented less than `minimumIndent`. */
  private readNode(minimumIndent: number): ConfigValue {
    const line = this.nextContentLine();
    if (line === undefined || line.indent < minimumIndent) return null;
    if (line.text === '-' || line.text.startsWith('- ')) return this.readSequence(line.indent);
    if (this.findMappingColon(line.text, line.number) >= 0 || line.text.startsWith('? ')) return this.readMapping(line.indent);
    // A lone scalar spanning one or more lines.
    this.position++;
    return this.readInlineValue(line.text, line.number, minimumIndent - 1);
  }

  private readSequence(indent: number): ConfigList {
    const items: ConfigValue[] = [];
    for (;;) {
      const line = this.nextContentLine();
      if (line === undefined || line.indent < indent) break;
      if (line.indent > indent) throw yamlError(line.number, 'bad indentation of a sequence entry');
      if (!(line.text === '-' || line.text.startsWith('- '))) break;
      this.position++;
      const rest = line.text.slice(1).trimStart();
      if (rest === '' || rest.startsWith('#')) {
        items.push(this.readNode(indent + 1));
        continue;
      }
      // `- key: value` opens a mapping whose further keys are indented to the text after the dash.
      const itemIndent = line.indent + (line.text.length - rest.length);
      if (this.findMappingColon(rest, line.number) >= 0) {
        this.position--;
        this.lines[this.position] = { number: line.number, indent: itemIndent, text: rest };
        items.push(this.readMapping(itemIndent));
      } else {
        items.push(this.readInlineValue(rest, line.number, indent));
      }
    }
    return items;
  }

  private readMapping(indent: number): ConfigMap {
    const map: ConfigMap = new Map();
    // yaml.v2 decodes the top level into map[string]…, keeping key text as written; deeper keys are resolved
    // like values (so a nested `N:` becomes the key "false"), as viper's map[interface{}]… conversion prints them.
    const isRoot = !this.rootMappingSeen && indent === this.rootIndent;
    if (isRoot) this.rootMappingSeen = true;
    for (;;) {
      const line = this.nextContentLine();
      if (line === undefined || line.indent < indent) break;
      if (line.indent > indent) throw yamlError(line.number, 'mapping values are not allowed in this context');
      if (line.text === '-' || line.text.startsWith('- ')) break; // a sequence at the parent's level
      if (line.text.startsWith('? ')) throw yamlError(line.number, 'complex mapping keys are not supported');
      const colon = this.findMappingColon(line.text, line.number);
      if (colon < 0) throw yamlError(line.number, 'could not find expected \':\'');
      this.position++;
      const key = this.readKey(line.text.slice(0, colon).trimEnd(), line.number, isRoot);
      const rest = line.text.slice(colon + 1).trimStart();
      let value: ConfigValue;
      if (rest === '' || rest.startsWith('#')) {
        // The value is on the following lines: more indented, or a sequence at the same indentation.
        const next = this.nextContentLine();
        if (next !== undefined && next.indent === indent && (next.text === '-' || next.text.startsWith('- '))) {
          value = this.readSequence(indent);
        } else {
          value = this.readNode(indent + 1);
        }
      } else {
        value = this.readInlineValue(rest, line.number, indent);
      }
      if (key === '<<') {
        this.mergeInto(map, value, line.number);
      } else {
        map.set(key, value);
      }
    }
    return map;
  }

  private mergeInto(map: ConfigMap, value: ConfigValue, lineNumber: number): void {
    const sources = Array.isArray(value) ? value : [value];
    for (const source of sources) {
      if (!isConfigMap(source)) throw yamlError(lineNumber, 'map merge requires map or sequence of maps as the value');
      for (const [key, inner] of source) if (!map.has(key)) map.set(key, inner);
    }
  }

  private readKey(text: string, lineNumber: number, keepText: boolean): string {
    if (text.startsWith('"') || text.startsWith("'")) {
      const { value, end } = this.readQuotedOnLine(text, 0, lineNumber);
      if (text.slice(end).trim() !== '') throw yamlError(lineNumber, 'did not find expected key');
      return value;
    }
    if (text.startsWith('&') || text.startsWith('*') || text.startsWith('!')) {
      throw yamlError(lineNumber, 'anchors, aliases and tags on keys are not supported');
    }
    if (keepText) return text;
    return resolvePlainScalar(text) ?? '<nil>';
  }

  /** Index of the `:` that separates a mapping key from its value, or -1 when the text is not a mapping entry. */
  private findMappingColon(text: string, lineNumber: number): number {
    let index = 0;
    if (text.startsWith('"') || text.startsWith("'")) {
      try {
        index = this.readQuotedOnLine(text, 0, lineNumber).end;
      } catch {
        return -1; // a quoted scalar continued on the next line, not a key
      }
      while (text[index] === ' ') index++;
      return text[index] === ':' && (index + 1 === text.length || text[index + 1] === ' ') ? index : -1;
    }
    if (text.startsWith('{') || text.startsWith('[') || text.startsWith('#')) return -1;
    for (; index < text.length; index++) {
      const character = text[index];
      if (character === '#' && index > 0 && text[index - 1] === ' ') return -1;
      if (character === ':' && (index + 1 === text.length || text[index + 1] === ' ' || text[index + 1] === '\t')) return index;
    }
    return -1;
  }

  /**
   * A value that starts on the current line after `key:` or `- `: block scalar, quoted, flow collection, alias,
   * or plain scalar, possibly continued on following lines indented deeper than `parentIndent`.
   */
  private readInlineValue(text: string, lineNumber: number, parentIndent: number): ConfigValue {
    let rest = text;
    let anchor: string | undefined;
    if (rest.startsWith('&')) {
      const match = /^&([^\s,[\]{}]+)\s*/.exec(rest)!;
      anchor = match[1];
      rest = rest.slice(match[0].length);
      if (rest === '' || rest.startsWith('#')) {
        const value = this.readNode(parentIndent + 1);
        this.anchors.set(anchor, value);
        return value;
      }
    }
    let forceString = false;
    if (rest.startsWith('!!str ')) {
      forceString = true;
      rest = rest.slice(6).trimStart();
    } else if (rest.startsWith('!')) {
      throw yamlError(lineNumber, 'tags other than !!str are not supported');
    }
    const value = this.readUntaggedValue(rest, lineNumber, parentIndent, forceString);
    if (anchor !== undefined) this.anchors.set(anchor, value);
    return value;
  }

  private readUntaggedValue(text: string, lineNumber: number, parentIndent: number, forceString: boolean): ConfigValue {
    const first = text[0];
    if (first === '*') {
      const name = text.slice(1).replace(/\s+#.*$/, '').trim();
      if (!this.anchors.has(name)) throw yamlError(lineNumber, `unknown anchor '${name}' referenced`);
      return this.anchors.get(name)!;
    }
    if (first === '|' || first === '>') return this.readBlockScalar(text, lineNumber, parentIndent);
    if (first === '"' || first === "'") return this.readQuoted(text, lineNumber);
    if (first === '{' || first === '[') return this.readFlow(text, lineNumber);
    if (first === '@' || first === '`') throw yamlError(lineNumber, 'found character that cannot start any token');
    // Plain scalar: stops at a comment, folds continuation lines that are indented deeper than the parent.
    let plain = stripPlainComment(text);
    if (/:(?:\s|$)/.test(plain)) throw yamlError(lineNumber, 'mapping values are not allowed in this context');
    let sawComment = plain.length !== text.trimEnd().length;
    let pendingBreaks = 0;
    while (!sawComment && this.position < this.lines.length) {
      const line = this.lines[this.position];
      const trimmed = line.text.trim();
      if (trimmed === '') {
        pendingBreaks++;
        this.position++;
        continue;
      }
      if (line.indent <= parentIndent || trimmed.startsWith('#')) break;
      if (this.findMappingColon(line.text, line.number) >= 0) throw yamlError(line.number, 'mapping values are not allowed in this context');
      const piece = stripPlainComment(line.text);
      sawComment = piece.length !== line.text.trimEnd().length;
      plain += pendingBreaks > 0 ? '\n'.repeat(pendingBreaks) + piece.trim() : ' ' + piece.trim();
      pendingBreaks = 0;
      this.position++;
    }
    if (pendingBreaks > 0) {
      // Blank lines after a scalar belong to nobody; give them back so later readers see the same layout.
      this.position -= pendingBreaks;
    }
    return forceString ? plain : resolvePlainScalar(plain);
  }

  private readBlockScalar(header: string, lineNumber: number, parentIndent: number): string {
    const match = /^([|>])([+-]?)([1-9]?)([+-]?)\s*(?:#.*)?$/.exec(header);
    if (match === null) throw yamlError(lineNumber, 'did not find expected comment or line break');
    const folded = match[1] === '>';
    const chomping = match[2] || match[4];
    // With an indentation indicator the content sits that many columns right of the parent; else the first line decides.
    let contentIndent = match[3] ? Math.max(parentIndent, 0) + Number(match[3]) : -1;
    const collected: string[] = [];
    while (this.position < this.lines.length) {
      const line = this.lines[this.position];
      const isBlank = line.text.trim() === '';
      if (!isBlank) {
        if (contentIndent < 0) {
          if (line.indent <= parentIndent) break;
          contentIndent = line.indent;
        }
        if (line.indent < contentIndent) break;
      }
      const fullLine = ' '.repeat(line.indent) + line.text;
      collected.push(isBlank && fullLine.length <= Math.max(contentIndent, 0) ? '' : fullLine.slice(Math.max(contentIndent, 0)));
      this.position++;
    }
    let end = collected.length;
    while (end > 0 && collected[end - 1] === '') end--;
    const body = collected.slice(0, end);
    const trailingBlankLines = collected.length - end;
    let text = folded ? foldBlockLines(body) : body.join('\n');
    // Chomping: `-` drops the final break, `+` keeps every trailing break, the default keeps exactly one.
    if (chomping === '+') text += (body.length > 0 ? '\n' : '') + '\n'.repeat(trailingBlankLines);
    else if (chomping !== '-' && body.length > 0) text += '\n';
    return text;
  }

  private readQuoted(text: string, lineNumber: number): string {
    // The scalar may continue over several lines; gather them until the closing quote.
    let gathered = text;
    let lastLineNumber = lineNumber;
    for (;;) {
      try {
        const { value, end } = this.readQuotedOnLine(gathered, 0, lastLineNumber);
        const after = gathered.slice(end).trim();
        if (after !== '' && !after.startsWith('#')) throw yamlError(lastLineNumber, 'did not find expected key');
        return value;
      } catch (error) {
        if (!(error instanceof UnterminatedQuote)) throw error;
        if (this.position >= this.lines.length) throw yamlError(lineNumber, 'found unexpected end of stream');
        const line = this.lines[this.position++];
        gathered += '\n' + line.text;
        lastLineNumber = line.number;
      }
    }
  }

  /** Reads a quoted scalar starting at `start`; a multi-line one has `\n` between its source lines. */
  private readQuotedOnLine(text: string, start: number, lineNumber: number): { value: string; end: number } {
    const quote = text[start];
    let index = start + 1;
    const pieces: QuotedLine[] = [];
    let current = '';
    for (;;) {
      if (index >= text.length) throw new UnterminatedQuote();
      const character = text[index];
      if (character === quote) {
        if (quote === "'" && text[index + 1] === "'") {
          current += "'";
          index += 2;
          continue;
        }
        pieces.push({ text: current, escapedBreak: false });
        return { value: foldQuotedLines(pieces), end: index + 1 };
      }
      if (character === '\n') {
        pieces.push({ text: current, escapedBreak: false });
        current = '';
        index++;
        continue;
      }
      if (quote === '"' && character === '\\') {
        const next = text[index + 1];
        if (next === '\n') {
          // A backslash before the line break joins the lines without a space.
          pieces.push({ text: current, escapedBreak: true });
          current = '';
          index += 2;
          continue;
        }
        if (next === 'x' || next === 'u' || next === 'U') {
          const length = next === 'x' ? 2 : next === 'u' ? 4 : 8;
          const hex = text.slice(index + 2, index + 2 + length);
          if (hex.length !== length || !/^[0-9a-fA-F]+$/.test(hex)) throw yamlError(lineNumber, 'did not find expected hexdecimal number');
          current += String.fromCodePoint(parseInt(hex, 16));
          index += 2 + length;
          continue;
        }
        const escaped = next === undefined ? undefined : DOUBLE_QUOTE_ESCAPES[next];
        if (escaped === undefined) throw yamlError(lineNumber, 'found unknown escape character while parsing a quoted scalar');
        current += escaped;
        index += 2;
        continue;
      }
      current += character;
      index++;
    }
  }

  private readFlow(text: string, lineNumber: number): ConfigValue {
    // Gather lines until the brackets balance, then parse the whole flow collection.
    let gathered = text;
    while (!flowIsBalanced(gathered)) {
      if (this.position >= this.lines.length) throw yamlError(lineNumber, 'did not find expected \',\' or \'}\'');
      gathered += ' ' + this.lines[this.position++].text.trim();
    }
    const parser = new FlowParser(gathered, lineNumber);
    const value = parser.readValue();
    parser.expectEnd();
    return value;
  }
}

class UnterminatedQuote extends Error {}

function stripPlainComment(text: string): string {
  const commentAt = text.search(/\s#/);
  return (commentAt >= 0 ? text.slice(0, commentAt) : text).trimEnd();
}

interface QuotedLine {
  readonly text: string;
  /** The line ended in `\` inside double quotes: the next line follows without a space. */
  readonly escapedBreak: boolean;
}

/** Line folding of quoted scalars: a single break becomes a space, each blank line a `\n`. */
function foldQuotedLines(lines: QuotedLine[]): string {
  if (lines.length === 1) return lines[0].text;
  let result = lines[0].escapedBreak ? lines[0].text : lines[0].text.trimEnd();
  let blankLines = 0;
  for (let index = 1; index < lines.length; index++) {
    const isLast = index === lines.length - 1;
    let text = lines[index].text.trimStart();
    if (!isLast && !lines[index].escapedBreak) text = text.trimEnd();
    if (text === '' && !isLast) {
      blankLines++;
      continue;
    }
    if (lines[index - 1].escapedBreak) result += '';
    else result += blankLines > 0 ? '\n'.repeat(blankLines) : ' ';
    blankLines = 0;
    result += text;
  }
  return result;
}

/** Folding of `>` block scalars: lines at the base indentation join with spaces; blank lines keep breaks. */
function foldBlockLines(lines: string[]): string {
  let result = '';
  let previousWasText = false;
  let blankRun = 0;
  for (const line of lines) {
    if (line === '') {
      blankRun++;
      continue;
    }
    const moreIndented = line.startsWith(' ') || line.startsWith('\t');
    if (result !== '' || blankRun > 0) {
      if (blankRun > 0) result += '\n'.repeat(previousWasText && !moreIndented ? blankRun : blankRun + 1);
      else result += previousWasText && !moreIndented ? ' ' : '\n';
    }
    blankRun = 0;
    result += line;
    previousWasText = !moreIndented;
  }
  return result;
}

function flowIsBalanced(text: string): boolean {
  let depth = 0;
  let quote = '';
  for (let index = 0; index < text.length; index++) {
    const character = text[index];
    if (quote !== '') {
      if (quote === '"' && character === '\\') index++;
      else if (character === quote) quote = '';
      continue;
    }
    if (character === '"' || character === "'") quote = character;
    else if (character === '{' || character === '[') depth++;
    else if (character === '}' || character === ']') depth--;
    else if (character === '#' && (index === 0 || text[index - 1] === ' ') && depth > 0) {
      // a comment inside an unfinished flow collection: the rest of this line is ignored
      const lineEnd = text.indexOf('\n', index);
      index = lineEnd < 0 ? text.length : lineEnd;
    }
  }
  return depth <= 0;
}

/** `{a: b, c: [1, 2]}` and `[x, y]` on one logical line. */
class FlowParser {
  private index = 0;
  private readonly text: string;
  private readonly lineNumber: number;

  constructor(text: string, lineNumber: number) {
    this.text = text;
    this.lineNumber = lineNumber;
  }

  expectEnd(): void {
    this.skipSpaces();
    if (this.index < this.text.length && this.text[this.index] !== '#') {
      throw yamlError(this.lineNumber, 'did not find expected <document start>');
    }
  }

  readValue(): ConfigValue {
    this.skipSpaces();
    const character = this.text[this.index];
    if (character === '{') return this.readMap();
    if (character === '[') return this.readList();
    if (character === '"' || character === "'") return this.readQuoted();
    return resolvePlainScalar(this.readPlain());
  }

  private readMap(): ConfigMap {
    const map: ConfigMap = new Map();
    this.index++;
    for (;;) {
      this.skipSpaces();
      if (this.text[this.index] === '}') {
        this.index++;
        return map;
      }
      const keyCharacter = this.text[this.index];
      const key = keyCharacter === '"' || keyCharacter === "'" ? this.readQuoted() : (resolvePlainScalar(this.readPlain()) ?? '');
      this.skipSpaces();
      let value: ConfigValue = null;
      if (this.text[this.index] === ':') {
        this.index++;
        this.skipSpaces();
        value = this.text[this.index] === ',' || this.text[this.index] === '}' ? null : this.readValue();
      }
      map.set(key, value);
      this.skipSpaces();
      if (this.text[this.index] === ',') this.index++;
      else if (this.text[this.index] !== '}') throw yamlError(this.lineNumber, "did not find expected ',' or '}'");
    }
  }

  private readList(): ConfigList {
    const items: ConfigValue[] = [];
    this.index++;
    for (;;) {
      this.skipSpaces();
      if (this.text[this.index] === ']') {
        this.index++;
        return items;
      }
      items.push(this.readValue());
      this.skipSpaces();
      if (this.text[this.index] === ',') this.index++;
      else if (this.text[this.index] !== ']') throw yamlError(this.lineNumber, "did not find expected ',' or ']'");
    }
  }

  private readQuoted(): string {
    const quote = this.text[this.index++];
    let value = '';
    while (this.index < this.text.length) {
      const character = this.text[this.index++];
      if (character === quote) {
        if (quote === "'" && this.text[this.index] === "'") {
          value += "'";
          this.index++;
          continue;
        }
        return value;
      }
      if (quote === '"' && character === '\\') {
        const next = this.text[this.index++];
        const escaped = DOUBLE_QUOTE_ESCAPES[next];
        if (escaped === undefined) throw yamlError(this.lineNumber, 'found unknown escape character while parsing a quoted scalar');
        value += escaped;
        continue;
      }
      value += character;
    }
    throw yamlError(this.lineNumber, 'found unexpected end of stream');
  }

  private readPlain(): string {
    const start = this.index;
    while (this.index < this.text.length) {
      const character = this.text[this.index];
      if (character === ',' || character === ']' || character === '}') break;
      if (character === ':' && (this.text[this.index + 1] === ' ' || this.text[this.index + 1] === ',' || this.index + 1 === this.text.length)) break;
      this.index++;
    }
    return this.text.slice(start, this.index).trim();
  }

  private skipSpaces(): void {
    while (this.index < this.text.length) {
      const character = this.text[this.index];
      if (character === ' ' || character === '\t' || character === '\n') this.index++;
      else if (character === '#' && (this.index === 0 || this.text[this.index - 1] === ' ')) {
        const lineEnd = this.text.indexOf('\n', this.index);
        this.index = lineEnd < 0 ? this.text.length : lineEnd;
      } else break;
    }
  }
}
