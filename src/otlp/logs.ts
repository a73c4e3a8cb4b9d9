/**
 * OTLP logs in either format: what each log record takes from its resource and scope, and the
 * checks that reject one; the decoders are in proto/logs.ts and json/logs.ts.
 */
import type { Attributes } from '../model/attributes.ts';
import type { InstrumentationScope, VigilEvent } from '../model/event.ts';
import { defaultTitle } from '../model/title.ts';
import type { ScopeSink } from './requestWalk.ts';
import { assetOf, serviceOf } from './modelFields.ts';
import { idProblem, isZeroId, type IdEncoding, type Rejections } from './rejections.ts';

/** What every record of one scope block takes from its resource and scope. */
interface ResourceFields {
  resource: Attributes;
  scope: InstrumentationScope | undefined;
  service: string;
  asset: string;
}

/**
 * Fills what comes from the enclosing resource and scope, which protobuf allows to arrive
 * after the records, and validates the record. Returns the reason to reject it, if any.
 */
function finishLog(ev: VigilEvent, from: ResourceFields, observed: bigint, ids: IdEncoding): string | undefined {
  if (isZeroId(ev.traceId)) ev.traceId = '';
  if (isZeroId(ev.spanId)) ev.spanId = '';
  const bad = idProblem('traceId', ev.traceId, 16, true, ids) ?? idProblem('spanId', ev.spanId, 8, true, ids);
  if (bad) return bad;
  if (ev.severityNumber < 0 || ev.severityNumber > 24) return `severityNumber must be 0–24, got ${ev.severityNumber}`;
  if (ev.observedTimeUnixNano === 0n) ev.observedTimeUnixNano = observed;
  ev.resource = from.resource;
  ev.scope = from.scope;
  ev.service = from.service;
  ev.asset = from.asset;
  ev.title = defaultTitle(ev.body);
  return undefined;
}

export function acceptLogs(
  items: VigilEvent[],
  rejected: Rejections,
  observed: bigint,
  what: string,
  ids: IdEncoding,
): ScopeSink<VigilEvent> {
  return (events, resource, scope) => {
    // Looked up once per scope block, not per record.
    const from: ResourceFields = { resource, scope, service: serviceOf(resource), asset: assetOf(resource) };
    for (const ev of events) {
      const bad = finishLog(ev, from, observed, ids);
      if (bad) rejected.add(`${what}: ${bad}`);
      else items.push(ev);
    }
  };
}

/** LogRecord.event_name has no model field of its own; the `event.name` attribute predates it. */
export function setEventName(ev: VigilEvent, name: string): void {
  if (name !== '' && ev.attributes['event.name'] === undefined) ev.attributes['event.name'] = name;
}

/** The batch's receive time in ms, which its records' ids carry (one clock read per batch). */
export const msOf = (observedNanos: bigint): number => Number(observedNanos / 1_000_000n);
