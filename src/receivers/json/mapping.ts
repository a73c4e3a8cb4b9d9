import type { AttrValue, Attributes } from '../../model/attributes.ts';
import { newEvent, type EventType, type VigilEvent } from '../../model/event.ts';
import { severityFromText } from '../../model/severity.ts';
import { parseTimestampNs } from '../../model/timestamp.ts';
import type { FieldMapping } from './config.ts';

type Getter = (rec: Record<string, unknown>) => { key: string; value: unknown } | undefined;

function compilePath(path: string): Getter {
  const parts = path.split('.');
  if (parts.length === 1) {
    return (rec) => (rec[path] !== undefined ? { key: path, value: rec[path] } : undefined);
  }
  // "host.name" may be a literal flat key (OTel style) or a nested object.
  return (rec) => {
    if (rec[path] !== undefined) return { key: path, value: rec[path] };
    let cur: unknown = rec;
    for (const p of parts) {
      if (cur === null || typeof cur !== 'object') return undefined;
      cur = (cur as Record<string, unknown>)[p];
    }
    return cur === undefined ? undefined : { key: parts[0]!, value: cur };
  };
}

const isScalar = (v: unknown) => typeof v !== 'object';

/** First path with a value; `scalarOnly` skips objects so `service: {name: x}` falls through to `service.name`. */
function firstOf(paths: string[], scalarOnly: boolean): Getter {
  const getters = paths.map(compilePath);
  return (rec) => {
    let fallback: { key: string; value: unknown } | undefined;
    for (const g of getters) {
      const hit = g(rec);
      if (hit === undefined || hit.value === null) continue;
      if (!scalarOnly || isScalar(hit.value)) return hit;
      fallback ??= hit;
    }
    return fallback;
  };
}

export interface MappedRecord {
  ok: true;
  event: VigilEvent;
}
export interface RejectedRecord {
  ok: false;
  reason: string;
}

const TYPES: Record<string, EventType> = { up: 'up', down: 'down', neutral: 'neutral', ok: 'up', problem: 'down', resolved: 'up' };

/**
 * Turns one JSON object into an event by the configured field mapping. Keys the mapping did
 * not consume become record attributes, so nothing a sender sent is lost.
 */
export class JsonEventMapper {
  private readonly get: Record<keyof FieldMapping, Getter>;

  constructor(mapping: FieldMapping) {
    this.get = Object.fromEntries(Object.entries(mapping).map(([k, paths]) => [k, firstOf(paths, k !== 'attributes' && k !== 'resource' && k !== 'body')])) as Record<keyof FieldMapping, Getter>;
  }

  map(input: unknown, observedNs: bigint): MappedRecord | RejectedRecord {
    if (input === null || typeof input !== 'object' || Array.isArray(input)) {
      return { ok: false, reason: `an event must be a JSON object, got ${input === null ? 'null' : Array.isArray(input) ? 'an array' : typeof input}` };
    }
    const rec = input as Record<string, unknown>;
    const used = new Set<string>();
    const take = (field: keyof FieldMapping) => {
      const hit = this.get[field](rec);
      if (hit) used.add(hit.key);
      return hit;
    };

    const ev = newEvent({ source: 'json', observedTimeUnixNano: observedNs });

    const time = take('time');
    if (time) {
      const ns = parseTimestampNs(time.value);
      if (ns === undefined) return { ok: false, reason: `field "${time.key}": not a timestamp (epoch number or ISO-8601 string): ${JSON.stringify(time.value)}` };
      ev.timeUnixNano = ns;
    }

    const sev = take('severity');
    if (sev) {
      if (typeof sev.value === 'number') {
        if (!Number.isInteger(sev.value) || sev.value < 0 || sev.value > 24) return { ok: false, reason: `field "${sev.key}": a numeric severity must be an OTel SeverityNumber 0–24, got ${sev.value}` };
        ev.severityNumber = sev.value;
      } else if (typeof sev.value === 'string') {
        ev.severityText = sev.value;
        ev.severityNumber = severityFromText(sev.value);
      } else return { ok: false, reason: `field "${sev.key}": severity must be a string or number` };
    }

    const type = take('type');
    if (type) {
      const t = typeof type.value === 'string' ? TYPES[type.value.trim().toLowerCase()] : undefined;
      if (!t) return { ok: false, reason: `field "${type.key}": type must be one of up, down, neutral; got ${JSON.stringify(type.value)}` };
      ev.type = t;
    }

    const body = take('body');
    if (body) ev.body = toAttr(body.value);
    const asString = (field: keyof FieldMapping): string | RejectedRecord | undefined => {
      const hit = take(field);
      if (!hit) return undefined;
      if (typeof hit.value === 'string') return hit.value;
      if (typeof hit.value === 'number' || typeof hit.value === 'boolean') return String(hit.value);
      return { ok: false, reason: `field "${hit.key}": ${field} must be a string` };
    };
    for (const field of ['asset', 'title', 'service', 'tenant'] as const) {
      const v = asString(field);
      if (typeof v === 'object') return v;
      if (v !== undefined) ev[field] = v;
    }
    for (const [field, target] of [['trace_id', 'traceId'], ['span_id', 'spanId']] as const) {
      const v = asString(field);
      if (typeof v === 'object') return v;
      if (v === undefined) continue;
      const want = field === 'trace_id' ? 32 : 16;
      if (!new RegExp(`^[0-9a-fA-F]{${want}}$`).test(v)) return { ok: false, reason: `field "${field}": must be ${want} hex digits` };
      ev[target] = v.toLowerCase();
    }
    for (const field of ['attributes', 'resource'] as const) {
      const hit = take(field);
      if (!hit) continue;
      if (hit.value === null || typeof hit.value !== 'object' || Array.isArray(hit.value)) return { ok: false, reason: `field "${hit.key}": must be an object` };
      Object.assign(field === 'attributes' ? ev.attributes : ev.resource, toAttr(hit.value) as Attributes);
    }
    for (const key of Object.keys(rec)) {
      if (!used.has(key)) ev.attributes[key] = toAttr(rec[key]);
    }
    if (!ev.service && typeof ev.resource['service.name'] === 'string') ev.service = ev.resource['service.name'];
    if (!ev.title) ev.title = defaultTitle(ev.body);
    return { ok: true, event: ev };
  }
}

function toAttr(v: unknown): AttrValue {
  if (v === undefined) return null;
  return v as AttrValue;
}

/** First line of the body, at most 200 characters: a usable title when the sender gave none. */
export function defaultTitle(body: AttrValue): string {
  if (typeof body !== 'string') return '';
  const nl = body.indexOf('\n');
  const line = nl === -1 ? body : body.slice(0, nl);
  return line.length > 200 ? `${line.slice(0, 199)}…` : line;
}
