import { attrToString, type AttrValue, type Attributes } from '../model/attributes.ts';
import type { MetricPoint } from '../model/metric.ts';
import type { VigilEvent } from '../model/event.ts';
import { FNV_OFFSET, fnv1a, fnv1aEscaped } from './groupHash.ts';

/** Reads one field of an event or metric point as the string a label carries. */
export type FieldGetter = (item: VigilEvent | MetricPoint) => string;

export interface LabelField {
  /** The label name in the incident key. */
  label: string;
  get: FieldGetter;
  /** The top-level field it reads (`asset`, `tenant`...); absent for attributes. */
  field?: string;
}

/** The label every incident key of a tenant's events carries, as the tenant is part of every group. */
export const TENANT_LABEL = 'tenant';

const EVENT_FIELDS = [
  'asset',
  'service',
  'tenant',
  'title',
  'type',
  'source',
  'fingerprint',
  'severity_text',
  'severity_number',
  'body',
  'name',
] as const;
const FIELD_PROP: Record<(typeof EVENT_FIELDS)[number], string> = {
  asset: 'asset',
  service: 'service',
  tenant: 'tenant',
  title: 'title',
  type: 'type',
  source: 'source',
  fingerprint: 'fingerprint',
  severity_text: 'severityText',
  severity_number: 'severityNumber',
  body: 'body',
  name: 'name',
};

const ATTR_PATH = /^(resource\.)?attributes(?:\["((?:[^"\\]|\\.)*)"\]|\.([A-Za-z0-9_.-]+))$/;

/**
 * Compiles a field path as rule authors write it in `group_by`, `member_by`, `sum` or
 * `topology.parent`: a top-level field (`asset`, `service`, `severity_text`...), or
 * `attributes["k"]` / `resource.attributes["k"]` (the OTTL spelling; `attributes.k` also works).
 * `label=path` names the label explicitly. Returns an error message for anything else.
 */
export function compileField(spec: string): LabelField | string {
  const eq = /^([A-Za-z_][A-Za-z0-9_.]*)=(.+)$/.exec(spec);
  const path = (eq ? eq[2]! : spec).trim();
  if ((EVENT_FIELDS as readonly string[]).includes(path)) {
    const prop = FIELD_PROP[path as (typeof EVENT_FIELDS)[number]];
    return {
      label: eq?.[1] ?? path,
      get: (item) => attrToString((item as unknown as Record<string, AttrValue>)[prop]),
      field: path,
    };
  }
  const m = ATTR_PATH.exec(path);
  if (!m)
    return `unknown field "${path}"; use one of ${EVENT_FIELDS.join(', ')}, attributes["key"] or resource.attributes["key"]`;
  const key = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!;
  const label = eq?.[1] ?? key;
  // A key such as "constructor" must read the event's own value, never what objects inherit.
  if (key in Object.prototype) {
    const own = (map: Attributes) => (Object.hasOwn(map, key) ? map[key] : undefined);
    if (m[1]) return { label, get: (item) => attrToString(own(item.resource as Attributes)) };
    return { label, get: (item) => attrToString(own(item.attributes)) };
  }
  if (m[1]) return { label, get: (item) => attrToString((item.resource as Attributes)[key]) };
  return { label, get: (item) => attrToString(item.attributes[key]) };
}

/** A numeric field (threshold `sum`): non-numbers count as 0. */
export function numericField(field: LabelField): (item: VigilEvent | MetricPoint) => number {
  return (item) => {
    const n = Number(field.get(item));
    return Number.isFinite(n) ? n : 0;
  };
}

