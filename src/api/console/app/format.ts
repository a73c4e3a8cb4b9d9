import type { Incident, RuleDefinition } from './api.ts';

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

const events = (match: string) => (match === 'true' ? 'events' : `events matching ${match}`);
const per = (fields: string[]) => (fields.length ? `, per ${fields.join(', ')}` : '');

/** What a rule does with its own figures: "at least 5 events matching … within 1m, per service". */
function definitionInWords(r: RuleDefinition): string {
  switch (r.kind) {
    case 'threshold': {
      const measure =
        r.sum === undefined
          ? `${r.threshold} or more ${events(r.match)}`
          : `the sum of ${r.sum} over ${events(r.match)} reaches ${r.threshold}`;
      const below = r.resolve_below ?? r.threshold;
      return r.sum === undefined
        ? `opens when ${measure} arrive within ${r.window}${per(r.group_by)}, and resolves when fewer than ${below} remain within ${r.window}`
        : `opens when ${measure} within ${r.window}${per(r.group_by)}, and resolves when it falls below ${below}`;
    }
    case 'pair': {
      const down = r.down ? `an event matching ${r.down}` : 'a down event';
      const up = r.up ? `an event matching ${r.up}` : 'its up event';
      let out = `opens on ${down}${per(r.group_by)}, and resolves on ${up}`;
      if (r.deadline) out += `; it escalates when not recovered within ${r.deadline}`;
      if (r.flapping)
        out += `; ${r.flapping.transitions} down/up transitions within ${r.flapping.window} make one flapping incident`;
      return out;
    }
    case 'absence':
      return `opens when ${events(r.match)} stop arriving for ${r.interval}${per(r.group_by)}, and resolves when they come back`;
    case 'dedup':
      return `folds repeats of ${events(r.match)}${per(r.group_by.length ? r.group_by : ['fingerprint'])} into one incident, which resolves after ${r.dedup_window} without a repeat`;
    case 'metric_threshold':
      return `opens when the ${r.aggregation} of ${r.metric} over ${r.window} is ${r.op} ${r.value}${r.for && r.for !== '0s' ? ` for ${r.for}` : ''}${per(r.group_by)}, and resolves when it is not`;
    case 'spike':
      return `opens when ${events(r.match)} within ${r.window} are more than ${r.ratio} times those of the window before (and at least ${r.min_count})${per(r.group_by)}`;
    default:
      return KINDS[r.kind] ?? `is a ${r.kind} rule`;
  }
}

/**
 * The rule that made an incident, in words: from its definition when the API gives it, else
 * (a rule since removed) from its kind and group labels.
 */
export function ruleInWords(i: Pick<Incident, 'rule' | 'rule_kind' | 'labels'>, rule?: RuleDefinition): string {
  if (rule) return `Rule ${rule.name} (${rule.kind}) ${definitionInWords(rule)}.`;
  const what = KINDS[i.rule_kind] ?? `is a ${i.rule_kind} rule`;
  const by = Object.keys(i.labels);
  return `Rule ${i.rule} (${i.rule_kind}) ${what}${by.length ? `, one incident per ${by.join(', ')}` : ''}.`;
}
