import type { Attributes } from '../../model/attributes.ts';
import { blankEvent, type InstrumentationScope, type VigilEvent } from '../../model/event.ts';
import { defaultTitle } from '../json/mapping.ts';
import { decodeAnyValue, decodeKeyValue } from './attributesProto.ts';
import { walkJsonRequest, walkProtoRequest, type Checkpoint, type ScopeSink } from './requestWalk.ts';
import {
  jsonAnyValue,
  jsonAttributes,
  jsonEnum,
  jsonId,
  jsonInt32,
  jsonMessage,
  jsonString,
  jsonTime,
} from './jsonValues.ts';
import { assetOf, serviceOf } from './modelFields.ts';
import { idProblem, isZeroId, Rejections, type Decoded } from './rejections.ts';
import { checkEnd, fixed64, hexBytes, readString, skip, subEnd, type Reader } from './wireReader.ts';

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
function finishLog(ev: VigilEvent, from: ResourceFields, observed: bigint): string | undefined {
  if (isZeroId(ev.traceId)) ev.traceId = '';
  if (isZeroId(ev.spanId)) ev.spanId = '';
  const bad = idProblem('traceId', ev.traceId, 16, true) ?? idProblem('spanId', ev.spanId, 8, true);
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

function acceptLogs(items: VigilEvent[], rejected: Rejections, observed: bigint, what: string): ScopeSink<VigilEvent> {
  return (events, resource, scope) => {
    // Looked up once per scope block, not per record.
    const from: ResourceFields = { resource, scope, service: serviceOf(resource), asset: assetOf(resource) };
    for (const ev of events) {
      const bad = finishLog(ev, from, observed);
      if (bad) rejected.add(`${what}: ${bad}`);
      else items.push(ev);
    }
  };
}

/** LogRecord.event_name has no model field of its own; the `event.name` attribute predates it. */
function setEventName(ev: VigilEvent, name: string): void {
  if (name !== '' && ev.attributes['event.name'] === undefined) ev.attributes['event.name'] = name;
}

// ---- protobuf ----

/** The batch's receive time in ms, which its records' ids carry (one clock read per batch). */
const msOf = (observedNanos: bigint): number => Number(observedNanos / 1_000_000n);

function decodeLogRecord(r: Reader, end: number, idMs: number): VigilEvent {
  const ev = blankEvent('otlp', 0n, idMs);
  let eventName = '';
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case 9:
        ev.timeUnixNano = fixed64(r);
        break;
      case 89:
        ev.observedTimeUnixNano = fixed64(r);
        break;
      case 16:
        ev.severityNumber = r.int32();
        break;
      case 26:
        ev.severityText = readString(r);
        break;
      case 42:
        ev.body = decodeAnyValue(r, subEnd(r, end), 0);
        break;
      case 50:
        decodeKeyValue(r, subEnd(r, end), ev.attributes, 0);
        break;
      case 69:
        ev.flags = r.fixed32();
        break;
      case 74:
        ev.traceId = hexBytes(r, end);
        break;
      case 82:
        ev.spanId = hexBytes(r, end);
        break;
      case 98:
        eventName = readString(r);
        break;
      default:
        skip(r, tag);
    }
  }
  checkEnd(r, end);
  setEventName(ev, eventName);
  return ev;
}

/** collector.logs.v1.ExportLogsServiceRequest (protobuf) → events. */
export function decodeLogsProto(r: Reader, observed: bigint, checkpoint?: Checkpoint): Decoded<VigilEvent> {
  const items: VigilEvent[] = [];
  const rejected = new Rejections();
  const idMs = msOf(observed);
  walkProtoRequest<VigilEvent>(
    r,
    (rd, end, out) => out.push(decodeLogRecord(rd, end, idMs)),
    acceptLogs(items, rejected, observed, 'log record'),
    checkpoint,
  );
  return { items, rejected };
}

// ---- OTLP/JSON ----

function jsonLogRecord(v: unknown, field: string, observed: bigint, idMs: number): VigilEvent {
  const o = jsonMessage(v, field);
  const ev = blankEvent('otlp', observed, idMs);
  ev.timeUnixNano = jsonTime(o.timeUnixNano, `${field}.timeUnixNano`);
  ev.observedTimeUnixNano = jsonTime(o.observedTimeUnixNano, `${field}.observedTimeUnixNano`);
  ev.severityNumber = jsonEnum(o.severityNumber, `${field}.severityNumber`, 24);
  ev.severityText = jsonString(o.severityText, `${field}.severityText`);
  ev.body = jsonAnyValue(o.body, `${field}.body`);
  jsonAttributes(o.attributes, `${field}.attributes`, ev.attributes);
  ev.flags = jsonInt32(o.flags, `${field}.flags`);
  ev.traceId = jsonId(o.traceId, `${field}.traceId`);
  ev.spanId = jsonId(o.spanId, `${field}.spanId`);
  setEventName(ev, jsonString(o.eventName, `${field}.eventName`));
  return ev;
}

/** ExportLogsServiceRequest in OTLP/JSON → events. */
export function decodeLogsJson(
  doc: Record<string, unknown>,
  observed: bigint,
  checkpoint?: Checkpoint,
): Decoded<VigilEvent> {
  const items: VigilEvent[] = [];
  const rejected = new Rejections();
  const idMs = msOf(observed);
  walkJsonRequest<VigilEvent>(
    doc,
    ['resourceLogs', 'scopeLogs', 'logRecords'],
    (v, field, out) => out.push(jsonLogRecord(v, field, observed, idMs)),
    acceptLogs(items, rejected, observed, 'log record'),
    rejected,
    checkpoint,
  );
  return { items, rejected };
}
