import { afterEach, describe, expect, it } from 'vitest';
import { webhookExporterSchema } from '../../../src/exporters/webhook/config.ts';
import { WebhookDriver } from '../../../src/exporters/webhook/driver.ts';
import { startAlertmanager } from '../../support/alertmanager.ts';
import { ManualTimers } from '../../support/fakes/timers.ts';
import { FakeWebhookReceiver } from '../../support/fakes/webhookReceiver.ts';
import { waitFor } from '../../support/waitFor.ts';
import { advanceGroups, assetDown, compileTree, parseWith, startIncidentExporter } from '../incidentFixtures.ts';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

interface AmAlert {
  status: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  fingerprint: string;
}
interface AmPayload {
  version: string;
  groupKey: string;
  status: string;
  receiver: string;
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  commonAnnotations: Record<string, string>;
  truncatedAlerts: number;
  alerts: AmAlert[];
}

const S = 1000;
const M = 60 * S;

/** A webhook exporter in Alertmanager's format under a tree grouping by site, on a clock the test moves. */
async function groupedWebhook(receiver: FakeWebhookReceiver, format = 'alertmanager') {
  const config = parseWith(webhookExporterSchema, { url: receiver.url, format, receiver: 'ops' });
  const tree = compileTree(
    {
      receiver: 'ops',
      group_by: ['site'],
      group_wait: '30s',
      group_interval: '5m',
      receivers: [{ name: 'ops', exporters: ['webhook/am'] }],
    },
    ['webhook/am'],
  );
  const timers = new ManualTimers();
  const { exp } = await startIncidentExporter(
    'webhook/am',
    config,
    new WebhookDriver(config),
    { timers, tree },
    cleanup,
  );
  return { exp, timers };
}

const statuses = (p: AmPayload) => p.alerts.map((a) => `${a.status} ${a.labels.asset}`).sort();

describe('Alertmanager webhook format for a grouping route', () => {
  it("carries the group's key and labels, the labels its members share, and every member with its status", async () => {
    const receiver = await new FakeWebhookReceiver().listen();
    cleanup.push(() => receiver.close());
    const { exp, timers } = await groupedWebhook(receiver);
    const [p1, p2, p3] = ['p1', 'p2', 'p3'].map((n) => assetDown(n, 'paris'));
    await exp.consumeIncidents([p1!.next('opened'), p2!.next('opened'), assetDown('l1', 'lyon').next('opened')]);
    await exp.consumeIncidents([p3!.next('opened')]);
    await advanceGroups(exp, timers, 30 * S);

    const payloads = receiver.accepted as AmPayload[];
    expect(payloads).toHaveLength(2);
    const paris = payloads.find((p) => p.groupLabels.site === 'paris')!;
    expect(paris).toMatchObject({
      version: '4',
      groupKey: '{}:{site="paris"}',
      status: 'firing',
      receiver: 'ops',
      truncatedAlerts: 0,
      groupLabels: { site: 'paris' },
      commonLabels: {
        alertname: 'asset_down',
        severity: 'error',
        site: 'paris',
        service: 'postgres',
        tenant: 'acme',
      },
      commonAnnotations: { vigil_change: 'opened' },
    });
    expect(statuses(paris)).toEqual(['firing p1', 'firing p2', 'firing p3']);
    expect(paris.alerts.find((a) => a.labels.asset === 'p1')!.annotations.summary).toBe('[ERROR] p1 down');
    expect(new Set(paris.alerts.map((a) => a.fingerprint)).size).toBe(3);
    expect(payloads.find((p) => p.groupLabels.site === 'lyon')!.groupKey).toBe('{}:{site="lyon"}');

    await exp.consumeIncidents([p1!.next('resolved')]);
    await advanceGroups(exp, timers, 5 * M);
    const [, , oneResolved] = receiver.accepted as AmPayload[];
    expect(oneResolved!.status).toBe('firing');
    expect(statuses(oneResolved!)).toEqual(['firing p2', 'firing p3', 'resolved p1']);
    expect(oneResolved!.alerts.find((a) => a.labels.asset === 'p1')!.endsAt).toBe('2026-11-23T10:02:00.000Z');
    expect(oneResolved!.groupKey).toBe(paris.groupKey);

    await exp.consumeIncidents([p2!.next('resolved'), p3!.next('resolved')]);
    await advanceGroups(exp, timers, 5 * M);
    const allResolved = (receiver.accepted as AmPayload[]).at(-1)!;
    expect(allResolved.status).toBe('resolved');
    expect(statuses(allResolved)).toEqual(['resolved p2', 'resolved p3']);
    // Lyon's group had nothing new: no repeat before repeat_interval (4 h by default).
    expect(receiver.accepted).toHaveLength(4);
  });
});

