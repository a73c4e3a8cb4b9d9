/** OTel SeverityNumber ranges (logs data model): 1–4 TRACE … 21–24 FATAL. */
export const SeverityNumber = {
  UNSPECIFIED: 0,
  TRACE: 1,
  DEBUG: 5,
  INFO: 9,
  INFO2: 10,
  WARN: 13,
  ERROR: 17,
  ERROR2: 18,
  ERROR3: 19,
  FATAL: 21,
} as const;

/** No prototype: a word such as `constructor` from the wire is no severity. */
const TEXT_TO_NUMBER: Readonly<Record<string, number>> = Object.assign(Object.create(null) as Record<string, number>, {
  trace: 1,
  debug: 5,
  info: 9,
  informational: 9,
  notice: 10,
  warn: 13,
  warning: 13,
  error: 17,
  err: 17,
  crit: 18,
  critical: 18,
  alert: 19,
  major: 18,
  minor: 13,
  fatal: 21,
  emerg: 21,
  emergency: 21,
  panic: 21,
});

/** Maps a severity word ("warning", "ERROR", "crit") to an OTel SeverityNumber; 0 when unknown. */
export function severityFromText(text: string): number {
  return TEXT_TO_NUMBER[text.trim().toLowerCase()] ?? 0;
}

const NAMES = ['UNSPECIFIED', 'TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'] as const;

/** The short OTel name for a SeverityNumber: TRACE, DEBUG, INFO, WARN, ERROR, FATAL. */
export function severityName(n: number): string {
  if (n <= 0 || n > 24) return NAMES[0];
  return NAMES[Math.floor((n - 1) / 4) + 1]!;
}
