import type { Attributes } from '../../model/attributes.ts';
import { newEvent, type VigilEvent } from '../../model/event.ts';
import { SeverityNumber } from '../../model/severity.ts';
import { SpanStatusCode, type Span, type SpanEvent, type SpanLink } from '../../model/span.ts';
import { defaultTitle } from '../json/mapping.ts';
import { decodeKeyValue } from './attributesProto.ts';
import { walkJsonRequest, walkProtoRequest, type Checkpoint, type ScopeSink } from './requestWalk.ts';
import {
  jsonAttributes,
  jsonEnum,
  jsonId,
  jsonInt32,
  jsonList,
  jsonMessage,
  jsonString,
  jsonTime,
} from './jsonValues.ts';
import { assetOf, serviceOf } from './modelFields.ts';
import { idProblem, Rejections, type Decoded } from './rejections.ts';
import { checkEnd, fixed64, hexBytes, readString, skip, subEnd, type Reader } from './wireReader.ts';

function blankSpan(): Span {
  return {
    traceId: '',
    spanId: '',
    parentSpanId: '',
    traceState: '',
    flags: 0,
    name: '',
    kind: 0,
    startTimeUnixNano: 0n,
    endTimeUnixNano: 0n,
    attributes: {},
    resource: {},
    scope: undefined,
    events: [],
    links: [],
    statusCode: 0,
    statusMessage: '',
    service: '',
    tenant: '',
  };
}

function spanProblem(s: Span): string | undefined {
  const bad =
    idProblem('traceId', s.traceId, 16, false) ??
    idProblem('spanId', s.spanId, 8, false) ??
    idProblem('parentSpanId', s.parentSpanId, 8, true);
  if (bad) return bad;
  if (s.kind < 0 || s.kind > 5) return `kind must be 0–5, got ${s.kind}`;
  if (s.statusCode < 0 || s.statusCode > 2) return `status.code must be 0–2, got ${s.statusCode}`;
  for (const l of s.links) {
    const badLink = idProblem('link traceId', l.traceId, 16, false) ?? idProblem('link spanId', l.spanId, 8, false);
    if (badLink) return badLink;
  }
  return undefined;
}

function acceptSpans(items: Span[], rejected: Rejections): ScopeSink<Span> {
  return (spans, resource, scope) => {
    const service = serviceOf(resource);
    for (const s of spans) {
      const bad = spanProblem(s);
      if (bad) {
        rejected.add(`span ${JSON.stringify(s.name)}: ${bad}`);
        continue;
      }
      s.resource = resource;
      s.scope = scope;
      s.service = service;
      items.push(s);
    }
  };
}

const EXCEPTION_KEYS = ['exception.type', 'exception.message', 'exception.stacktrace'] as const;

/**
 * A span whose status is ERROR, as an event for correlation: severity ERROR, the status
 * message (or the first exception's) as body, the span's attributes plus `span.name` and the
 * exception fields, and the span's trace context.
 */
export function errorEventFromSpan(s: Span, observed: bigint): VigilEvent {
  const attributes: Attributes = { ...s.attributes, 'span.name': s.name, 'span.kind': s.kind };
  const exception = s.events.find((e) => e.name === 'exception');
  if (exception)
    for (const k of EXCEPTION_KEYS) if (exception.attributes[k] !== undefined) attributes[k] = exception.attributes[k];
  const message =
    s.statusMessage || (typeof attributes['exception.message'] === 'string' ? attributes['exception.message'] : '');
  const body = message ? `${s.name}: ${message}` : `${s.name} failed`;
  return newEvent(
    {
      source: 'otlp',
      timeUnixNano: s.endTimeUnixNano || s.startTimeUnixNano,
      observedTimeUnixNano: observed,
      severityNumber: SeverityNumber.ERROR,
      severityText: 'ERROR',
      body,
      title: defaultTitle(body),
      attributes,
      resource: s.resource,
      scope: s.scope,
      traceId: s.traceId,
      spanId: s.spanId,
      flags: (s.flags ?? 0) & 0xff,
      asset: assetOf(s.resource),
      service: s.service,
      tenant: s.tenant,
    },
    observed,
  );
}

export function errorEvents(spans: Span[], observed: bigint): VigilEvent[] {
  const out: VigilEvent[] = [];
  for (const s of spans) if (s.statusCode === SpanStatusCode.ERROR) out.push(errorEventFromSpan(s, observed));
  return out;
}

// ---- protobuf ----

function decodeSpanEvent(r: Reader, end: number): SpanEvent {
  const e: SpanEvent = { timeUnixNano: 0n, name: '', attributes: {} };
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 9) e.timeUnixNano = fixed64(r);
    else if (tag === 18) e.name = readString(r);
    else if (tag === 26) decodeKeyValue(r, subEnd(r, end), e.attributes, 0);
    else skip(r, tag);
  }
  checkEnd(r, end);
  return e;
}

