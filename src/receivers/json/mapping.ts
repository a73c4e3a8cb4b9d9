import { defaultTitle } from '../../model/title.ts';
import { assignAttrs, setAttr, type AttrValue } from '../../model/attributes.ts';
import { newEvent, type EventType, type VigilEvent } from '../../model/event.ts';
import { severityFromText } from '../../model/severity.ts';
import { parseTimestampNs } from '../../model/timestamp.ts';
import type { FieldMapping } from './config.ts';

/**
 * Reads one mapped field from a record: the value, or undefined, with the key it was found
 * under left in `found.key`. One reused holder instead of a `{key, value}` object per field
 * and record: the mapper reads a dozen fields of every event.
 */
type Getter = (rec: Record<string, unknown>, found: Found) => unknown;
interface Found {
  key: string;
}

function compilePath(path: string): Getter {
  const parts = path.split('.');
  if (parts.length === 1) {
    return (rec, found) => {
      const v = rec[path];
      if (v !== undefined) found.key = path;
      return v;
    };
  }
  // "host.name" may be a literal flat key (OTel style) or a nested object.
  const top = parts[0]!;
  return (rec, found) => {
    const flat = rec[path];
    if (flat !== undefined) {
      found.key = path;
      return flat;
    }
    let cur: unknown = rec;
    for (const p of parts) {
      if (cur === null || typeof cur !== 'object') return undefined;
      cur = (cur as Record<string, unknown>)[p];
    }
    if (cur !== undefined) found.key = top;
    return cur;
  };
}

const isScalar = (v: unknown) => typeof v !== 'object';

