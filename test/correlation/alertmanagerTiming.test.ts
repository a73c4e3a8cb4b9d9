import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type RunningDaemon } from '../support/daemon.ts';
import { FakeHttpServer, parseJsonBody } from '../support/fakes/server.ts';
import { startAlertmanager, type RunningAlertmanager } from '../support/alertmanager.ts';

/**
 * Vigil's notification timing next to Debian's Alertmanager 0.25 on one schedule, in real time:
 * both get the same downs and ups at the same moments (Alertmanager as alerts, Vigil as events)
 * and notify one webhook fake each. Timers are group_wait 2, group_interval 4 and
 * repeat_interval 10 units (not a multiple of group_interval: Alertmanager's repeat check at an
 * exact multiple is decided by milliseconds between its log entry and its tick), and every
 * checkpoint sits at least one unit from any send either side is due to make, so scheduling
 * jitter cannot move a notification across one. Times in comments are in units. They agree on everything but repeat_interval,
 * which Vigil counts from the last notification and Alertmanager rounds up to its next
 * group_interval tick (docs/correlation.md, "Vigil and Alertmanager").
 */
/**
 * Every time in this test is in units of UNIT seconds: 2 keeps each checkpoint 2 s away from any
 * send, which holds while the rest of the suite loads both cores (at 1 s it once did not).
 */
const UNIT = 2;
const GROUP_WAIT = `${2 * UNIT}s`;
const GROUP_INTERVAL = `${4 * UNIT}s`;
const REPEAT_INTERVAL = `${10 * UNIT}s`;

interface Notification {
  key: string;
  status: string;
}

/** A webhook receiver that keeps each Alertmanager-format payload as `alertname/asset` and status. */
class NotificationSink extends FakeHttpServer {
  readonly got: Notification[] = [];
  constructor() {
    super((r) => {
      const body = parseJsonBody(r) as { status: string; alerts: { labels: Record<string, string> }[] } | undefined;
      if (!body) return { status: 400 };
      const l = body.alerts[0]!.labels;
      this.got.push({ key: `${l.alertname}/${l.asset}`, status: body.status });
      return { status: 200 };
    });
  }
  count(key: string): number {
    return this.got.filter((n) => n.key === key).length;
  }
  statuses(key: string): string[] {
    return this.got.filter((n) => n.key === key).map((n) => n.status);
  }
}

let am: RunningAlertmanager | undefined;
let amUrl = '';
let daemon: RunningDaemon | undefined;
const amSink = new NotificationSink();
const vigilSink = new NotificationSink();

beforeAll(async () => {
  await amSink.listen();
  await vigilSink.listen();
  am = await startAlertmanager(
    `
route:
  receiver: hook
  group_by: [alertname, asset]
  group_wait: ${GROUP_WAIT}
  group_interval: ${GROUP_INTERVAL}
  repeat_interval: ${REPEAT_INTERVAL}
receivers:
  - name: hook
    webhook_configs:
      - url: ${amSink.url}/
        send_resolved: true
inhibit_rules:
  - source_matchers: ['alertname="asset_down"']
    target_matchers: ['alertname="svc_down"']
    equal: [asset]
`,
  );
  amUrl = am.url;

  daemon = await startDaemon(`
receivers:
  json: { endpoint: 127.0.0.1:0 }
exporters:
  correlation: {}
  webhook:
    url: ${vigilSink.url}/
    format: alertmanager
    delivery: { initial_backoff: 100ms, fsync: false }
correlation:
  tick_interval: 100ms
  defaults: { group_wait: ${GROUP_WAIT}, group_interval: ${GROUP_INTERVAL}, repeat_interval: ${REPEAT_INTERVAL}, allowed_lateness: 1s }
  rules:
    - { kind: pair, name: asset_down, match: 'attributes["alertname"] == "asset_down"', group_by: [asset], member_by: [service] }
    - { kind: pair, name: svc_down, match: 'attributes["alertname"] == "svc_down"', group_by: [asset] }
  inhibit:
    - { source: ['rule="asset_down"'], target: ['rule="svc_down"'], equal: [asset] }
service:
  pipelines:
    logs: { receivers: [json], exporters: [correlation] }
    incidents: { exporters: [webhook] }
  telemetry:
    metrics: { endpoint: 127.0.0.1:0 }
`);
}, 60_000);

afterAll(async () => {
  await daemon?.stop('SIGKILL');
  await am?.stop();
  await amSink.close();
  await vigilSink.close();
});

type Sent = { alertname: 'asset_down' | 'svc_down'; asset: string; service: string; type: 'down' | 'up' };

