import { ProtoWriter } from '../../otlp/proto/protoWriter.ts';
import { createReader } from '../../otlp/proto/wireReader.ts';

/**
 * The gRPC health-checking protocol's two messages (grpc/health/v1/health.proto):
 * HealthCheckRequest { string service = 1 } and HealthCheckResponse { ServingStatus status = 1 }.
 */
export function decodeHealthCheckRequest(body: Buffer): { service: string } {
  const r = createReader(body);
  let service = '';
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag === 10) service = r.string();
    else r.skipType(tag & 7);
  }
  return { service };
}

export function encodeHealthCheckResponse(status: number): Buffer {
  const w = new ProtoWriter(8);
  if (status !== 0) w.varintField(1, status);
  return w.finish();
}
