/**
 * OTLP traces in either format: the blank span, the checks that reject one, and the error events
 * made from failed spans; the decoders are in proto/traces.ts and json/traces.ts.
 */
import type { Attributes } from '../model/attributes.ts';
import { newEvent, type VigilEvent } from '../model/event.ts';
import { SeverityNumber } from '../model/severity.ts';
import { SpanStatusCode, type Span } from '../model/span.ts';
import { defaultTitle } from '../model/title.ts';
import type { ScopeSink } from './requestWalk.ts';
import { assetOf, serviceOf } from './modelFields.ts';
import { idProblem, type IdEncoding, type Rejections } from './rejections.ts';

export function blankSpan(): Span {
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

function spanProblem(s: Span, ids: IdEncoding): string | undefined {
  const bad =
    idProblem('traceId', s.traceId, 16, false, ids) ??
    idProblem('spanId', s.spanId, 8, false, ids) ??
    idProblem('parentSpanId', s.parentSpanId, 8, true, ids);
  if (bad) return bad;
  if (s.kind < 0 || s.kind > 5) return `kind must be 0–5, got ${s.kind}`;
  if (s.statusCode < 0 || s.statusCode > 2) return `status.code must be 0–2, got ${s.statusCode}`;
  for (const l of s.links) {
    const badLink =
      idProblem('link traceId', l.traceId, 16, false, ids) ?? idProblem('link spanId', l.spanId, 8, false, ids);
    if (badLink) return badLink;
  }
  return undefined;
}

export function acceptSpans(items: Span[], rejected: Rejections, ids: IdEncoding): ScopeSink<Span> {
  return (spans, resource, scope) => {
    const service = serviceOf(resource);
    for (const s of spans) {
      const bad = spanProblem(s, ids);
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
