// Go's text/tabwriter as WAL-G configures it for `st ls` (minwidth 0, padding 1, pad with spaces, no flags):
// tab-terminated cells are aligned per column block, and the text after a line's last tab is not a cell.

/** Columns: rune count, as tabwriter measures cell width. */
function cellWidth(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

interface Line {
  readonly cells: readonly string[];
  /** false only for a last line without a newline. */
  readonly terminated: boolean;
}

/** Formats one flushed block the way tabwriter's recursive format() does. */
function formatBlock(lines: readonly Line[], padding: number): string {
  let output = '';
  const widths: number[] = [];

  const writeLines = (from: number, to: number): void => {
    for (let row = from; row < to; row++) {
      const line = lines[row];
      for (let column = 0; column < line.cells.length; column++) {
        const text = line.cells[column];
        output += text;
        if (column < widths.length) output += ' '.repeat(Math.max(0, widths[column] - cellWidth(text)));
      }
      if (line.terminated) output += '\n';
    }
  };

  const format = (from: number, to: number): void => {
    const column = widths.length;
    let start = from;
    for (let row = from; row < to; row++) {
      if (column >= lines[row].cells.length - 1) continue;
      // This line has a cell in this column: a column block starts here and runs while lines keep one.
      writeLines(start, row);
      start = row;
      let width = 0;
      for (; row < to; row++) {
        const cells = lines[row].cells;
        if (column >= cells.length - 1) break;
        width = Math.max(width, cellWidth(cells[column]) + padding);
      }
      widths.push(width);
      format(start, row);
      widths.pop();
      start = row;
    }
    writeLines(start, to);
  };

  format(0, lines.length);
  return output;
}

/**
 * Returns `text` aligned as a Go tabwriter.Writer(output, 0, 0, padding, ' ', 0) would print it after Flush.
 * A line without tabs ends the current block (tabwriter flushes there), so alignment restarts after it.
 */
export function alignTabs(text: string, padding = 1): string {
  const rawLines = text.split('\n');
  let output = '';
  let block: Line[] = [];
  for (let index = 0; index < rawLines.length; index++) {
    const terminated = index < rawLines.length - 1;
    if (!terminated && rawLines[index] === '') break;
    const cells = rawLines[index].split('\t');
    block.push({ cells, terminated });
    if (terminated && cells.length === 1) {
      output += formatBlock(block, padding);
      block = [];
    }
  }
  return output + formatBlock(block, padding);
}
