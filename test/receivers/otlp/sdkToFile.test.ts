import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startDaemon, type RunningDaemon } from '../../support/daemon.ts';
import { readNdjson } from '../../support/ndjson.ts';
import {
  grpcPort,
  otlpToFilesConfig,
  PROTOCOLS,
  sendEverything,
  SPAN_ID,
  TIME_NS,
  TRACE_ID,
  type Endpoints,
} from './sdkClients.ts';

const config = otlpToFilesConfig();

let daemon: RunningDaemon | undefined;
afterEach(async () => {
  await daemon?.stop('SIGKILL');
  daemon = undefined;
});

type Rec = Record<string, unknown>;

describe('OTel JS SDK → Vigil daemon → file exporter', () => {
  it(
    'delivers logs, metrics and spans intact over gRPC, HTTP/JSON and HTTP/protobuf',
    { timeout: 60_000 },
    async () => {
      daemon = await startDaemon(config);
      const ep: Endpoints = {
        grpc: `http://127.0.0.1:${grpcPort(daemon)}`,
        http: `http://127.0.0.1:${daemon.http[0]!.port}`,
      };
      for (const protocol of PROTOCOLS) await sendEverything(protocol, ep, `svc-${protocol}`);
      await sendEverything('grpc', ep, 'svc-grpc-gzip', 'gzip');
      await sendEverything('http/protobuf', ep, 'svc-proto-gzip', 'gzip');
      // Two log records per service: two services over gRPC, three over HTTP, counted apart.
      const self = await (await fetch(daemon.adminUrl('/metrics'))).text();
      expect(self).toMatch(
        /^vigil_receiver_accepted_records_total\{receiver="otlp",signal="logs",transport="grpc"\} 4$/m,
      );
      expect(self).toMatch(
        /^vigil_receiver_accepted_records_total\{receiver="otlp",signal="logs",transport="http"\} 6$/m,
      );
      expect(await daemon.stop()).toBe(0);

      const services = [...PROTOCOLS.map((p) => `svc-${p}`), 'svc-grpc-gzip', 'svc-proto-gzip'];
      const events = readNdjson<Rec>(join(daemon.dataDir, 'events.ndjson'));
      const metrics = readNdjson<Rec>(join(daemon.dataDir, 'metrics.ndjson'));
      const spans = readNdjson<Rec>(join(daemon.dataDir, 'spans.ndjson'));

      for (const service of services) {
        const mine = events.filter((e) => e.service === service);
        // Two log records plus one event for the span whose status is ERROR.
        expect(mine, service).toHaveLength(3);
        // Each export is its own request, so the file promises no order between them: pick by content.
        const pick = (what: string, test: (e: Rec) => boolean) => {
          const found = mine.filter(test);
          expect(found, `${service}: ${what}`).toHaveLength(1);
          return found[0]!;
        };
        const first = pick(
          'the error log record',
          (e) => typeof e.body === 'string' && e.body.startsWith('payment gateway'),
        );
        const second = pick('the structured log record', (e) => e.severityNumber === 9);
        const spanError = pick('the error span event', (e) => e.body === 'charge card: card declined');
        expect(first, service).toMatchObject({
          source: 'otlp',
          timeUnixNano: TIME_NS,
          severityNumber: 17,
          severityText: 'ERROR',
          body: 'payment gateway timed out\nretrying',
          title: 'payment gateway timed out',
          attributes: {
            'http.method': 'GET',
            'http.status_code': 503,
            'duration.ms': 12.5,
            retry: true,
            tags: ['a', 'b'],
            ports: [80, 443],
          },
          resource: { 'service.name': service, 'host.name': `${service}-host`, 'deployment.environment': 'test' },
          scope: { name: 'vigil-test', version: '1.2.3' },
          traceId: TRACE_ID,
          spanId: SPAN_ID,
          flags: 1,
          asset: `${service}-host`,
        });
        expect(BigInt(first.observedTimeUnixNano as string)).toBeGreaterThan(BigInt(TIME_NS));
        expect(second, service).toMatchObject({
          severityNumber: 9,
          body: { order: { id: 42, items: ['x', 'y'] }, raw: Buffer.from([1, 2, 255]).toString('base64') },
          attributes: { bytes: Buffer.from([0, 1, 2]).toString('base64') },
          traceId: '',
          spanId: '',
        });
        expect(spanError, service).toMatchObject({
          severityNumber: 17,
          body: 'charge card: card declined',
          attributes: {
            'span.name': 'charge card',
            'span.kind': 3,
            'exception.type': 'DeclinedError',
            'exception.message': 'card declined',
          },
          service,
        });

        const points = metrics.filter((m) => m.service === service);
        const byName = (name: string) => points.filter((p) => p.name === name);
        expect(byName('requests'), service).toEqual([
          expect.objectContaining({
            kind: 'sum',
            value: 5,
            isMonotonic: true,
            temporality: 2,
            unit: '1',
            description: 'Requests served',
            attributes: { route: '/pay' },
          }),
        ]);
        expect(byName('inflight'), service).toEqual([
          expect.objectContaining({ kind: 'sum', value: -2, isMonotonic: false, temporality: 2 }),
        ]);
        expect(byName('latency'), service).toEqual([
          expect.objectContaining({
            kind: 'histogram',
            count: 3,
            sum: 555,
            min: 5,
            max: 500,
            explicitBounds: [10, 100],
            bucketCounts: [1, 1, 1],
            temporality: 2,
            unit: 'ms',
          }),
        ]);
        const exp = byName('latency.exp')[0]!;
        expect(exp, service).toMatchObject({
          kind: 'exponential_histogram',
          count: 4,
          sum: 15,
          min: 1,
          max: 8,
          temporality: 2,
        });
        expect((exp.positiveBucketCounts as number[]).reduce((a, b) => a + b, 0)).toBe(4);
        expect(byName('temperature'), service).toEqual([
          expect.objectContaining({ kind: 'gauge', value: 21.5, attributes: { room: 'lab' } }),
        ]);

        const mySpans = spans.filter((s) => s.service === service);
        expect(mySpans, service).toHaveLength(2);
        const child = mySpans.find((s) => s.name === 'charge card')!;
        const parent = mySpans.find((s) => s.name === 'POST /pay')!;
        expect(parent).toMatchObject({
          kind: 2,
          statusCode: 1,
          parentSpanId: '',
          startTimeUnixNano: TIME_NS,
          attributes: { 'http.route': '/pay' },
          flags: expect.any(Number),
        });
        expect(child).toMatchObject({
          kind: 3,
          statusCode: 2,
          statusMessage: 'card declined',
          traceId: parent.traceId,
          parentSpanId: parent.spanId,
          links: [{ traceId: parent.traceId, spanId: parent.spanId, attributes: { why: 'retry' } }],
        });
        expect((child.events as Rec[]).map((e) => e.name)).toEqual(['attempt', 'exception']);
        expect(spanError).toMatchObject({ traceId: child.traceId, spanId: child.spanId });
      }
    },
  );
});

