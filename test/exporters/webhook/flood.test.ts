import { afterEach, describe, expect, it, vi } from 'vitest';
import { webhookExporterSchema } from '../../../src/exporters/webhook/config.ts';
import { WebhookDriver } from '../../../src/exporters/webhook/driver.ts';
import { engineFrom, ev, Timeline } from '../../support/correlation.ts';
import { ManualTimers } from '../../support/fakes/timers.ts';
import { FakeWebhookReceiver } from '../../support/fakes/webhookReceiver.ts';
import { parseWith, startIncidentExporter } from '../incidentFixtures.ts';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

describe('a flood of distinct downs (issue #20, item 7)', () => {
  it('opens at most max_open_incidents + 1 overflow incident and sends at most max_notifications_per_minute webhooks a minute, losing none', async () => {
    const receiver = new FakeWebhookReceiver();
    await receiver.listen();
    cleanup.push(() => receiver.close());
    const timers = new ManualTimers();
    const config = parseWith(webhookExporterSchema, {
      url: receiver.url,
      delivery: { max_notifications_per_minute: 100, fsync: false },
    });
    const { exp } = await startIncidentExporter(
      'webhook/flood',
      config,
      new WebhookDriver(config),
      { timers },
      cleanup,
    );

    // 5,000 downs for distinct switches within 0.31 s; the default max_open_incidents is 1,000.
    const tl = new Timeline(
      engineFrom('{ defaults: { group_wait: 0s }, rules: [{ kind: pair, name: link, group_by: [asset] }] }'),
    );
    const changes = tl.send(
      Array.from({ length: 5000 }, (_, i) => ev(Math.floor((i * 310) / 5000), { asset: `sw-${i}`, type: 'down' })),
      310,
    );
    expect(changes.filter((c) => c.kind === 'opened')).toHaveLength(1001);
    expect(tl.engine.openIncidents()).toHaveLength(1001);
    expect(tl.engine.stats.ignored.get('link')?.get('max_open_incidents')).toBe(4000);
    await exp.consumeIncidents(changes);

    // The first minute: exactly the limit goes out; the rest waits in the outbox.
    await vi.waitFor(() => expect(receiver.accepted).toHaveLength(100), { timeout: 10_000 });
    await vi.waitFor(() => expect(exp.outbox.depth).toBe(901), { timeout: 10_000 });
    expect(receiver.accepted).toHaveLength(100);
    expect(timers.delays).toContain(60_000);
    const throttled = await exp['settings'].metrics.registry
      .getSingleMetric('vigil_exporter_throttled_changes_total')!
      .get();
    expect(throttled.values[0]!.value).toBe(901);

    // Each following minute another 100, until every change is delivered: none dropped.
    for (let minute = 1; minute <= 10; minute++) {
      timers.advance(60_000);
      await vi.waitFor(() => expect(receiver.accepted).toHaveLength(Math.min(1001, 100 * (minute + 1))), {
        timeout: 10_000,
      });
    }
    await exp.outbox.whenIdle();
    const keys = (receiver.accepted as { data: { incident: { key: string } } }[]).map((p) => p.data.incident.key);
    expect(new Set(keys).size).toBe(1001);
    expect(keys).toContain('link{overflow="true"}');
  });
});
