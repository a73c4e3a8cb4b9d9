/** A mistake in how a command was called: one line on stderr, exit status 2. */
export class UsageError extends Error {}

/** A command that cannot do what was asked with what it found (no such outbox, no such parked change): one line, exit status 1. */
export class CommandFailure extends Error {}

/** Rows as aligned columns, the first row the header; the last column is not padded. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

/**
 * Aligned columns for a table of unknown length: the widths come from the header and the first
 * `sample` rows, then rows go out as they come (a longer cell only pushes its own row's next
 * columns), so the first lines show at once and memory does not grow with the table.
 */
export class StreamingTable {
  private readonly header: string[];
  private readonly write: (s: string) => void;
  private readonly sample: number;
  private pending: string[][] | undefined = [];
  private widths: number[] = [];

  constructor(header: string[], write: (s: string) => void, sample = 100) {
    this.header = header;
    this.write = write;
    this.sample = sample;
  }

  row(cells: string[]): void {
    if (!this.pending) return this.write(this.line(cells));
    this.pending.push(cells);
    if (this.pending.length >= this.sample) this.flush();
  }

  /** Writes what is held back; call it before writing anything after the table. */
  flush(): void {
    if (!this.pending) return;
    const rows = [this.header, ...this.pending];
    this.pending = undefined;
    this.widths = this.header.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    this.write(rows.map((r) => this.line(r)).join(''));
  }

  private line(cells: string[]): string {
    return cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(this.widths[i]!))).join('  ') + '\n';
  }
}
