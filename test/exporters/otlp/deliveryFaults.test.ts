import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigIssue } from '../../../src/config/schema.ts';
import {
  otlpGrpcExporterSchema,
  otlpHttpExporterSchema,
  type OtlpExporterConfig,
  type OtlpGrpcExporterConfig,
  type OtlpHttpExporterConfig,
} from '../../../src/exporters/otlp/config.ts';
import { OtlpExporter } from '../../../src/exporters/otlp/exporter.ts';
import { OtlpGrpcClient } from '../../../src/exporters/otlp/grpcClient.ts';
import { OtlpHttpClient } from '../../../src/exporters/otlp/httpClient.ts';
import { newEvent, type VigilEvent } from '../../../src/model/event.ts';
import { createLogger } from '../../../src/telemetry/logger.ts';
import { SelfMetrics } from '../../../src/telemetry/selfMetrics.ts';
import { FakeOtlpServer, type OtlpFault } from '../../support/fakes/otlpServer.ts';
import { ManualTimers } from '../../support/fakes/timers.ts';
import { waitFor } from '../../support/waitFor.ts';
import { makeTestPki, type TestPki } from '../../receivers/syslog/tlsCerts.ts';

type Protocol = 'grpc' | 'http';

interface Harness {
  exporter: OtlpExporter;
  server: FakeOtlpServer;
  timers: ManualTimers;
  metrics: SelfMetrics;
  logs: string[];
}

let running: Harness[] = [];
afterEach(async () => {
  for (const h of running) {
    await h.exporter.shutdown();
    await h.server.stop();
  }
  running = [];
});

function parseConfig(protocol: Protocol, raw: Record<string, unknown>): OtlpExporterConfig {
  const issues: ConfigIssue[] = [];
  const schema = protocol === 'grpc' ? otlpGrpcExporterSchema : otlpHttpExporterSchema;
  const config = schema.parse(raw, 'exporters.test', issues);
  expect(issues).toEqual([]);
  return config!;
}

/** An exporter (jitter pinned to none, timers manual) in front of a fake server answering `faults` first. */
async function harness(
  protocol: Protocol,
  opts: { faults?: OtlpFault[]; config?: Record<string, unknown>; server?: FakeOtlpServer } = {},
): Promise<Harness> {
  const server = opts.server ?? new FakeOtlpServer(protocol);
  server.faults.push(...(opts.faults ?? []));
  await server.start();
  const scheme = server.tls ? 'https' : 'http';
  const raw = {
    endpoint: `${scheme}://127.0.0.1:${server.port}`,
    retry_on_failure: { initial_interval: '1s', max_interval: '3s' },
    ...opts.config,
  };
  const config = parseConfig(protocol, raw);
  const logs: string[] = [];
  const metrics = new SelfMetrics();
  const timers = new ManualTimers();
  const settings = {
    id: `otlp_${protocol}/test`,
    logger: createLogger('info', { write: (s: string) => logs.push(s) } as unknown as NodeJS.WritableStream),
    metrics,
    dataDir: mkdtempSync(join(tmpdir(), 'vigil-otlpx-')),
  };
  const client = () =>
    protocol === 'grpc'
      ? new OtlpGrpcClient(config as OtlpGrpcExporterConfig)
      : new OtlpHttpClient(config as OtlpHttpExporterConfig, () => timers.now());
  const exporter = new OtlpExporter(settings, config, client, { timers, random: () => 0.5 });
  await exporter.start();
  const h = { exporter, server, timers, metrics, logs };
  running.push(h);
  return h;
}

function events(tag: string, n: number): VigilEvent[] {
  const resource = { 'service.name': 'checkout' };
  return Array.from({ length: n }, (_, i) =>
    newEvent({ source: 'json', body: `${tag}-${i}`, resource, attributes: { i } }),
  );
}

const bodies = (items: unknown[]) => items.map((e) => (e as VigilEvent).body).sort();

async function counter(h: Harness, name: string): Promise<number> {
  const m = await h.metrics.registry.getSingleMetric(name)?.get();
  return (m?.values ?? []).reduce((n, v) => n + v.value, 0);
}

