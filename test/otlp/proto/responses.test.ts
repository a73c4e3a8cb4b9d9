import { describe, expect, it } from 'vitest';
import {
  decodePartialSuccess,
  decodeRpcStatus,
  encodePartialSuccess,
  encodeRpcStatus,
} from '../../../src/otlp/proto/responses.ts';
import { decodeHealthCheckRequest, encodeHealthCheckResponse } from '../../../src/receivers/otlp/healthProto.ts';
import { protoType } from '../../support/otlpProtos.ts';

/** Decoded by reflection from the .proto files, as a client built from them would. */
const reflect = (type: string, bytes: Buffer) =>
  protoType(type).toObject(protoType(type).decode(bytes), { longs: Number, defaults: false });

const RESPONSES = {
  rejectedLogRecords: 'opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse',
  rejectedDataPoints: 'opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse',
  rejectedSpans: 'opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse',
};

describe("the receiver's small protobuf answers, read by the .proto files", () => {
  it("writes partial_success as every signal's Export*ServiceResponse, and nothing on full success", () => {
    expect(encodePartialSuccess({ rejected: 0, errorMessage: '' }).length).toBe(0);
    const cases = [
      { rejected: 3, errorMessage: 'record 2: severity_number out of range' },
      { rejected: 0, errorMessage: 'dropped attributes' },
      { rejected: 2 ** 40, errorMessage: '' },
      { rejected: 1, errorMessage: 'é✓ '.repeat(200) },
    ];
    for (const c of cases) {
      const bytes = encodePartialSuccess(c);
      for (const [field, type] of Object.entries(RESPONSES)) {
        const want: Record<string, unknown> = {};
        if (c.rejected) want[field] = c.rejected;
        if (c.errorMessage) want.errorMessage = c.errorMessage;
        expect(reflect(type, bytes)).toEqual({ partialSuccess: want });
      }
      expect(decodePartialSuccess(bytes)).toEqual(c);
    }
  });

  it('writes google.rpc.Status with a RetryInfo detail only when the client should wait', () => {
    const plain = encodeRpcStatus(3, 'body is not valid protobuf');
    expect(reflect('google.rpc.Status', plain)).toEqual({ code: 3, message: 'body is not valid protobuf' });
    const wait = encodeRpcStatus(8, 'queue full; retry later', 7);
    const status = reflect('google.rpc.Status', wait) as {
      code: number;
      details: { type_url: string; value: Uint8Array }[];
    };
    expect(status).toMatchObject({ code: 8, message: 'queue full; retry later' });
    expect(status.details.map((d) => d.type_url)).toEqual(['type.googleapis.com/google.rpc.RetryInfo']);
    expect(reflect('google.rpc.RetryInfo', Buffer.from(status.details[0]!.value))).toEqual({
      retryDelay: { seconds: 7 },
    });
    expect(decodeRpcStatus(wait)).toEqual({ code: 8, message: 'queue full; retry later', retryDelayMs: 7000 });
  });

  it('reads a health check request and writes its answer as grpc.health.v1 defines them', () => {
    const req = protoType('grpc.health.v1.HealthCheckRequest');
    for (const service of ['', 'opentelemetry.proto.collector.logs.v1.LogsService']) {
      const bytes = Buffer.from(req.encode(req.fromObject({ service })).finish());
      expect(decodeHealthCheckRequest(bytes)).toEqual({ service });
    }
    // Truncated, and an unknown wire type: refused (the listener answers INVALID_ARGUMENT).
    expect(() => decodeHealthCheckRequest(Buffer.from([0x0a, 0x05, 0x61]))).toThrow();
    expect(() => decodeHealthCheckRequest(Buffer.from([0x0f, 0x01]))).toThrow();
    for (const status of [0, 1, 2, 3]) {
      const want = status === 0 ? {} : { status };
      expect(reflect('grpc.health.v1.HealthCheckResponse', encodeHealthCheckResponse(status))).toEqual(want);
    }
  });
});
