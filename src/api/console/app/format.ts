import type { Incident } from './api.ts';

/** Severity as a class and a word from the OpenTelemetry SeverityNumber (the text may be anything a source sent). */
export function severityClass(n: number): string {
  if (n >= 21) return 'fatal';
  if (n >= 17) return 'error';
  if (n >= 13) return 'warn';
  if (n >= 9) return 'info';
  return 'debug';
}

export const SEVERITY_FLOOR: Record<string, number> = { trace: 1, debug: 5, info: 9, warn: 13, error: 17, fatal: 21 };

/** How long ago, in the largest unit that fits: `42s`, `5m`, `3h`, `2d`. */
export function age(iso: string, nowMs: number): string {
  const s = Math.max(0, Math.round((nowMs - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

export const localTime = (iso: string) => new Date(iso).toLocaleString();

const KINDS: Record<string, string> = {
  pair: 'opens on a problem event and resolves on its matching recovery event',
  threshold:
    'opens when its matching events in a sliding window reach its threshold, and resolves when they fall below it',
  spike: 'opens when the rate of its matching events rises far above its usual level',
  absence: 'opens when events it expects stop arriving, and resolves when they come back',
  dedup: 'folds repeats of the same event into one incident',
  metric_threshold: 'opens when a metric crosses its threshold for long enough, and resolves when it is back',
};

/** The rule that made an incident, in words, from its kind and group labels. */
export function ruleInWords(i: Pick<Incident, 'rule' | 'rule_kind' | 'labels'>): string {
  const what = KINDS[i.rule_kind] ?? `is a ${i.rule_kind} rule`;
  const by = Object.keys(i.labels);
  return `Rule ${i.rule} (${i.rule_kind}) ${what}${by.length ? `, one incident per ${by.join(', ')}` : ''}.`;
}