describe('OTLP/HTTP next to the json receiver', () => {
  it('shares one HTTP port: /v1/events and /v1/logs both land in the logs pipeline', async () => {
    daemon = await startDaemon(`
receivers:
  json: { endpoint: 127.0.0.1:0 }
  otlp: { protocols: { http: { endpoint: 127.0.0.1:0 } } }
exporters:
  file/events: { path: events.ndjson }
service:
  pipelines:
    logs: { receivers: [json, otlp], exporters: [file/events] }
  telemetry: { metrics: { endpoint: 127.0.0.1:0 } }
`);
    expect(daemon.http).toHaveLength(1);
    const json = await fetch(daemon.url('/v1/events'), {
      method: 'POST',
      body: JSON.stringify({ asset: 'web-1', message: 'from json' }),
      headers: { 'content-type': 'application/json' },
    });
    expect(json.status).toBe(200);
    const otlp = await fetch(daemon.url('/v1/logs'), {
      method: 'POST',
      body: JSON.stringify({
        resourceLogs: [{ scopeLogs: [{ logRecords: [{ body: { stringValue: 'from otlp' } }] }] }],
      }),
      headers: { 'content-type': 'application/json' },
    });
    expect(otlp.status).toBe(200);
    expect(await otlp.json()).toEqual({});
    expect(await daemon.stop()).toBe(0);
    const events = readNdjson<Rec>(join(daemon.dataDir, 'events.ndjson'));
    expect(events.map((e) => [e.source, e.body])).toEqual([
      ['json', 'from json'],
      ['otlp', 'from otlp'],
    ]);
  });
});
