import type { RunningDaemon } from '../support/daemon.ts';

/** A span of a made-up trace: ids are small numbers, written as OTLP's hex ids. */
export interface SpanSpec {
  service: string;
  trace: number;
  span: number;
  parent?: number;
}

/**
 * Calls between services as a trace would show them: frontend → checkout → payments (twice),
 * checkout → checkout (within one service: no edge), and, apart, search → catalog.
 */
export const SERVICE_CALLS: SpanSpec[] = [
  { service: 'frontend', trace: 1, span: 1 },
  { service: 'checkout', trace: 1, span: 2, parent: 1 },
  { service: 'payments', trace: 1, span: 3, parent: 2 },
  { service: 'payments', trace: 1, span: 4, parent: 2 },
  { service: 'checkout', trace: 1, span: 5, parent: 2 },
  { service: 'search', trace: 2, span: 1 },
  { service: 'catalog', trace: 2, span: 2, parent: 1 },
];

const hex = (n: number, chars: number) => n.toString(16).padStart(chars, '0');

/** Posts the spans as OTLP/HTTP JSON, one resource per service, all at `atMs`; every one must be accepted. */
export async function postSpans(d: RunningDaemon, spans: SpanSpec[], atMs: number): Promise<void> {
  const services = [...new Set(spans.map((s) => s.service))];
  const ns = (ms: number) => (BigInt(ms) * 1_000_000n).toString();
  const body = {
    resourceSpans: services.map((service) => ({
      resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
      scopeSpans: [
        {
          spans: spans
            .filter((s) => s.service === service)
            .map((s) => ({
              traceId: hex(s.trace, 32),
              spanId: hex(s.span, 16),
              ...(s.parent ? { parentSpanId: hex(s.parent, 16) } : {}),
              name: `${service} work`,
              kind: 2,
              startTimeUnixNano: ns(atMs),
              endTimeUnixNano: ns(atMs + 5),
            })),
        },
      ],
    })),
  };
  const res = await fetch(d.url('/v1/traces'), {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  });
  if (res.status !== 200) throw new Error(`spans refused: ${res.status} ${await res.text()}`);
}

/** A daemon storing events and spans in embedded ClickHouse, whose API reads them; pair rules on asset. */
export const STORING_DAEMON = `
receivers:
  json: { endpoint: 127.0.0.1:0 }
  otlp: { protocols: { http: { endpoint: 127.0.0.1:0 } } }
exporters:
  clickhouse: { batch: { max_delay: 50ms } }
  correlation: {}
  file/incidents: { path: incidents.ndjson }
correlation:
  tick_interval: 50ms
  defaults: { group_wait: 0s, allowed_lateness: 1h }
  rules:
    - { kind: pair, name: asset_down, group_by: [asset] }
service:
  pipelines:
    logs: { receivers: [json], exporters: [clickhouse, correlation] }
    traces: { receivers: [otlp], exporters: [clickhouse] }
    incidents: { exporters: [file/incidents] }
  telemetry:
    metrics: { endpoint: 127.0.0.1:0 }
api:
  endpoint: 127.0.0.1:0
  event_store: clickhouse
  anonymous_role: operator
`;