function decodeLink(r: Reader, end: number): SpanLink {
  const l: SpanLink = { traceId: '', spanId: '', traceState: '', attributes: {} };
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 10) l.traceId = hexBytes(r, end);
    else if (tag === 18) l.spanId = hexBytes(r, end);
    else if (tag === 26) l.traceState = readString(r);
    else if (tag === 34) decodeKeyValue(r, subEnd(r, end), l.attributes, 0);
    else skip(r, tag);
  }
  checkEnd(r, end);
  return l;
}

function decodeSpan(r: Reader, end: number): Span {
  const s = blankSpan();
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case 10:
        s.traceId = hexBytes(r, end);
        break;
      case 18:
        s.spanId = hexBytes(r, end);
        break;
      case 26:
        s.traceState = readString(r);
        break;
      case 34:
        s.parentSpanId = hexBytes(r, end);
        break;
      case 133:
        s.flags = r.fixed32();
        break;
      case 42:
        s.name = readString(r);
        break;
      case 48:
        s.kind = r.int32();
        break;
      case 57:
        s.startTimeUnixNano = fixed64(r);
        break;
      case 65:
        s.endTimeUnixNano = fixed64(r);
        break;
      case 74:
        decodeKeyValue(r, subEnd(r, end), s.attributes, 0);
        break;
      case 90:
        s.events.push(decodeSpanEvent(r, subEnd(r, end)));
        break;
      case 106:
        s.links.push(decodeLink(r, subEnd(r, end)));
        break;
      case 122: {
        const e = subEnd(r, end);
        while (r.pos < e) {
          const t = r.uint32();
          if (t === 18) s.statusMessage = readString(r);
          else if (t === 24) s.statusCode = r.int32();
          else skip(r, t);
        }
        checkEnd(r, e);
        break;
      }
      default:
        skip(r, tag);
    }
  }
  checkEnd(r, end);
  return s;
}

/** collector.trace.v1.ExportTraceServiceRequest (protobuf) → spans. */
export function decodeTracesProto(r: Reader, checkpoint?: Checkpoint): Decoded<Span> {
  const items: Span[] = [];
  const rejected = new Rejections();
  walkProtoRequest<Span>(r, (rd, end, out) => out.push(decodeSpan(rd, end)), acceptSpans(items, rejected), checkpoint);
  return { items, rejected };
}

// ---- OTLP/JSON ----

function jsonSpan(v: unknown, field: string): Span {
  const o = jsonMessage(v, field);
  const s = blankSpan();
  s.traceId = jsonId(o.traceId, `${field}.traceId`);
  s.spanId = jsonId(o.spanId, `${field}.spanId`);
  s.parentSpanId = jsonId(o.parentSpanId, `${field}.parentSpanId`);
  s.traceState = jsonString(o.traceState, `${field}.traceState`);
  s.flags = jsonInt32(o.flags, `${field}.flags`);
  s.name = jsonString(o.name, `${field}.name`);
  s.kind = jsonEnum(o.kind, `${field}.kind`, 5);
  s.startTimeUnixNano = jsonTime(o.startTimeUnixNano, `${field}.startTimeUnixNano`);
  s.endTimeUnixNano = jsonTime(o.endTimeUnixNano, `${field}.endTimeUnixNano`);
  jsonAttributes(o.attributes, `${field}.attributes`, s.attributes);
  s.events = jsonList(o.events, `${field}.events`).map((x, i) => {
    const e = jsonMessage(x, `${field}.events[${i}]`);
    return {
      timeUnixNano: jsonTime(e.timeUnixNano, `${field}.events[${i}].timeUnixNano`),
      name: jsonString(e.name, `${field}.events[${i}].name`),
      attributes: jsonAttributes(e.attributes, `${field}.events[${i}].attributes`, {}),
    };
  });
  s.links = jsonList(o.links, `${field}.links`).map((x, i) => {
    const l = jsonMessage(x, `${field}.links[${i}]`);
    return {
      traceId: jsonId(l.traceId, `${field}.links[${i}].traceId`),
      spanId: jsonId(l.spanId, `${field}.links[${i}].spanId`),
      traceState: jsonString(l.traceState, `${field}.links[${i}].traceState`),
      attributes: jsonAttributes(l.attributes, `${field}.links[${i}].attributes`, {}),
    };
  });
  if (o.status !== undefined && o.status !== null) {
    const st = jsonMessage(o.status, `${field}.status`);
    s.statusCode = jsonEnum(st.code, `${field}.status.code`, 2);
    s.statusMessage = jsonString(st.message, `${field}.status.message`);
  }
  return s;
}

/** ExportTraceServiceRequest in OTLP/JSON → spans. */
export function decodeTracesJson(doc: Record<string, unknown>, checkpoint?: Checkpoint): Decoded<Span> {
  const items: Span[] = [];
  const rejected = new Rejections();
  walkJsonRequest<Span>(
    doc,
    ['resourceSpans', 'scopeSpans', 'spans'],
    (v, field, out) => out.push(jsonSpan(v, field)),
    acceptSpans(items, rejected),
    rejected,
    checkpoint,
  );
  return { items, rejected };
}