/** Sends the same changes to both at once: Alertmanager alerts (an up ends the alert now) and Vigil events. */
async function send(changes: Sent[]): Promise<void> {
  const now = new Date().toISOString();
  const alerts = changes.map((c) => ({
    labels: { alertname: c.alertname, asset: c.asset, service: c.service },
    startsAt: now,
    ...(c.type === 'up' ? { endsAt: now } : {}),
  }));
  const events = changes.map((c) => ({ ...c, ts: now }));
  const [a, v] = await Promise.all([
    fetch(`${amUrl}/api/v2/alerts`, {
      method: 'POST',
      body: JSON.stringify(alerts),
      headers: { 'content-type': 'application/json' },
    }),
    fetch(daemon!.url('/v1/events'), {
      method: 'POST',
      body: JSON.stringify(events),
      headers: { 'content-type': 'application/json' },
    }),
  ]);
  expect(a.status).toBe(200);
  expect(v.status).toBe(200);
}

const at = (t0: number, units: number) =>
  new Promise((r) => setTimeout(r, Math.max(0, t0 + units * UNIT * 1000 - Date.now())));

describe('notification timing next to Alertmanager 0.25', () => {
  it('agrees on group_wait, held resolutions, inhibition and late joiners, and differs only where documented (repeat_interval)', async () => {
    const t0 = Date.now();
    await send([
      { alertname: 'asset_down', asset: 'web-1', service: 'a', type: 'down' }, // stays down: first notification, then a repeat
      { alertname: 'asset_down', asset: 'web-2', service: 'a', type: 'down' }, // up before group_wait: never notified
      { alertname: 'asset_down', asset: 'web-3', service: 'a', type: 'down' }, // a second member joins late
      { alertname: 'asset_down', asset: 'web-4', service: 'a', type: 'down' }, // inhibits svc_down on web-4
      { alertname: 'svc_down', asset: 'web-4', service: 'a', type: 'down' },
      { alertname: 'asset_down', asset: 'web-5', service: 'a', type: 'down' }, // up after its first notification
    ]);
    await at(t0, 0.5);
    await send([{ alertname: 'asset_down', asset: 'web-2', service: 'a', type: 'up' }]);

    await at(t0, 1);
    // group_wait holds everything back on both sides.
    expect(amSink.got).toEqual([]);
    expect(vigilSink.got).toEqual([]);

    await at(t0, 3);
    await send([
      { alertname: 'asset_down', asset: 'web-3', service: 'b', type: 'down' },
      { alertname: 'asset_down', asset: 'web-5', service: 'a', type: 'up' },
    ]);

    await at(t0, 4.5);
    for (const sink of [amSink, vigilSink]) {
      for (const asset of ['web-1', 'web-3', 'web-4']) expect(sink.count(`asset_down/${asset}`), asset).toBe(1);
      expect(sink.count('asset_down/web-2')).toBe(0);
      expect(sink.count('svc_down/web-4')).toBe(0);
    }
    // web-5 came up 1 after its first notification: both hold the resolution back, Alertmanager
    // until the group's next group_interval tick, Vigil until group_interval after the last
    // notification (it could still reopen): t = 6 either way.
    for (const sink of [amSink, vigilSink]) expect(sink.statuses('asset_down/web-5')).toEqual(['firing']);

    await at(t0, 8);
    for (const sink of [amSink, vigilSink]) {
      // The late joiner is sent at the next group_interval after the first notification (t = 6),
      // and so is web-5's resolution.
      expect(sink.count('asset_down/web-3')).toBe(2);
      expect(sink.statuses('asset_down/web-5')).toEqual(['firing', 'resolved']);
      expect(sink.count('asset_down/web-1')).toBe(1);
    }

    await at(t0, 13);
    // repeat_interval: Vigil re-notifies exactly 10 after the last notification (t = 12);
    // Alertmanager at the first group_interval tick after that (t = 14), as its docs say
    // ("rounded up to a multiple of group_interval").
    expect(vigilSink.count('asset_down/web-1')).toBe(2);
    expect(vigilSink.count('asset_down/web-4')).toBe(2);
    expect(amSink.count('asset_down/web-1')).toBe(1);
    expect(amSink.count('asset_down/web-4')).toBe(1);

    await at(t0, 15);
    for (const [name, sink] of [
      ['alertmanager', amSink],
      ['vigil', vigilSink],
    ] as const) {
      expect(sink.count('asset_down/web-1'), name).toBe(2);
      expect(sink.count('asset_down/web-4'), name).toBe(2);
      // web-3 was last notified at 6: its repeat is due at 16 (Vigil) and 18 (Alertmanager).
      expect(sink.count('asset_down/web-3'), name).toBe(2);
      expect(sink.count('asset_down/web-2'), name).toBe(0);
      expect(sink.count('svc_down/web-4'), name).toBe(0);
    }
  }, 90_000);
});
