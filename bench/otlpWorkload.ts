/**
 * OTLP load from this process: unary gRPC calls of one prepared message on one HTTP/2
 * connection, and a request of spans to prepare, for the benchmarks whose load generator cannot
 * be telemetrygen (zstd, or spans faster than its SDK's batch processor lets through).
 */
import { connect } from 'node:http2';
import { protoType } from '../test/support/otlpProtos.ts';

/** A gRPC length-prefixed message; flag 1 when the bytes are compressed. */
export function grpcFrame(message: Buffer, compressed: boolean): Buffer {
  const head = Buffer.alloc(5);
  head[0] = compressed ? 1 : 0;
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

export interface GrpcCalls {
  port: number;
  /** `/package.Service/Method`. */
  path: string;
  message: Buffer;
  encoding: 'identity' | 'zstd';
  /** Records one accepted call counts. */
  recordsPerCall: number;
  seconds: number;
  /** Calls in flight at once. */
  concurrency: number;
}

/**
 * Unary calls on one HTTP/2 connection, many in flight, as the OTel SDK and Collector exporters
 * send, for `seconds`; RESOURCE_EXHAUSTED and UNAVAILABLE wait 5 ms and go on, any other status
 * fails. Written on node:http2 rather than a gRPC library so that the load generator is not what
 * limits the wall-clock rate, and so that it can send zstd. Resolves with the records accepted
 * and their rate per wall-clock second.
 */
export async function grpcCallsFor(o: GrpcCalls): Promise<{ records: number; rate: number }> {
  const session = connect(`http://127.0.0.1:${o.port}`);
  const body = grpcFrame(o.message, o.encoding !== 'identity');
  const headers = {
    ':method': 'POST',
    ':path': o.path,
    'content-type': 'application/grpc',
    te: 'trailers',
    'grpc-encoding': o.encoding,
  };
  const deadline = performance.now() + o.seconds * 1000;
  let records = 0;
  const call = () =>
    new Promise<number>((res, rej) => {
      const req = session.request(headers);
      let status = '';
      req.on('response', (h) => (status = String(h['grpc-status'] ?? '')));
      req.on('trailers', (t) => (status = String(t['grpc-status'] ?? status)));
      req.on('error', rej);
      req.on('close', () => res(Number(status)));
      req.resume();
      req.end(body);
    });
  const worker = async () => {
    while (performance.now() < deadline) {
      const status = await call();
      if (status === 0) records += o.recordsPerCall;
      else if (status === 8 || status === 14)
        await new Promise((r) => setTimeout(r, 5)); // RESOURCE_EXHAUSTED, UNAVAILABLE
      else throw new Error(`unexpected grpc-status ${status}`);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  session.close();
  return { records, rate: records / ((performance.now() - started) / 1000) };
}

const kv = (key: string, value: Record<string, unknown>) => ({ key, value });

/**
 * An ExportTraceServiceRequest (protobuf) of `n` spans as an instrumented HTTP service sends
 * them: traces of four spans (a SERVER root and three CLIENT children), each span with six
 * attributes of the HTTP and database conventions, one resource and one scope.
 */
export function spansRequest(n: number): Buffer {
  const start = 1763892000123456789n;
  const spans = Array.from({ length: n }, (_, i) => {
    const trace = Math.floor(i / 4);
    const root = i % 4 === 0;
    const begin = start + BigInt(i) * 1_000_000n;
    return {
      traceId: Buffer.alloc(16, (trace % 250) + 1),
      spanId: Buffer.from(`${String(i).padStart(7, '0')}s`, 'latin1'),
      parentSpanId: root ? Buffer.alloc(0) : Buffer.from(`${String(trace * 4).padStart(7, '0')}s`, 'latin1'),
      name: root ? 'POST /api/v1/orders' : `SELECT orders ${i % 4}`,
      kind: root ? 2 : 3,
      startTimeUnixNano: begin.toString(),
      endTimeUnixNano: (begin + 4_500_000n).toString(),
      attributes: [
        kv('http.request.method', { stringValue: 'POST' }),
        kv('http.route', { stringValue: '/api/v1/orders' }),
        kv('http.response.status_code', { intValue: 200 + (i % 3) }),
        kv('db.system.name', { stringValue: 'postgresql' }),
        kv('server.address', { stringValue: `db-${i % 4}.internal` }),
        kv('user.id', { stringValue: `u-${i % 1000}` }),
      ],
      status: { code: i % 50 === 0 ? 2 : 0 },
    };
  });
  const T = protoType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');
  const req = {
    resourceSpans: [
      {
        resource: {
          attributes: [
            kv('service.name', { stringValue: 'checkout' }),
            kv('host.name', { stringValue: 'web-17' }),
            kv('service.version', { stringValue: '4.2.0' }),
          ],
        },
        scopeSpans: [{ scope: { name: 'orders', version: '1.0.0' }, spans }],
      },
    ],
  };
  return Buffer.from(T.encode(T.fromObject(req)).finish());
}
