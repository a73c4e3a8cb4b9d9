/** A mistake in how a command was called: one line on stderr, exit status 2. */
export class UsageError extends Error {}

/** A command that cannot do what was asked with what it found (no such outbox, no such parked change): one line, exit status 1. */
export class CommandFailure extends Error {}

/** Rows as aligned columns, the first row the header; the last column is not padded. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}
