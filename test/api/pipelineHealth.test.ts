import { afterEach, describe, expect, it } from 'vitest';
import { registerSpoolGauges } from '../../src/exporters/clickhouse/spoolMetrics.ts';
import { SelfMetrics } from '../../src/telemetry/selfMetrics.ts';
import { FakeAuthenticator, SpecChecker, startApi, type RunningApi } from './harness.ts';

const auth = new FakeAuthenticator()
  .add('viewer', { subject: 'victor', role: 'viewer' })
  .add('acme-viewer', { subject: 'avery', role: 'viewer', tenant: 'acme' });

let api: RunningApi | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

describe("operators' API: pipeline health", () => {
  it("answers accepted, refused and exported records per component, queue fill and spool age from the daemon's own metrics", async () => {
    const metrics = new SelfMetrics();
    metrics.receiverAccepted.inc({ receiver: 'json', signal: 'logs', transport: 'http' }, 7);
    metrics.receiverAccepted.inc({ receiver: 'json', signal: 'logs', transport: 'grpc' }, 3);
    metrics.receiverRefused.inc({ receiver: 'json', signal: 'logs', transport: 'http' }, 2);
    metrics.receiverRejected.inc({ receiver: 'syslog', signal: 'logs' }, 1);
    metrics.queueSize.set({ pipeline: 'logs' }, 40);
    metrics.queueCapacity.set({ pipeline: 'logs' }, 100);
    metrics.exporterSent.inc({ exporter: 'clickhouse', signal: 'logs' }, 9);
    metrics.exporterFailed.inc({ exporter: 'clickhouse', signal: 'logs' }, 1);
    const accepted = Date.now() - 90_000;
    registerSpoolGauges(metrics, 'clickhouse', {
      backlog: () => ({ items: 4, bytes: 4096, oldestAcceptedAtMs: accepted }),
    });

    api = await startApi({ desk: () => undefined, authenticator: auth, registry: metrics.registry });
    const answer = await api.call('GET', '/api/v1/stats/pipeline', { as: 'viewer' });
    (await SpecChecker.load(api.base)).check('GET', '/api/v1/stats/pipeline', answer);
    const body = answer.body as { exporters: { oldest_age_seconds: number }[] };
    expect(body).toEqual({
      receivers: [
        { id: 'json', accepted: 10, refused: 2, rejected: 0 },
        { id: 'syslog', accepted: 0, refused: 0, rejected: 1 },
      ],
      pipelines: [{ id: 'logs', queued: 40, capacity: 100 }],
      exporters: [{ id: 'clickhouse', sent: 9, failed: 1, backlog: 4, oldest_age_seconds: expect.any(Number) }],
    });
    expect(body.exporters[0]!.oldest_age_seconds).toBeGreaterThanOrEqual(90);
    expect(body.exporters[0]!.oldest_age_seconds).toBeLessThan(600);
  });

  it("refuses a caller bound to a tenant: the figures are every tenant's", async () => {
    api = await startApi({ desk: () => undefined, authenticator: auth, registry: new SelfMetrics().registry });
    const answer = await api.call('GET', '/api/v1/stats/pipeline', { as: 'acme-viewer' });
    (await SpecChecker.load(api.base)).check('GET', '/api/v1/stats/pipeline', answer);
    expect(answer.status).toBe(403);
    expect(answer.body).toMatchObject({ code: 'VIGIL_FORBIDDEN' });
  });
});