/** Lets the exporter reach its next retry wait, then moves the clock past it. */
async function nextRetry(h: Harness, attempts: number): Promise<number> {
  await waitFor(() => h.timers.delays.length === attempts, `retry wait #${attempts}`);
  const delay = h.timers.delays[attempts - 1]!;
  h.timers.advance(delay);
  return delay;
}

const UNAVAILABLE: Record<Protocol, OtlpFault> = {
  grpc: { grpc: 14, message: 'gateway restarting' },
  http: { http: 503 },
};
const INVALID: Record<Protocol, OtlpFault> = {
  grpc: { grpc: 3, message: 'bad request' },
  http: { http: 400, message: 'bad request' },
};
const THROTTLED: Record<Protocol, OtlpFault> = {
  grpc: { grpc: 8, message: 'slow down', retryDelayMs: 7000 },
  http: { http: 429, retryAfter: '7' },
};

describe.each(['grpc', 'http'] as const)('OTLP exporter (%s) against a faulty server', (protocol) => {
  it('retries a retryable failure with backoff and loses nothing', async () => {
    const h = await harness(protocol, {
      faults: [UNAVAILABLE[protocol], UNAVAILABLE[protocol], UNAVAILABLE[protocol], UNAVAILABLE[protocol]],
    });
    await h.exporter.consumeLogs(events('a', 5));
    // initial 1s, doubling, capped at max_interval 3s.
    expect([await nextRetry(h, 1), await nextRetry(h, 2), await nextRetry(h, 3), await nextRetry(h, 4)]).toEqual([
      1000, 2000, 3000, 3000,
    ]);
    await waitFor(() => h.server.received.length === 5, 'the fifth attempt');
    await waitFor(
      async () => (await counter(h, 'vigil_exporter_sent_records_total')) === 5,
      'the batch counted as sent',
    );
    expect(bodies(h.server.received[4]!.items)).toEqual(bodies(events('a', 5)));
    expect(await counter(h, 'vigil_exporter_retries_total')).toBe(4);
    expect(await counter(h, 'vigil_exporter_send_failed_records_total')).toBe(0);
    await waitFor(() => h.exporter.queue.length === 0, 'the queue to empty');
  });

  it('waits as long as the server asks (Retry-After / RetryInfo)', async () => {
    const h = await harness(protocol, { faults: [THROTTLED[protocol]] });
    await h.exporter.consumeLogs(events('t', 3));
    expect(await nextRetry(h, 1)).toBe(7000);
    await waitFor(
      async () => (await counter(h, 'vigil_exporter_sent_records_total')) === 3,
      'the batch sent after the wait',
    );
    expect(h.server.received).toHaveLength(2);
  });

  it('drops and counts a batch the server refuses for good, and sends the next one', async () => {
    const h = await harness(protocol, { faults: [INVALID[protocol]] });
    await h.exporter.consumeLogs(events('bad', 4));
    await waitFor(
      async () => (await counter(h, 'vigil_exporter_send_failed_records_total')) === 4,
      'the refused batch counted',
    );
    await h.exporter.consumeLogs(events('good', 2));
    await waitFor(async () => (await counter(h, 'vigil_exporter_sent_records_total')) === 2, 'the next batch sent');
    expect(h.timers.delays).toEqual([]);
    expect(h.server.received.map((r) => r.items.length)).toEqual([4, 2]);
    expect(h.logs.join('')).toContain('refused a request for good');
    expect(h.logs.join('')).toContain('bad request');
  });

  it('counts the records a partial success rejected', async () => {
    const h = await harness(protocol, {
      faults: [{ partial: { rejected: 2, message: '2 log records had invalid trace ids' } }],
    });
    await h.exporter.consumeLogs(events('p', 5));
    await waitFor(
      async () => (await counter(h, 'vigil_exporter_sent_records_total')) === 3,
      'the accepted part counted as sent',
    );
    expect(await counter(h, 'vigil_exporter_send_failed_records_total')).toBe(2);
    expect(h.logs.join('')).toContain('2 log records had invalid trace ids');
    expect(h.timers.delays).toEqual([]);
  });

  it('gives a batch up after max_elapsed_time', async () => {
    const h = await harness(protocol, {
      faults: Array.from({ length: 10 }, () => UNAVAILABLE[protocol]),
      config: { retry_on_failure: { initial_interval: '1s', max_interval: '1s', max_elapsed_time: '2500ms' } },
    });
    await h.exporter.consumeLogs(events('late', 2));
    await nextRetry(h, 1);
    await nextRetry(h, 2);
    await nextRetry(h, 3);
    await waitFor(
      async () => (await counter(h, 'vigil_exporter_send_failed_records_total')) === 2,
      'the batch given up',
    );
    expect(h.server.received).toHaveLength(4);
    expect(h.logs.join('')).toContain('max_elapsed_time');
  });

  it('makes the pipeline wait while the queue is full, and reports it', async () => {
    const h = await harness(protocol, {
      faults: [UNAVAILABLE[protocol]],
      config: { sending_queue: { max_bytes: 1024 } },
    });
    const big = (tag: string) => [newEvent({ source: 'json', body: `${tag}:${'x'.repeat(700)}` })];
    await h.exporter.consumeLogs(big('first'));
    let secondDone = false;
    const second = h.exporter.consumeLogs(big('second')).then(() => (secondDone = true));
    await waitFor(() => h.timers.delays.length === 1, 'the first retry wait');
    expect(secondDone).toBe(false);
    expect(h.exporter.health()).toMatchObject({ status: 'failing', reason: expect.stringContaining('queue full') });
    expect(await h.metrics.registry.getSingleMetricAsString('vigil_exporter_spool_bytes')).toMatch(
      /vigil_exporter_spool_bytes\{exporter="otlp_(grpc|http)\/test"\} [1-9]/,
    );
    h.timers.advance(h.timers.delays[0]!);
    await second;
    await waitFor(async () => (await counter(h, 'vigil_exporter_sent_records_total')) === 2, 'both batches sent');
    await waitFor(() => h.exporter.queue.length === 0, 'the queue to empty');
    expect(h.exporter.health().status).toBe('ok');
    expect(await h.metrics.registry.getSingleMetricAsString('vigil_exporter_spool_bytes')).toMatch(/\} 0$/m);
  });
});

