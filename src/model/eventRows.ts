import { jsonReplacer, needsReplacer } from './attributes.ts';
import type { VigilEvent } from './event.ts';

/**
 * Events as they travel in a Redis stream entry of the owners design
 * (src/connectors/correlation/partitionOwner.ts): one JSON array of rows, each event's fields as
 * an array in the model's order, ns times as decimal strings, an observed time equal to the event
 * time as 0, no scope as null. No field names to write, send and parse: a third of the bytes of
 * `eventToJson`'s objects for a typical event, and about half the time to encode and decode
 * (measured in docs/benchmarks.md, "the daemon's own runtime on partitions"). Lossy as
 * `eventToJson` is: an int64 attribute beyond 2^53 and bytes come back as strings (decimal, base64).
 */
export function eventsToRows(events: readonly VigilEvent[], from = 0, to = events.length): string {
  const rows: unknown[] = [];
  let replace = false;
  for (let j = from; j < to; j++) {
    const e = events[j]!;
    replace ||=
      needsReplacer(e.body) || needsReplacer(e.attributes) || needsReplacer(e.resource) || needsReplacer(e.scope);
    rows.push([
      e.id,
      e.timeUnixNano.toString(),
      e.observedTimeUnixNano === e.timeUnixNano ? 0 : e.observedTimeUnixNano.toString(),
      e.severityNumber,
      e.severityText,
      e.body,
      e.attributes,
      e.resource,
      e.scope ?? null,
      e.traceId,
      e.spanId,
      e.flags,
      e.asset,
      e.title,
      e.type,
      e.service,
      e.tenant,
      e.fingerprint,
      e.source,
    ]);
  }
  return replace ? JSON.stringify(rows, jsonReplacer) : JSON.stringify(rows);
}

type Row = [
  id: string,
  time: string,
  observed: string | 0,
  severityNumber: number,
  severityText: string,
  body: VigilEvent['body'],
  attributes: VigilEvent['attributes'],
  resource: VigilEvent['resource'],
  scope: VigilEvent['scope'] | null,
  traceId: string,
  spanId: string,
  flags: number,
  asset: string,
  title: string,
  type: VigilEvent['type'],
  service: string,
  tenant: string,
  fingerprint: string,
  source: string,
];

/** The events of an `eventsToRows` text, each one object literal in newEvent's field order (one shape with every other event). */
export function eventsFromRows(text: string): VigilEvent[] {
  const rows = JSON.parse(text) as Row[];
  const out: VigilEvent[] = new Array<VigilEvent>(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    const time = BigInt(r[1]);
    out[i] = {
      id: r[0],
      timeUnixNano: time,
      observedTimeUnixNano: r[2] === 0 ? time : BigInt(r[2]),
      severityNumber: r[3],
      severityText: r[4],
      body: r[5],
      attributes: r[6],
      resource: r[7],
      scope: r[8] ?? undefined,
      traceId: r[9],
      spanId: r[10],
      flags: r[11],
      asset: r[12],
      title: r[13],
      type: r[14],
      service: r[15],
      tenant: r[16],
      fingerprint: r[17],
      source: r[18],
    };
  }
  return out;
}

/**
 * Whether `eventsFromRows(eventsToRows(events))` gives back events equal to these in every field:
 * nothing JSON renders otherwise (a bigint, bytes, an undefined value, a number that is not
 * finite, negative zero, an object other than a plain one) in their body, attributes, resource or scope.
 */
export function exactInRows(events: readonly VigilEvent[]): boolean {
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    if (
      !exactNumber(e.severityNumber) ||
      !exactNumber(e.flags) ||
      !exactJson(e.body) ||
      !exactJson(e.attributes) ||
      !exactJson(e.resource) ||
      (e.scope !== undefined && !exactJson(e.scope))
    )
      return false;
  }
  return true;
}

const exactNumber = (n: number) => Number.isFinite(n) && !Object.is(n, -0);

function exactJson(v: unknown): boolean {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return exactNumber(v);
    case 'object': {
      if (v === null) return true;
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) if (!exactJson(v[i])) return false;
        return true;
      }
      if (Object.getPrototypeOf(v) !== Object.prototype) return false;
      for (const k in v) if (!exactJson((v as Record<string, unknown>)[k])) return false;
      return true;
    }
    default:
      return false;
  }
}