/** First path with a value; `scalarOnly` skips objects so `service: {name: x}` falls through to `service.name`. */
function firstOf(paths: string[], scalarOnly: boolean): Getter {
  const getters = paths.map(compilePath);
  const fallbackAt: Found = { key: '' };
  return (rec, found) => {
    let fallback: unknown;
    for (const g of getters) {
      const v = g(rec, found);
      if (v === undefined || v === null) continue;
      if (!scalarOnly || isScalar(v)) return v;
      if (fallback === undefined) {
        fallback = v;
        fallbackAt.key = found.key;
      }
    }
    if (fallback !== undefined) found.key = fallbackAt.key;
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

/** The words `type` takes, lower-cased, and what each means; no prototype, so `constructor` is no type. */
export const TYPES: Readonly<Record<string, EventType>> = Object.assign(
  Object.create(null) as Record<string, EventType>,
  {
    up: 'up',
    down: 'down',
    neutral: 'neutral',
    ok: 'up',
    problem: 'down',
    resolved: 'up',
  },
);

type StringField = 'asset' | 'title' | 'service' | 'tenant';
const STRING_FIELDS: readonly StringField[] = ['asset', 'title', 'service', 'tenant'];
const HEX_ID: Record<'trace_id' | 'span_id', RegExp> = { trace_id: /^[0-9a-fA-F]{32}$/, span_id: /^[0-9a-fA-F]{16}$/ };

/**
 * Turns one JSON object into an event by the configured field mapping. Keys the mapping did
 * not consume become record attributes, so nothing a sender sent is lost. Written for the hot
 * path: no closures or sets per record.
 */
export class JsonEventMapper {
  private readonly get: Record<keyof FieldMapping, Getter>;
  private readonly used: string[] = [];
  /** Where the last field read was found. */
  private readonly found: Found = { key: '' };

  constructor(mapping: FieldMapping) {
    this.get = Object.fromEntries(
      Object.entries(mapping).map(([k, paths]) => [
        k,
        firstOf(paths, k !== 'attributes' && k !== 'resource' && k !== 'body'),
      ]),
    ) as Record<keyof FieldMapping, Getter>;
  }

  /** The field's value, or undefined; its key is then in `this.found.key` and counted as used. */
  private take(field: keyof FieldMapping, rec: Record<string, unknown>): unknown {
    const v = this.get[field](rec, this.found);
    if (v !== undefined) this.used.push(this.found.key);
    return v;
  }

  map(input: unknown, observedNs: bigint): MappedRecord | RejectedRecord {
    if (input === null || typeof input !== 'object' || Array.isArray(input)) {
      return {
        ok: false,
        reason: `an event must be a JSON object, got ${input === null ? 'null' : Array.isArray(input) ? 'an array' : typeof input}`,
      };
    }
    const rec = input as Record<string, unknown>;
    if (nestedDeeperThan(rec, MAX_DEPTH))
      return { ok: false, reason: `values nested deeper than ${MAX_DEPTH} levels; flatten the event` };
    this.used.length = 0;
    const found = this.found;
    // The observed time passed as `now`: a default `now` would read the clock once more per event.
    const ev = newEvent({ source: 'json' }, observedNs);

    const time = this.take('time', rec);
    if (time !== undefined) {
      const ns = parseTimestampNs(time);
      if (ns === undefined)
        return {
          ok: false,
          reason: `field "${found.key}": not a timestamp (epoch number or ISO-8601 string): ${JSON.stringify(time)}`,
        };
      ev.timeUnixNano = ns;
    }

    const sev = this.take('severity', rec);
    if (sev !== undefined) {
      if (typeof sev === 'number') {
        if (!Number.isInteger(sev) || sev < 0 || sev > 24)
          return {
            ok: false,
            reason: `field "${found.key}": a numeric severity must be an OTel SeverityNumber 0–24, got ${sev}`,
          };
        ev.severityNumber = sev;
      } else if (typeof sev === 'string') {
        ev.severityText = sev;
        ev.severityNumber = severityFromText(sev);
      } else return { ok: false, reason: `field "${found.key}": severity must be a string or number` };
    }

    const type = this.take('type', rec);
    if (type !== undefined) {
      const t = typeof type === 'string' ? TYPES[type.trim().toLowerCase()] : undefined;
      if (!t)
        return {
          ok: false,
          reason: `field "${found.key}": type must be one of up, down, neutral; got ${JSON.stringify(type)}`,
        };
      ev.type = t;
    }

    const body = this.take('body', rec);
    if (body !== undefined) ev.body = toAttr(body);
    for (const field of STRING_FIELDS) {
      const hit = this.take(field, rec);
      if (hit === undefined) continue;
      const v = scalarString(hit);
      if (v === undefined) return { ok: false, reason: `field "${found.key}": ${field} must be a string` };
      ev[field] = v;
    }
    for (const field of ['trace_id', 'span_id'] as const) {
      const hit = this.take(field, rec);
      if (hit === undefined) continue;
      const v = scalarString(hit);
      if (v === undefined || !HEX_ID[field].test(v))
        return { ok: false, reason: `field "${field}": must be ${field === 'trace_id' ? 32 : 16} hex digits` };
      ev[field === 'trace_id' ? 'traceId' : 'spanId'] = v.toLowerCase();
    }
    for (const field of ['attributes', 'resource'] as const) {
      const hit = this.take(field, rec);
      if (hit === undefined) continue;
      if (hit === null || typeof hit !== 'object' || Array.isArray(hit))
        return { ok: false, reason: `field "${found.key}": must be an object` };
      assignAttrs(field === 'attributes' ? ev.attributes : ev.resource, hit as Record<string, unknown>);
    }
    const used = this.used;
    for (const key of Object.keys(rec)) {
      if (!used.includes(key)) setAttr(ev.attributes, key, toAttr(rec[key]));
    }
    if (!ev.service && typeof ev.resource['service.name'] === 'string') ev.service = ev.resource['service.name'];
    if (!ev.title) ev.title = defaultTitle(ev.body);
    return { ok: true, event: ev };
  }
}

/**
 * How deep an event's values may nest, as for OTLP AnyValues: every stage after the receiver
 * (templates, exporters, JSON.stringify) recurses, so a tiny record nested 20,000 deep would
 * throw there, in a batch shared with other senders' records, instead of here, alone.
 */
const MAX_DEPTH = 64;

/** Whether objects and arrays nest more than `max` levels below `root`; iterative, so it cannot overflow the stack itself. */
function nestedDeeperThan(root: object, max: number): boolean {
  // Most events are flat: one pass over the top level settles them without allocating.
  let flat = true;
  for (const k in root) {
    const v = (root as Record<string, unknown>)[k];
    if (v !== null && typeof v === 'object') {
      flat = false;
      break;
    }
  }
  if (flat && max >= 1) return false;
  const stack: [object, number][] = [[root, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    const values = Array.isArray(node) ? node : Object.values(node);
    for (const v of values) {
      if (v === null || typeof v !== 'object') continue;
      if (depth + 1 > max) return true;
      stack.push([v as object, depth + 1]);
    }
  }
  return false;
}

function scalarString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

function toAttr(v: unknown): AttrValue {
  if (v === undefined) return null;
  return v as AttrValue;
}
