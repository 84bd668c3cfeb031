// Renders tables the way WAL-G's go-pretty v4.3.0 default style does (`+---+` borders, upper-cased header, numeric
// columns right-aligned), so wal-show, wal-verify and backup-list --pretty print byte-identical text.
//
// Rules reproduced from go-pretty v4.3.0 (table/render.go, table/table.go, text/align.go):
// - a column is "numeric" when every *body* cell in it was a number (the header and footer do not count); numeric
//   columns are right-aligned in every row, the header included; all other columns are left-aligned;
// - header cells are upper-cased; body cells are printed as given;
// - a column is as wide as its longest line (header or body), plus one space of padding on each side;
// - the rendered text ends with a newline (go-pretty's output mirror appends one);
// - a table with a header but no body rows still prints its borders and header.

/**
 * A cell. Numbers and bigints count as numeric (Go integer kinds); a `NumericText` is text that go-pretty would
 * still see as a number (a Go type of integer kind with a String method, such as WAL-G's LSN or segment status).
 */
export type TableCell = string | number | bigint | NumericText;

/** Text shown for a value whose Go type is an integer kind: it aligns like a number. */
export class NumericText {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
  toString(): string {
    return this.text;
  }
}

/** Marks text as numeric for alignment (see NumericText). */
export function numericText(text: string): NumericText {
  return new NumericText(text);
}

export interface PrettyTable {
  readonly header: readonly TableCell[];
  readonly rows: readonly (readonly TableCell[])[];
  readonly footer?: readonly TableCell[];
}

function isNumericCell(cell: TableCell): boolean {
  return typeof cell === 'number' || typeof cell === 'bigint' || cell instanceof NumericText;
}

function cellText(cell: TableCell | undefined): string {
  if (cell === undefined) return '';
  // go-pretty replaces tabs by four spaces and drops carriage returns.
  return String(cell).replaceAll('\t', '    ').replaceAll('\r', '');
}

/** Display width of one line: code points (go-pretty counts East Asian wide runes as 2; WAL-G output is ASCII). */
function lineWidth(line: string): number {
  let width = 0;
  for (const _ of line) width++;
  return width;
}

function longestLineWidth(text: string): number {
  let longest = 0;
  for (const line of text.split('\n')) longest = Math.max(longest, lineWidth(line));
  return longest;
}

function alignLeft(text: string, width: number): string {
  const trimmed = text.replace(/ +$/, '');
  return trimmed + ' '.repeat(Math.max(0, width - lineWidth(trimmed)));
}

function alignRight(text: string, width: number): string {
  const trimmed = text.replace(/^ +/, '');
  return ' '.repeat(Math.max(0, width - lineWidth(trimmed))) + trimmed;
}

/** Renders the table as go-pretty's StyleDefault does, newline-terminated. */
export function renderPrettyTable(table: PrettyTable): string {
  const columnCount = Math.max(table.header.length, table.footer?.length ?? 0, ...table.rows.map((row) => row.length));
  if (columnCount === 0) return '';

  const numeric: boolean[] = new Array(columnCount).fill(true);
  for (const row of table.rows) {
    row.forEach((cell, index) => {
      if (!isNumericCell(cell)) numeric[index] = false;
    });
  }
  // A column no body row reached is numeric in go-pretty too (its "non-numeric" flag never got set).

  const header = table.header.map((cell) => cellText(cell));
  const body = table.rows.map((row) => row.map((cell) => cellText(cell)));
  const footer = table.footer?.map((cell) => cellText(cell));

  const widths: number[] = new Array(columnCount).fill(0);
  for (const row of [header, ...body, ...(footer ? [footer] : [])]) {
    row.forEach((text, index) => {
      widths[index] = Math.max(widths[index], longestLineWidth(text));
    });
  }

  const separator = `+${widths.map((width) => '-'.repeat(width + 2)).join('+')}+`;
  const lines: string[] = [separator];

  const renderRow = (cells: readonly string[], upperCase: boolean): void => {
    const cellLines = widths.map((_, index) => (upperCase ? (cells[index] ?? '').toUpperCase() : (cells[index] ?? '')).split('\n'));
    const height = Math.max(...cellLines.map((parts) => parts.length));
    for (let lineIndex = 0; lineIndex < height; lineIndex++) {
      const parts = widths.map((width, index) => {
        const text = cellLines[index][lineIndex] ?? '';
        return ` ${numeric[index] ? alignRight(text, width) : alignLeft(text, width)} `;
      });
      lines.push(`|${parts.join('|')}|`);
    }
  };

  if (table.header.length > 0) {
    renderRow(header, true);
    lines.push(separator);
  }
  for (const row of body) renderRow(row, false);
  if (footer && footer.length > 0) {
    lines.push(separator);
    renderRow(footer, true);
  }
  lines.push(separator);
  return `${lines.join('\n')}\n`;
}
