/**
 * One parsed syslog message, RFC 5424 or RFC 3164. Absent fields are '' (or 0n, -1) rather than
 * undefined so every message has the same shape, which keeps the hot path monomorphic.
 */
export interface SyslogMessage {
  format: 'rfc5424' | 'rfc3164';
  /** PRI value 0–191: facility × 8 + severity. */
  priority: number;
  /** 1 for RFC 5424, 0 for RFC 3164. */
  version: number;
  /** Event time in ns since the epoch; 0n when the sender gave none (NILVALUE). */
  timeNs: bigint;
  hostname: string;
  appname: string;
  procId: string;
  msgId: string;
  /** SD-ID → param → value; undefined when the message has none. */
  structuredData: Record<string, Record<string, string>> | undefined;
  message: string;
  /** Cisco IOS `service sequence-numbers` counter; '' when absent. */
  sequence: string;
}

/** A parser's answer: the message, or why the line matches no rule. */
export type ParseResult = SyslogMessage | string;

/**
 * Reads `<PRI>` at the start of a line: 1–3 digits, 0–191, no leading zero except `<0>`.
 * Returns the priority, or -1 when the line has no valid PRI.
 */
export function readPri(line: string): number {
  if (line.charCodeAt(0) !== 60 /* < */) return -1;
  let pri = 0;
  let i = 1;
  for (; i < 5; i++) {
    const c = line.charCodeAt(i);
    if (c === 62 /* > */) break;
    if (!(c >= 48 && c <= 57)) return -1;
    pri = pri * 10 + (c - 48);
  }
  const digits = i - 1;
  if (digits === 0 || digits > 3 || line.charCodeAt(i) !== 62) return -1;
  if (digits > 1 && line.charCodeAt(1) === 48) return -1;
  return pri > 191 ? -1 : pri;
}

/** Length of `<PRI>` for a valid PRI (readPri ≥ 0). */
export function priLength(pri: number): number {
  return pri < 10 ? 3 : pri < 100 ? 4 : 5;
}

export function readPriOrFail(line: string): number | string {
  const pri = readPri(line);
  if (pri >= 0) return pri;
  if (line.charCodeAt(0) !== 60) return 'no PRI: a syslog message starts with <N>, N from 0 to 191';
  return `invalid PRI ${JSON.stringify(line.slice(0, Math.min(line.length, 6)))}: expected <N> with N from 0 to 191`;
}
