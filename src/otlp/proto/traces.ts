/**
 * collector.trace.v1.ExportTraceServiceRequest in protobuf → spans, read field by field (each
 * `case` is a tag, field number << 3 | wire type, from opentelemetry/proto/trace/v1/trace.proto).
 */
import type { Span, SpanEvent, SpanLink } from '../../model/span.ts';
import { decodeKeyValue } from './attributes.ts';
import { walkProtoRequest, type Checkpoint } from '../requestWalk.ts';
import { Rejections, type Decoded } from '../rejections.ts';
import { checkEnd, fixed64, hexBytes, readString, skip, subEnd, type Reader } from './wireReader.ts';
import { acceptSpans, blankSpan } from '../traces.ts';

function decodeSpanEvent(r: Reader, end: number): SpanEvent {
  const e: SpanEvent = { timeUnixNano: 0n, name: '', attributes: {} };
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 9)
      e.timeUnixNano = fixed64(r); // time_unix_nano = 1, I64
    else if (tag === 18)
      e.name = readString(r); // name = 2, LEN
    else if (tag === 26)
      decodeKeyValue(r, subEnd(r, end), e.attributes, 0); // attributes = 3, LEN
    else skip(r, tag);
  }
  checkEnd(r, end);
  return e;
}

function decodeLink(r: Reader, end: number): SpanLink {
  const l: SpanLink = { traceId: '', spanId: '', traceState: '', attributes: {} };
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 10)
      l.traceId = hexBytes(r, end); // trace_id = 1, LEN
    else if (tag === 18)
      l.spanId = hexBytes(r, end); // span_id = 2, LEN
    else if (tag === 26)
      l.traceState = readString(r); // trace_state = 3, LEN
    else if (tag === 34)
      decodeKeyValue(r, subEnd(r, end), l.attributes, 0); // attributes = 4, LEN
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
      case 10: // trace_id = 1, LEN
        s.traceId = hexBytes(r, end);
        break;
      case 18: // span_id = 2, LEN
        s.spanId = hexBytes(r, end);
        break;
      case 26: // trace_state = 3, LEN
        s.traceState = readString(r);
        break;
      case 34: // parent_span_id = 4, LEN
        s.parentSpanId = hexBytes(r, end);
        break;
      case 133: // flags = 16, I32
        s.flags = r.fixed32();
        break;
      case 42: // name = 5, LEN
        s.name = readString(r);
        break;
      case 48: // kind = 6, VARINT
        s.kind = r.int32();
        break;
      case 57: // start_time_unix_nano = 7, I64
        s.startTimeUnixNano = fixed64(r);
        break;
      case 65: // end_time_unix_nano = 8, I64
        s.endTimeUnixNano = fixed64(r);
        break;
      case 74: // attributes = 9, LEN
        decodeKeyValue(r, subEnd(r, end), s.attributes, 0);
        break;
      case 90: // events = 11, LEN
        s.events.push(decodeSpanEvent(r, subEnd(r, end)));
        break;
      case 106: // links = 13, LEN
        s.links.push(decodeLink(r, subEnd(r, end)));
        break;
      case 122: {
        // status = 15, LEN
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
  walkProtoRequest<Span>(
    r,
    (rd, end, out) => out.push(decodeSpan(rd, end)),
    acceptSpans(items, rejected, 'bytes'),
    checkpoint,
  );
  return { items, rejected };
}
