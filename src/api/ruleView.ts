import type { RuleConfig } from '../correlation/config.ts';
import { formatDuration } from '../correlation/incidentBook.ts';

/** Keys whose values are durations: shown as the config spells them (`1m30s`), not in milliseconds. */
const DURATIONS = new Set([
  'window',
  'bucket',
  'dedup_window',
  'deadline',
  'interval',
  'forget_after',
  'for',
  'allowed_lateness',
  'group_wait',
  'group_interval',
  'repeat_interval',
  'reopen_window',
]);

const duration = { type: 'string', description: 'A duration as the config spells it: `90s` is `1m30s`.' } as const;
const text = { type: 'string' } as const;
const number = { type: 'number' } as const;
const integer = { type: 'integer', minimum: 0 } as const;
const texts = { type: 'array', items: text } as const;

/**
 * A correlation rule as configured, read-only: the keys of its `kind` under their config names
 * (docs/correlation.md), with the schema's defaults filled in; keys left unset are absent (the
 * `correlation.defaults` apply).
 */
export const ruleDefinitionSchema = {
  type: 'object',
  required: ['name', 'kind', 'match', 'group_by'],
  properties: {
    name: text,
    kind: { type: 'string', enum: ['dedup', 'threshold', 'pair', 'absence', 'metric_threshold', 'spike'] },
    match: { type: 'string', description: 'The OTTL condition selecting its events (or data points).' },
    group_by: { ...texts, description: 'The fields whose values make one incident.' },
    title: text,
    dedup_window: duration,
    window: duration,
    threshold: { type: 'number', description: 'threshold: opens when the count (or `sum`) in `window` reaches it.' },
    resolve_below: number,
    sum: { type: 'string', description: 'threshold: the field summed instead of counting events.' },
    bucket: duration,
    down: text,
    up: text,
    member_by: texts,
    deadline: duration,
    flapping: {
      type: 'object',
      required: ['transitions', 'window'],
      properties: { transitions: integer, window: duration },
      additionalProperties: false,
    },
    interval: duration,
    forget_after: duration,
    metric: text,
    aggregation: text,
    op: text,
    value: number,
    for: duration,
    ratio: number,
    min_count: integer,
    time: text,
    allowed_lateness: duration,
    group_wait: duration,
    group_interval: duration,
    repeat_interval: duration,
    reopen_window: duration,
    resolve: text,
    sample_size: integer,
    max_open_incidents: integer,
  },
  additionalProperties: false,
} as const;

export type RuleDefinition = Record<string, unknown> & { name: string; kind: string };

function view(value: unknown, key: string): unknown {
  if (typeof value === 'number' && DURATIONS.has(key)) return formatDuration(value);
  if (value && typeof value === 'object' && !Array.isArray(value))
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, view(v, k)]));
  return value;
}

export function ruleDefinition(r: RuleConfig): RuleDefinition {
  const out: RuleDefinition = { name: r.name, kind: r.kind };
  for (const [k, v] of Object.entries(r)) if (v !== undefined) out[k] = view(v, k);
  return out;
}
