import { deflateSync, gzipSync, zstdCompressSync } from 'node:zlib';
import type { GrpcInput } from './inputs.ts';
import type { Mutator } from './mutator.ts';
import { handBuiltLogs, otlpProtobuf, type OtlpSignal } from './otlpSeeds.ts';

const SERVICES: Record<OtlpSignal, string> = {
  logs: '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
  metrics: '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
  traces: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
};

const COMPRESS: Record<string, (b: Buffer) => Buffer> = {
  gzip: gzipSync,
  deflate: deflateSync,
  zstd: zstdCompressSync,
};

/**
 * One unary call's request body: gRPC length-prefixed messages (compressed or not, as
 * `grpc-encoding` says or not), with flags and declared lengths that lie, and several or no
 * messages in one stream.
 */
export function otlpGrpcRequest(m: Mutator): GrpcInput {
  const signal = m.pick<OtlpSignal>(['logs', 'metrics', 'traces']);
  const headers: Record<string, string> = {
    'content-type': m.chance(0.95)
      ? m.pick(['application/grpc', 'application/grpc+proto'])
      : m.pick(['application/json', 'application/grpc+json', 'text/plain', '']),
  };
  const encoding = m.pick([undefined, undefined, 'identity', 'gzip', 'deflate', 'zstd', 'snappy', 'x']);
  if (encoding) headers['grpc-encoding'] = encoding;
  if (m.chance(0.1)) headers['grpc-timeout'] = m.pick(['1n', '0S', '99999999H', 'abc', '1m']);
  const r = m.int(10);
  let message =
    r < 4
      ? otlpProtobuf(m, signal)
      : r < 8
        ? m.bytes(otlpProtobuf(m, signal))
        : signal === 'logs'
          ? handBuiltLogs(m)
          : m.bytes(Buffer.alloc(m.int(64)));
  const compress = encoding === undefined ? undefined : COMPRESS[encoding];
  const compressed = compress !== undefined && m.chance(0.9);
  if (compressed) message = compress(message);
  const frames: Buffer[] = [];
  for (let n = m.pick([1, 1, 1, 0, 2]); n > 0; n--) {
    const head = Buffer.alloc(5);
    head[0] = m.chance(0.9) ? (compressed ? 1 : 0) : m.pick([1, 2, 0x80, 0xff]);
    head.writeUInt32BE(
      m.chance(0.9)
        ? message.length
        : m.pick([0, message.length + 1, Math.max(0, message.length - 1), 0xffffffff, 0x7fffffff]),
      1,
    );
    frames.push(head, message);
  }
  let body = Buffer.concat(frames);
  if (m.chance(0.05)) body = body.subarray(0, m.int(body.length + 1));
  const path = m.chance(0.95)
    ? SERVICES[signal]
    : m.pick(['/opentelemetry.proto.collector.logs.v1.LogsService/Other', '/x', '/grpc.health.v1.Health/Check']);
  return { kind: 'grpc', path, headers, body };
}
