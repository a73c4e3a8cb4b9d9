/** collector.trace.v1.ExportTraceServiceRequest in OTLP/JSON → spans. */
import type { Span } from '../../model/span.ts';
import { walkJsonRequest, type Checkpoint } from '../requestWalk.ts';
import { jsonAttributes, jsonEnum, jsonId, jsonInt32, jsonList, jsonMessage, jsonString, jsonTime } from './values.ts';
import { Rejections, type Decoded } from '../rejections.ts';
import { acceptSpans, blankSpan } from '../traces.ts';

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
    acceptSpans(items, rejected, 'text'),
    rejected,
    checkpoint,
  );
  return { items, rejected };
}
