import type { Span } from '../../model/span.ts';
import { writeAttributes, writeRequest } from './commonEncode.ts';
import { ProtoWriter, WireType } from './protoWriter.ts';

/** trace.v1.Span and its nested messages' field numbers (opentelemetry/proto/trace/v1/trace.proto). */
const SpanField = {
  trace_id: 1,
  span_id: 2,
  trace_state: 3,
  parent_span_id: 4,
  name: 5,
  kind: 6,
  start_time_unix_nano: 7,
  end_time_unix_nano: 8,
  attributes: 9,
  events: 11,
  links: 13,
  status: 15,
  flags: 16,
} as const;
const EventField = { time_unix_nano: 1, name: 2, attributes: 3 } as const;
const LinkField = { trace_id: 1, span_id: 2, trace_state: 3, attributes: 4 } as const;
const StatusField = { message: 2, code: 3 } as const;
/** ScopeSpans.spans. */
const SPANS = 2;

function writeSpan(w: ProtoWriter, s: Span): void {
  w.tag(SPANS, WireType.LEN);
  const mark = w.begin();
  w.hexField(SpanField.trace_id, s.traceId);
  w.hexField(SpanField.span_id, s.spanId);
  if (s.traceState !== '') w.stringField(SpanField.trace_state, s.traceState);
  if (s.parentSpanId !== '') w.hexField(SpanField.parent_span_id, s.parentSpanId);
  if (s.flags) w.fixed32Field(SpanField.flags, s.flags);
  w.stringField(SpanField.name, s.name);
  if (s.kind !== 0) w.varintField(SpanField.kind, s.kind);
  w.fixed64Field(SpanField.start_time_unix_nano, s.startTimeUnixNano);
  w.fixed64Field(SpanField.end_time_unix_nano, s.endTimeUnixNano);
  writeAttributes(w, SpanField.attributes, s.attributes);
  for (const e of s.events) {
    w.tag(SpanField.events, WireType.LEN);
    const m = w.begin();
    w.fixed64Field(EventField.time_unix_nano, e.timeUnixNano);
    if (e.name !== '') w.stringField(EventField.name, e.name);
    writeAttributes(w, EventField.attributes, e.attributes);
    w.end(m);
  }
  for (const l of s.links) {
    w.tag(SpanField.links, WireType.LEN);
    const m = w.begin();
    w.hexField(LinkField.trace_id, l.traceId);
    w.hexField(LinkField.span_id, l.spanId);
    if (l.traceState !== '') w.stringField(LinkField.trace_state, l.traceState);
    writeAttributes(w, LinkField.attributes, l.attributes);
    w.end(m);
  }
  if (s.statusCode !== 0 || s.statusMessage !== '') {
    w.tag(SpanField.status, WireType.LEN);
    const m = w.begin();
    if (s.statusMessage !== '') w.stringField(StatusField.message, s.statusMessage);
    if (s.statusCode !== 0) w.varintField(StatusField.code, s.statusCode);
    w.end(m);
  }
  w.end(mark);
}

/** Spans → collector.trace.v1.ExportTraceServiceRequest. */
export function encodeTracesRequest(spans: readonly Span[], w = new ProtoWriter()): Buffer {
  w.reset();
  writeRequest(w, spans, (wr, items) => {
    for (const s of items) writeSpan(wr, s);
  });
  return w.finish();
}
