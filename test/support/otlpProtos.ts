import { resolve } from 'node:path';
import protobuf from 'protobufjs';

const PROTO_DIR = resolve(import.meta.dirname, '../../proto');

const FILES = [
  'opentelemetry/proto/collector/logs/v1/logs_service.proto',
  'opentelemetry/proto/collector/metrics/v1/metrics_service.proto',
  'opentelemetry/proto/collector/trace/v1/trace_service.proto',
  'grpc/health/v1/health.proto',
  'google/rpc/status.proto',
  'google/rpc/error_details.proto',
];

let root: protobuf.Root | undefined;

/**
 * The .proto files under proto/, loaded by reflection: an encoder and decoder apart from Vigil's
 * hand-written ones (src/otlp/proto/, the receivers' decoders), for tests and benchmarks.
 */
export function otlpProtos(): protobuf.Root {
  if (root) return root;
  const r = new protobuf.Root();
  // google/protobuf/* are protobufjs's bundled well-known types.
  r.resolvePath = (_origin, target) => (target.startsWith('google/protobuf/') ? target : resolve(PROTO_DIR, target));
  r.loadSync(FILES, { keepCase: false });
  r.resolveAll();
  root = r;
  return r;
}

export function protoType(name: string): protobuf.Type {
  return otlpProtos().lookupType(name);
}
