import type { VigilEvent } from '../../model/event.ts';
import { writeAnyValueField, writeAttributes, writeRequest } from './commonEncode.ts';
import { ProtoWriter, WireType } from './protoWriter.ts';

/** logs.v1.LogRecord field numbers (opentelemetry/proto/logs/v1/logs.proto). */
const LogRecord = {
  time_unix_nano: 1,
  severity_number: 2,
  severity_text: 3,
  body: 5,
  attributes: 6,
  flags: 8,
  trace_id: 9,
  span_id: 10,
  observed_time_unix_nano: 11,
} as const;
/** ScopeLogs.log_records. */
const LOG_RECORDS = 2;

function writeLogRecord(w: ProtoWriter, e: VigilEvent): void {
  w.tag(LOG_RECORDS, WireType.LEN);
  const mark = w.begin();
  if (e.timeUnixNano !== 0n) w.fixed64Field(LogRecord.time_unix_nano, e.timeUnixNano);
  if (e.observedTimeUnixNano !== 0n) w.fixed64Field(LogRecord.observed_time_unix_nano, e.observedTimeUnixNano);
  if (e.severityNumber !== 0) w.varintField(LogRecord.severity_number, e.severityNumber);
  if (e.severityText !== '') w.stringField(LogRecord.severity_text, e.severityText);
  // An empty string is the model's "no body"; null is an AnyValue with nothing set.
  if (e.body !== '') writeAnyValueField(w, LogRecord.body, e.body);
  writeAttributes(w, LogRecord.attributes, e.attributes);
  if (e.flags !== 0) w.fixed32Field(LogRecord.flags, e.flags);
  if (e.traceId !== '') w.hexField(LogRecord.trace_id, e.traceId);
  if (e.spanId !== '') w.hexField(LogRecord.span_id, e.spanId);
  w.end(mark);
}

/**
 * Events → collector.logs.v1.ExportLogsServiceRequest. The event name rides in the
 * `event.name` attribute, where the receiver puts LogRecord.event_name; Vigil's own fields
 * (asset, type, fingerprint…) are derived again by the next Vigil from resource and attributes.
 */
export function encodeLogsRequest(events: readonly VigilEvent[], w = new ProtoWriter()): Buffer {
  w.reset();
  writeRequest(w, events, (wr, items) => {
    for (const e of items) writeLogRecord(wr, e);
  });
  return w.finish();
}