describe('OTLP/gRPC status codes', () => {
  it('treats RESOURCE_EXHAUSTED without RetryInfo as permanent, as the OTLP specification says', async () => {
    const h = await harness('grpc', { faults: [{ grpc: 8, message: 'message larger than max' }] });
    await h.exporter.consumeLogs(events('huge', 3));
    await waitFor(
      async () => (await counter(h, 'vigil_exporter_send_failed_records_total')) === 3,
      'the batch dropped',
    );
    expect(h.timers.delays).toEqual([]);
    expect(h.logs.join('')).toContain('message larger than max');
  });

  it.each([
    ['DEADLINE_EXCEEDED', 4],
    ['ABORTED', 10],
    ['DATA_LOSS', 15],
  ])('retries %s', async (_name, code) => {
    const h = await harness('grpc', { faults: [{ grpc: code }] });
    await h.exporter.consumeLogs(events('r', 1));
    await nextRetry(h, 1);
    await waitFor(
      async () => (await counter(h, 'vigil_exporter_sent_records_total')) === 1,
      'the batch sent on the second attempt',
    );
  });
});

describe('OTLP exporter TLS and headers', () => {
  let pki: TestPki;
  beforeAll(() => {
    pki = makeTestPki();
  });

  it.each(['grpc', 'http'] as const)(
    'sends over mutual TLS (%s) with the configured headers, zstd-compressed',
    async (protocol) => {
      const server = new FakeOtlpServer(protocol, { cert: pki.serverCert, key: pki.serverKey, clientCa: pki.caCert });
      const h = await harness(protocol, {
        server,
        config: {
          compression: 'zstd',
          headers: { authorization: 'Bearer agent-token', 'X-Tenant': 'team-a' },
          tls: { ca_file: pki.caCert, cert_file: pki.clientCert, key_file: pki.clientKey },
        },
      });
      await h.exporter.consumeLogs(events('tls', 3));
      await waitFor(
        async () => (await counter(h, 'vigil_exporter_sent_records_total')) === 3,
        'the batch sent over TLS',
      );
      const headers = server.received[0]!.headers;
      expect(headers.authorization).toBe('Bearer agent-token');
      expect(headers['x-tenant']).toBe('team-a');
      expect(headers[protocol === 'grpc' ? 'grpc-encoding' : 'content-encoding']).toBe('zstd');
    },
  );

  it.each(['grpc', 'http'] as const)(
    'keeps retrying, and says why, while the server certificate is not trusted (%s)',
    async (protocol) => {
      const server = new FakeOtlpServer(protocol, { cert: pki.serverCert, key: pki.serverKey });
      const h = await harness(protocol, { server });
      await h.exporter.consumeLogs(events('untrusted', 1));
      await waitFor(() => h.timers.delays.length === 1, 'a retry wait');
      expect(server.received).toHaveLength(0);
      expect(h.exporter.health().reason).toMatch(/certificate/i);
    },
  );
});