function escapeLabelValue(v: string): string {
  return /["\\\n]/.test(v) ? v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : v;
}

/**
 * Builds incident keys in their one canonical form, `<rule>{<label>="<value>",...}` with labels
 * sorted by name and values escaped as in the Prometheus text format: every webhook, ticket and
 * agent prints and parses the same string, so two agents opening one incident agree on it.
 */
export class KeyBuilder {
  readonly rule: string;
  private readonly fields: LabelField[];
  /** `<rule>{<first label>="`, `",<next label>="`...: the constant pieces between values. */
  private readonly pieces: string[];
  /** The hash of the key's first piece (of the whole key when it has no labels): the same for every item. */
  private readonly headHash: number;
  /**
   * The same groups with the tenant added, for items that name one: two tenants' identical
   * events never share an incident. Items without a tenant keep the keys they always had.
   */
  private readonly tenanted: KeyBuilder | undefined;

  /** `byTenant`: the tenant is part of every group (incident keys), unless a field already gives it. */
  constructor(rule: string, fields: LabelField[], byTenant = false) {
    this.rule = rule;
    this.fields = [...fields].sort((a, b) => (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
    this.pieces = this.fields.map((f, i) => `${i === 0 ? `${rule}{` : '",'}${f.label}="`);
    this.headHash =
      this.fields.length === 0 ? fnv1a(fnv1a(FNV_OFFSET, rule), '{}') >>> 0 : fnv1a(FNV_OFFSET, this.pieces[0]!);
    this.tenanted =
      byTenant && !fields.some((f) => f.label === TENANT_LABEL)
        ? new KeyBuilder(rule, [...fields, compileField(TENANT_LABEL) as LabelField])
        : undefined;
  }

  /**
   * The group's canonical key, after `prefix`: the state key of one kind is built in one go, as
   * every extra concatenation is a string the store must hash again (measured in bench/correlation.ts).
   */
  key(item: VigilEvent | MetricPoint, prefix = ''): string {
    if (this.tenanted !== undefined && item.tenant !== '') return this.tenanted.key(item, prefix);
    const fields = this.fields;
    if (fields.length === 0) return prefix + this.rule + '{}';
    let k = prefix;
    for (let i = 0; i < fields.length; i++) k += this.pieces[i]! + escapeLabelValue(fields[i]!.get(item));
    return k + '"}';
  }

  /**
   * The hash of `key(item)` (`fnv1a`, unsigned) without building the key: where the group falls
   * among partitions, for every event an agent places or a partition's engine takes.
   */
  hash(item: VigilEvent | MetricPoint): number {
    if (this.tenanted !== undefined && item.tenant !== '') return this.tenanted.hash(item);
    const fields = this.fields;
    if (fields.length === 0) return this.headHash;
    let h = fnv1aEscaped(this.headHash, fields[0]!.get(item));
    for (let i = 1; i < fields.length; i++) h = fnv1aEscaped(fnv1a(h, this.pieces[i]!), fields[i]!.get(item));
    return fnv1a(h, '"}') >>> 0;
  }

  labels(item: VigilEvent | MetricPoint): Record<string, string> {
    if (this.tenanted !== undefined && item.tenant !== '') return this.tenanted.labels(item);
    const out: Record<string, string> = {};
    for (const f of this.fields) out[f.label] = f.get(item);
    return out;
  }
}

/** The canonical key of a rule and label set (the inverse of parseIncidentKey). */
export function formatIncidentKey(rule: string, labels: Record<string, string>): string {
  const names = Object.keys(labels).sort();
  return `${rule}{${names.map((n) => `${n}="${escapeLabelValue(labels[n]!)}"`).join(',')}}`;
}

/** The rule name of a canonical incident key. */
export function ruleOfKey(key: string): string {
  const brace = key.indexOf('{');
  return brace === -1 ? key : key.slice(0, brace);
}

const KEY_LABEL = /([A-Za-z_][A-Za-z0-9_.]*)="((?:[^"\\]|\\.)*)"(,|\})/y;

/** Splits a canonical incident key back into its rule and labels; undefined if malformed. */
export function parseIncidentKey(key: string): { rule: string; labels: Record<string, string> } | undefined {
  const brace = key.indexOf('{');
  if (brace === -1 || !key.endsWith('}')) return undefined;
  const labels: Record<string, string> = {};
  if (key.length === brace + 2) return { rule: key.slice(0, brace), labels };
  KEY_LABEL.lastIndex = brace + 1;
  let m: RegExpExecArray | null;
  while ((m = KEY_LABEL.exec(key)) !== null) {
    labels[m[1]!] = m[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    if (m[3] === '}') return KEY_LABEL.lastIndex === key.length ? { rule: key.slice(0, brace), labels } : undefined;
  }
  return undefined;
}