describe("Vigil's JSON format for a grouping route", () => {
  it('adds the group, with every member and its status, to the change of the group', async () => {
    const receiver = await new FakeWebhookReceiver().listen();
    cleanup.push(() => receiver.close());
    const { exp, timers } = await groupedWebhook(receiver, 'json');
    const [p1, p2] = ['p1', 'p2'].map((n) => assetDown(n, 'paris'));
    await exp.consumeIncidents([p1!.next('opened'), p2!.next('opened')]);
    await advanceGroups(exp, timers, 30 * S);
    await exp.consumeIncidents([p1!.next('resolved')]);
    await advanceGroups(exp, timers, 5 * M);
    type Json = {
      type: string;
      data: {
        incident: { key: string; status: string };
        group: { key: string; labels: object; members: { status: string; title: string; incident: { key: string } }[] };
      };
    };
    const [opened, updated] = receiver.accepted as Json[];
    expect(opened!.type).toBe('incident.opened');
    expect(opened!.data.incident.key).toBe('{}:{site="paris"}');
    expect(opened!.data.group).toMatchObject({ key: '{}:{site="paris"}', labels: { site: 'paris' } });
    expect(updated!.type).toBe('incident.updated');
    expect(updated!.data.group.members.map((m) => `${m.status} ${m.title}`).sort()).toEqual([
      'firing [ERROR] p2 down',
      'resolved [ERROR] p1 down',
    ]);
  });
});

describe("Vigil's grouped payload next to Debian's Alertmanager 0.25", () => {
  it('a real Alertmanager grouping the same alerts on the same route sends the same group key, labels and fingerprints', async () => {
    const vigilSink = await new FakeWebhookReceiver().listen();
    const amSink = await new FakeWebhookReceiver().listen();
    cleanup.push(
      () => vigilSink.close(),
      () => amSink.close(),
    );
    const { exp, timers } = await groupedWebhook(vigilSink);
    await exp.consumeIncidents(['p1', 'p2', 'p3'].map((n) => assetDown(n, 'paris').next('opened')));
    await advanceGroups(exp, timers, 30 * S);
    const [vigil] = vigilSink.accepted as AmPayload[];

    const am = await startAlertmanager(`route:
  receiver: ops
  group_by: [site]
  group_wait: 1s
receivers:
  - name: ops
    webhook_configs: [{ url: '${amSink.url}/', send_resolved: true }]
`);
    cleanup.push(() => am.stop());
    // The very alerts Vigil sent, as Prometheus would post them, starting now: Alertmanager
    // flushes a new group at once, without group_wait, when its first alert started longer than
    // group_wait ago, and would then race the other two alerts of the same request.
    const startsAt = new Date().toISOString();
    const res = await fetch(`${am.url}/api/v2/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(vigil!.alerts.map((a) => ({ labels: a.labels, annotations: a.annotations, startsAt }))),
    });
    expect(res.status).toBe(200);
    await waitFor(() => amSink.accepted.length > 0, "Alertmanager's notification");
    const [real] = amSink.accepted as AmPayload[];

    for (const field of ['version', 'groupKey', 'status', 'groupLabels', 'commonLabels', 'commonAnnotations'] as const)
      expect(vigil![field], field).toEqual(real![field]);
    const byFingerprint = (p: AmPayload) =>
      Object.fromEntries(p.alerts.map((a) => [a.fingerprint, { status: a.status, labels: a.labels }]));
    expect(byFingerprint(vigil!)).toEqual(byFingerprint(real!));
  });
});
