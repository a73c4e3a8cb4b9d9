import { createReader, type Reader } from '../../receivers/otlp/wireReader.ts';

/**
 * The small messages an OTLP exporter reads back: Export*ServiceResponse.partial_success and
 * google.rpc.Status with its RetryInfo detail. Field numbers from the collector/*.proto files
 * and google/rpc/{status,error_details}.proto.
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

export interface RpcStatus {
  code: number;
  message: string;
  /** From a google.rpc.RetryInfo detail, when the server sent one. */
  retryDelayMs?: number;
}

const RETRY_INFO = 'type.googleapis.com/google.rpc.RetryInfo';

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
