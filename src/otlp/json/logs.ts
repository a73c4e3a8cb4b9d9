/** collector.logs.v1.ExportLogsServiceRequest in OTLP/JSON → events. */
import { blankEvent, type VigilEvent } from '../../model/event.ts';
import { walkJsonRequest, type Checkpoint } from '../requestWalk.ts';
import {
  jsonAnyValue,
  jsonAttributes,
  jsonEnum,
  jsonId,
  jsonInt32,
  jsonMessage,
  jsonString,
  jsonTime,
} from './values.ts';
import { Rejections, type Decoded } from '../rejections.ts';
import { acceptLogs, msOf, setEventName } from '../logs.ts';

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
    acceptLogs(items, rejected, observed, 'log record', 'text'),
    rejected,
    checkpoint,
  );
  return { items, rejected };
}
