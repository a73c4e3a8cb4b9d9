/**
 * OTLP/HTTP protobuf log requests whose records differ as an application's do: every record a
 * line of its own (order, customer and request ids, amounts, durations), its own trace and span
 * ids, attributes with varied values, under a few services and hosts. telemetrygen sends one
 * record over and over ("the message", the same attributes), which ClickHouse compresses about a
 * hundredfold and indexes almost for free; these do not.
 */
import { protoType } from '../test/support/otlpProtos.ts';

const kv = (key: string, value: Record<string, unknown>) => ({ key, value });
const SERVICES = ['checkout', 'payments', 'inventory', 'shipping'];
const ROUTES = ['/api/v1/orders/:id', '/api/v1/carts/:id', '/api/v1/payments', '/healthz'];
const WORDS = ['created', 'updated', 'retried', 'cancelled', 'authorised', 'declined', 'queued', 'shipped'];

/** A 32-bit mix of `i` (splitmix-like), for ids that do not repeat in an obvious pattern. */
function mix(i: number): number {
  let x = (i + 0x9e3779b9) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}
const hex = (n: number, bytes: number) =>
  Array.from({ length: Math.ceil(bytes / 4) }, (_, k) =>
    mix(n * 7 + k)
      .toString(16)
      .padStart(8, '0'),
  )
    .join('')
    .slice(0, bytes * 2);

/**
 * `requests` distinct ExportLogsServiceRequest bodies of `batch` records each, stamped around
 * `nowMs`; record `n` of the whole set is unique within it.
 */
export function variedLogRequests(requests: number, batch: number, nowMs: number): Buffer[] {
  const type = protoType('opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest');
  return Array.from({ length: requests }, (_, r) => {
    const service = SERVICES[r % SERVICES.length]!;
    const logRecords = Array.from({ length: batch }, (_, i) => {
      const n = r * batch + i;
      const m = mix(n);
      const ns = BigInt(nowMs + (n % 60_000)) * 1_000_000n + BigInt(m % 1_000_000);
      const error = m % 23 === 0;
      return {
        timeUnixNano: ns.toString(),
        observedTimeUnixNano: ns.toString(),
        severityNumber: error ? 17 : 9,
        severityText: error ? 'ERROR' : 'INFO',
        body: {
          stringValue: `order ${m % 10_000_000} ${WORDS[m % WORDS.length]} for customer c-${mix(n + 1) % 100_000}: ${1 + (m % 9)} items, total ${(m % 100_000) / 100} EUR, request ${hex(n, 8)} took ${m % 2000} ms`,
        },
        attributes: [
          kv('http.request.method', { stringValue: m % 3 === 0 ? 'GET' : 'POST' }),
          kv('http.response.status_code', { intValue: error ? 500 : 200 + (m % 5) }),
          kv('http.route', { stringValue: ROUTES[m % ROUTES.length] }),
          kv('url.path', { stringValue: `/api/v1/orders/${m % 10_000_000}` }),
          kv('user.id', { stringValue: `u-${mix(n + 2) % 50_000}` }),
          kv('duration.ms', { doubleValue: (m % 200_000) / 100 }),
        ],
        traceId: Buffer.from(hex(n, 16), 'hex'),
        spanId: Buffer.from(hex(n + 1, 8), 'hex'),
        flags: 1,
      };
    });
    const resource = {
      attributes: [
        kv('service.name', { stringValue: service }),
        kv('host.name', { stringValue: `node-${r % 7}` }),
        kv('k8s.pod.name', { stringValue: `${service}-${hex(r % 5, 3)}` }),
        kv('service.version', { stringValue: '4.2.0' }),
      ],
    };
    const message = {
      resourceLogs: [{ resource, scopeLogs: [{ scope: { name: service, version: '1.0.0' }, logRecords }] }],
    };
    return Buffer.from(type.encode(type.fromObject(message)).finish());
  });
}
