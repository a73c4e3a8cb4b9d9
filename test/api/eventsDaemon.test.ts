import { afterEach, describe, expect, it } from 'vitest';
import { postEvents, startDaemon } from '../support/daemon.ts';
import { waitFor } from '../support/waitFor.ts';
import { callApi, SpecChecker } from './harness.ts';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

describe('the event routes in a running daemon', () => {
  it('read what the clickhouse exporter named by api.event_store stored from the JSON receiver', async () => {
    const daemon = await startDaemon(`
receivers:
  json: { endpoint: 127.0.0.1:0 }
exporters:
  clickhouse: { batch: { max_delay: 50ms } }
service:
  pipelines:
    logs: { receivers: [json], exporters: [clickhouse] }
  telemetry:
    metrics: { endpoint: 127.0.0.1:0 }
api:
  endpoint: 127.0.0.1:0
  event_store: clickhouse
`);
    cleanup.push(() => daemon.stop('SIGKILL'));
    const t = Date.now() - 60_000;
    await postEvents(daemon, [
      { time: new Date(t).toISOString(), asset: 'web-1', title: 'disk full', severity: 'ERROR', tenant: 'acme' },
      { time: new Date(t + 1000).toISOString(), asset: 'web-2', title: 'disk ok', severity: 'INFO', tenant: 'globex' },
    ]);
    const base = daemon.apiUrl('');
    const spec = await SpecChecker.load(base);
    const range = `from=${new Date(t - 60_000).toISOString()}&to=${new Date(t + 60_000).toISOString()}`;
    let answer = await callApi(base, 'GET', `/api/v1/events?${range}`);
    await waitFor(async () => {
      answer = await callApi(base, 'GET', `/api/v1/events?${range}`);
      return (answer.body as { events?: unknown[] }).events?.length === 2;
    }, 'both events readable through the API');
    spec.check('GET', '/api/v1/events', answer);
    expect((answer.body as { events: unknown[] }).events).toEqual([
      expect.objectContaining({ title: 'disk ok', tenant: 'globex', severity: 'info', source: 'json' }),
      expect.objectContaining({ title: 'disk full', tenant: 'acme', severity: 'error', asset: 'web-1' }),
    ]);
    const histogram = await callApi(base, 'GET', `/api/v1/events/histogram?${range}&step_seconds=60&tenant=acme`);
    spec.check('GET', '/api/v1/events/histogram', histogram);
    const counts = (histogram.body as { buckets: { counts: { error: number; info: number } }[] }).buckets;
    expect(counts.reduce((n, b) => n + b.counts.error, 0)).toBe(1);
    expect(counts.reduce((n, b) => n + b.counts.info, 0)).toBe(0);
    expect(daemon.logs.filter((l) => l.includes('"level":50'))).toEqual([]);
  });
});