describe('OTLP exporter queue on disk', () => {
  it('merges batches that queued up during an outage into fewer requests, each record once', async () => {
    const h = await harness('grpc', { faults: [UNAVAILABLE.grpc] });
    await h.exporter.consumeLogs(events('first', 2));
    await waitFor(() => h.timers.delays.length === 1, 'the first retry wait');
    for (let i = 0; i < 6; i++) await h.exporter.consumeLogs(events(`queued${i}`, 3));
    h.timers.advance(h.timers.delays[0]!);
    await waitFor(async () => (await counter(h, 'vigil_exporter_sent_records_total')) === 20, 'every record sent');
    // The failed attempt, its retry, then the six queued batches in one request.
    expect(h.server.received.map((r) => r.items.length)).toEqual([2, 2, 18]);
    expect(bodies(h.server.records.slice(2))).toEqual(
      bodies([...events('first', 2), ...Array.from({ length: 6 }, (_, i) => events(`queued${i}`, 3)).flat()]),
    );
  });

  it('splits a batch whose request would pass max_request_bytes', async () => {
    const h = await harness('http', { config: { sending_queue: { max_request_bytes: 2048 } } });
    const batch = Array.from({ length: 20 }, (_, i) => newEvent({ source: 'json', body: `${i}:${'y'.repeat(300)}` }));
    await h.exporter.consumeLogs(batch);
    await waitFor(async () => (await counter(h, 'vigil_exporter_sent_records_total')) === 20, 'every record sent');
    expect(h.server.received.length).toBeGreaterThan(1);
    for (const r of h.server.received) expect(r.items.length).toBeLessThanOrEqual(6);
    expect(bodies(h.server.records)).toEqual(bodies(batch));
  });

  it('drops, counts and logs a queued batch whose file is gone, and goes on with the next', async () => {
    const server = new FakeOtlpServer('http');
    const h = await harness('http', { server, faults: [UNAVAILABLE.http] });
    await h.exporter.consumeLogs(events('lost', 2));
    await waitFor(() => h.timers.delays.length === 1, 'the first retry wait');
    // The batch is in flight (its body read); the next one's file disappears before it is read.
    await h.exporter.consumeLogs(events('gone', 3));
    for (const f of readdirSync(h.exporter.queue.dir))
      if (f.startsWith('000000000002.')) rmSync(join(h.exporter.queue.dir, f));
    h.timers.advance(h.timers.delays[0]!);
    await waitFor(
      async () => (await counter(h, 'vigil_exporter_send_failed_records_total')) === 3,
      'the missing batch counted',
    );
    await h.exporter.consumeLogs(events('after', 1));
    await waitFor(async () => (await counter(h, 'vigil_exporter_sent_records_total')) === 3, 'the other batches sent');
    expect(h.logs.join('')).toContain('could not send queued OTLP batches');
  });
});
