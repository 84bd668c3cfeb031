// Small renderings of Go's own text that WAL-G's storage messages contain: %q quoting, strconv.ParseBool, and
// os.PathError's "op path: reason" form.

import { getSystemErrorMessage } from 'node:util';

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;

/** Go's strconv.Quote (what fmt's %q prints for a string): double quotes, Go escapes, printable runes kept. */
export function goQuote(text: string): string {
  let out = '"';
  for (const character of text) {
    const code = character.codePointAt(0)!;
    switch (character) {
      case '"':
        out += '\\"';
        continue;
      case '\\':
        out += '\\\\';
        continue;
      case '\x07':
        out += '\\a';
        continue;
      case '\b':
        out += '\\b';
        continue;
      case '\f':
        out += '\\f';
        continue;
      case '\n':
        out += '\\n';
        continue;
      case '\r':
        out += '\\r';
        continue;
      case '\t':
        out += '\\t';
        continue;
      case '\v':
        out += '\\v';
        continue;
    }
    if (code === 0x20 || PRINTABLE.test(character)) {
      out += character;
    } else if (code < 0x80) {
      out += `\\x${code.toString(16).padStart(2, '0')}`;
    } else if (code < 0x10000) {
      out += `\\u${code.toString(16).padStart(4, '0')}`;
    } else {
      out += `\\U${code.toString(16).padStart(8, '0')}`;
    }
  }
  return `${out}"`;
}

/** Go's strconv.ParseBool; undefined when the text is not one of its spellings. */
export function parseGoBool(text: string): boolean | undefined {
  switch (text) {
    case '1':
    case 't':
    case 'T':
    case 'TRUE':
    case 'true':
    case 'True':
      return true;
    case '0':
    case 'f':
    case 'F':
    case 'FALSE':
    case 'false':
    case 'False':
      return false;
    default:
      return undefined;
  }
}

/** The reason part of a system error as Go prints it ("no such file or directory"); libuv uses the same words. */
export function systemErrorReason(error: unknown): string {
  const errno = (error as NodeJS.ErrnoException | undefined)?.errno;
  if (typeof errno === 'number') {
    try {
      return getSystemErrorMessage(errno);
    } catch {
      /* an errno libuv does not know: fall through to the message */
    }
  }
  return error instanceof Error ? error.message : String(error);
}

/** Go's os.PathError text: `<op> <path>: <reason>`, e.g. `stat /backups: no such file or directory`. */
export function pathErrorText(operation: string, path: string, error: unknown): string {
  return `${operation} ${path}: ${systemErrorReason(error)}`;
}

/** The errno code of a Node system error ('ENOENT', ...), or undefined for other errors. */
export function errorCode(error: unknown): string | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}
