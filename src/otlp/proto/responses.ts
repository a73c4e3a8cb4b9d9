import { createReader, type Reader } from './wireReader.ts';
import { ProtoWriter, WireType } from './protoWriter.ts';

/**
 * The small messages around an export, both ways: Export*ServiceResponse.partial_success and
 * google.rpc.Status with its RetryInfo detail, which the receiver writes and an OTLP exporter
 * reads back. Field numbers from the collector/*.proto files and google/rpc/{status,error_details}.proto.
 */
export interface PartialSuccess {
  /** rejected_log_records / rejected_data_points / rejected_spans (field 1 in each). */
  rejected: number;
  errorMessage: string;
}

function eachField(r: Reader, end: number, on: (tag: number) => boolean): void {
  while (r.pos < end) {
    const tag = r.uint32();
    if (!on(tag)) r.skipType(tag & 7);
  }
}

/** ExportLogs/Metrics/TraceServiceResponse { partial_success = 1 { rejected_* = 1; error_message = 2 } }. */
export function decodePartialSuccess(body: Buffer): PartialSuccess {
  const out: PartialSuccess = { rejected: 0, errorMessage: '' };
  if (body.length === 0) return out;
  const r = createReader(body);
  eachField(r, r.len, (tag) => {
    if (tag !== 10) return false;
    const end = r.uint32() + r.pos;
    eachField(r, end, (t) => {
      if (t === 8) out.rejected = Number(r.int64().toString());
      else if (t === 18) out.errorMessage = r.string();
      else return false;
      return true;
    });
    return true;
  });
  return out;
}

/** The same message written: empty on full success (every field at its default). */
export function encodePartialSuccess(p: PartialSuccess): Buffer {
  if (p.rejected === 0 && p.errorMessage === '') return Buffer.alloc(0);
  const w = new ProtoWriter(64 + p.errorMessage.length * 3);
  w.tag(1, WireType.LEN);
  const mark = w.begin();
  if (p.rejected !== 0) w.int64Field(1, p.rejected);
  if (p.errorMessage !== '') w.stringField(2, p.errorMessage);
  w.end(mark);
  return w.finish();
}

export interface RpcStatus {
  code: number;
  message: string;
  /** From a google.rpc.RetryInfo detail, when the server sent one. */
  retryDelayMs?: number;
}

/** The type URL of a google.rpc.RetryInfo detail, in a Status's Any (protobuf) or `@type` (JSON). */
export const RETRY_INFO = 'type.googleapis.com/google.rpc.RetryInfo';

/** google.rpc.Status { code = 1; message = 2; repeated Any details = 3 { type_url = 1; value = 2 } }. */
export function decodeRpcStatus(body: Buffer): RpcStatus {
  const out: RpcStatus = { code: 0, message: '' };
  const r = createReader(body);
  eachField(r, r.len, (tag) => {
    if (tag === 8) out.code = r.int32();
    else if (tag === 18) out.message = r.string();
    else if (tag === 26) {
      const end = r.uint32() + r.pos;
      let typeUrl = '';
      let value: Uint8Array | undefined;
      eachField(r, end, (t) => {
        if (t === 10) typeUrl = r.string();
        else if (t === 18) value = r.bytes();
        else return false;
        return true;
      });
      if (typeUrl === RETRY_INFO && value) out.retryDelayMs = decodeRetryDelay(Buffer.from(value));
    } else return false;
    return true;
  });
  return out;
}

/** google.rpc.Status written, with a RetryInfo detail of whole seconds when the client should wait. */
export function encodeRpcStatus(code: number, message: string, retryAfterSeconds?: number): Buffer {
  const w = new ProtoWriter(64 + message.length * 3);
  if (code !== 0) w.varintField(1, code);
  if (message !== '') w.stringField(2, message);
  if (retryAfterSeconds !== undefined) {
    w.tag(3, WireType.LEN);
    const any = w.begin();
    w.stringField(1, RETRY_INFO);
    w.tag(2, WireType.LEN); // value: the RetryInfo's bytes
    const info = w.begin();
    w.tag(1, WireType.LEN); // retry_delay
    const duration = w.begin();
    if (retryAfterSeconds !== 0) w.int64Field(1, retryAfterSeconds);
    w.end(duration);
    w.end(info);
    w.end(any);
  }
  return w.finish();
}

/** RetryInfo { google.protobuf.Duration retry_delay = 1 { int64 seconds = 1; int32 nanos = 2 } } in ms. */
function decodeRetryDelay(body: Buffer): number {
  let ms = 0;
  const r = createReader(body);
  eachField(r, r.len, (tag) => {
    if (tag !== 10) return false;
    const end = r.uint32() + r.pos;
    eachField(r, end, (t) => {
      if (t === 8) ms += Number(r.int64().toString()) * 1000;
      else if (t === 16) ms += r.int32() / 1e6;
      else return false;
      return true;
    });
    return true;
  });
  return Math.round(ms);
}
