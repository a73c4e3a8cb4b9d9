/**
 * collector.logs.v1.ExportLogsServiceRequest in protobuf → events, read field by field (each
 * `case` is a tag, field number << 3 | wire type, from opentelemetry/proto/logs/v1/logs.proto).
 */
import { blankEvent, type VigilEvent } from '../../model/event.ts';
import { decodeAnyValue, decodeKeyValue } from './attributes.ts';
import { walkProtoRequest, type Checkpoint } from '../requestWalk.ts';
import { Rejections, type Decoded } from '../rejections.ts';
import { checkEnd, fixed64, hexBytes, readString, skip, subEnd, type Reader } from './wireReader.ts';
import { acceptLogs, msOf, setEventName } from '../logs.ts';

function decodeLogRecord(r: Reader, end: number, idMs: number): VigilEvent {
  const ev = blankEvent('otlp', 0n, idMs);
  let eventName = '';
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case 9: // time_unix_nano = 1, I64
        ev.timeUnixNano = fixed64(r);
        break;
      case 89: // observed_time_unix_nano = 11, I64
        ev.observedTimeUnixNano = fixed64(r);
        break;
      case 16: // severity_number = 2, VARINT
        ev.severityNumber = r.int32();
        break;
      case 26: // severity_text = 3, LEN
        ev.severityText = readString(r);
        break;
      case 42: // body = 5, LEN
        ev.body = decodeAnyValue(r, subEnd(r, end), 0);
        break;
      case 50: // attributes = 6, LEN
        decodeKeyValue(r, subEnd(r, end), ev.attributes, 0);
        break;
      case 69: // flags = 8, I32
        ev.flags = r.fixed32();
        break;
      case 74: // trace_id = 9, LEN
        ev.traceId = hexBytes(r, end);
        break;
      case 82: // span_id = 10, LEN
        ev.spanId = hexBytes(r, end);
        break;
      case 98: // event_name = 12, LEN
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
    acceptLogs(items, rejected, observed, 'log record', 'bytes'),
    checkpoint,
  );
  return { items, rejected };
}
