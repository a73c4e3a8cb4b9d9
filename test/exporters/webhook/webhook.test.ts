import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { webhookExporterSchema } from '../../../src/exporters/webhook/config.ts';
import { WebhookDriver } from '../../../src/exporters/webhook/driver.ts';
import { pagerDutySeverity } from '../../../src/exporters/webhook/formats.ts';
import { signWebhook } from '../../../src/exporters/webhook/signature.ts';
import { incidentMarker } from '../../../src/exporters/tickets/incidentExporter.ts';
import { FakePagerDuty } from '../../support/fakes/pagerduty.ts';
import { FakeSlack } from '../../support/fakes/slack.ts';
import { ManualTimers } from '../../support/fakes/timers.ts';
import { FakeWebhookReceiver } from '../../support/fakes/webhookReceiver.ts';
import { IncidentStory, parseWith, startIncidentExporter } from '../incidentFixtures.ts';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function exporter(raw: Record<string, unknown>, timers?: ManualTimers) {
  const config = parseWith(webhookExporterSchema, raw);
  return startIncidentExporter('webhook/test', config, new WebhookDriver(config), { timers }, cleanup);
}

async function fake<T extends { listen(): Promise<T>; close(): Promise<void> }>(f: T): Promise<T> {
  await f.listen();
  cleanup.push(() => f.close());
  return f;
}

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

describe('webhook exporter', () => {
  it('signs exactly as the Standard Webhooks reference test vector', () => {
    expect(signWebhook(SECRET, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}')).toBe(
      'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    );
  });

  it('delivers open, update and resolve as signed JSON that the receiver verifies', async () => {
    const receiver = await fake(new FakeWebhookReceiver({ secret: SECRET }));
    const { exp } = await exporter({ url: `${receiver.url}/hooks/vigil`, secret: SECRET });
    const story = new IncidentStory();
    await exp.consumeIncidents([story.next('opened'), story.next('updated')]);
    await exp.consumeIncidents([story.next('resolved')]);
    await exp.outbox.whenIdle();
    expect(receiver.rejected).toHaveLength(0);
    const got = receiver.accepted as {
      type: string;
      data: { marker: string; incident: { key: string; status: string } };
    }[];
    expect(got.map((p) => p.type)).toEqual(['incident.opened', 'incident.updated', 'incident.resolved']);
    expect(got[2]!.data.incident).toMatchObject({ key: 'disk-full{host="db-1"}', status: 'resolved' });
    const ids = receiver.requests.map((r) => r.headers['webhook-id']);
    expect(new Set(ids).size).toBe(3);
    expect(receiver.requests.every((r) => r.headers['idempotency-key'] === r.headers['webhook-id'])).toBe(true);
  });

  it('signs so that the standardwebhooks library verifies: a whsec_ secret as base64, any other as its UTF-8 bytes', async () => {
    const key = Buffer.from('a 32-byte key for Standard Webhk');
    const plain = 'a plain-text secret from an earlier config';
    for (const secret of [`whsec_${key.toString('base64')}`, plain]) {
      const receiver = await fake(new FakeWebhookReceiver());
      const { exp } = await exporter({ url: receiver.url, secret });
      await exp.consumeIncidents([new IncidentStory().next('opened')]);
      await exp.outbox.whenIdle();
      const { body, headers } = receiver.requests[0]!;
      const h = headers as Record<string, string>;
      if (secret === plain) {
        // Today's signatures hold: the library verifies them given the secret's bytes as the raw key.
        expect(new Webhook(Buffer.from(plain, 'utf8'), { format: 'raw' }).verify(body, h)).toMatchObject({
          type: 'incident.opened',
        });
        expect(() => new Webhook(Buffer.from('another secret'), { format: 'raw' }).verify(body, h)).toThrow(
          'No matching signature found',
        );
      } else {
        // With the prefix, and without it: the library reads both as base64.
        expect(new Webhook(secret).verify(body, h)).toMatchObject({ type: 'incident.opened' });
        expect(new Webhook(key.toString('base64')).verify(body, h)).toMatchObject({ type: 'incident.opened' });
      }
    }
    expect(() =>
      parseWith(webhookExporterSchema, { url: 'https://hooks.example.com/', secret: 'whsec_not base64!' }),
    ).toThrow('secret: after whsec_ must come the key in base64');
  });

  it('parks a change the receiver refuses for a bad signature instead of retrying it forever', async () => {
    const receiver = await fake(new FakeWebhookReceiver({ secret: SECRET }));
    const { exp } = await exporter({
      url: receiver.url,
      secret: 'whsec_' + Buffer.from('another secret of 24 bytes!').toString('base64'),
    });
    await exp.consumeIncidents([new IncidentStory().next('opened')]);
    await exp.outbox.whenIdle();
    expect(receiver.rejected).toHaveLength(1);
    expect(receiver.accepted).toHaveLength(0);
    expect(exp.outbox.parked).toBe(1);
  });

  it('posts Slack messages the incoming webhook accepts, honouring 429 Retry-After and retrying 5xx', async () => {
    const slack = await fake(new FakeSlack());
    const timers = new ManualTimers();
    const { exp } = await exporter({ url: slack.webhookUrl, format: 'slack' }, timers);
    slack.failNext({ status: 429, headers: { 'retry-after': '7' }, body: 'rate_limited' });
    slack.failNext({ status: 500, body: 'rollup_error' });
    const story = new IncidentStory();
    await exp.consumeIncidents([story.next('opened')]);
    await vi.waitFor(() => expect(timers.delays).toEqual([7000]), { timeout: 5000 });
    timers.advance(7000);
    // the 500 falls back to the exponential schedule: attempt 2 → the initial 2 s doubled (jitter pinned to its middle)
    await vi.waitFor(() => expect(timers.delays).toEqual([7000, 4000]), { timeout: 5000 });
    timers.advance(4000);
    await exp.consumeIncidents([story.next('resolved')]);
    await exp.outbox.whenIdle();
    expect(slack.requests).toHaveLength(4);
    expect(slack.messages.map((m) => m.blocks![0]!.text!.text)).toEqual([
      '[OPEN] [ERROR] Disk full on db-1',
      '[RESOLVED] [ERROR] Disk full on db-1',
    ]);
  });

  it('escapes Slack control sequences and strips invisible characters in every inserted value', async () => {
    const slack = await fake(new FakeSlack());
    const { exp } = await exporter({ url: slack.webhookUrl, format: 'slack' });
    const hostile = '<!channel> <https://evil.example|your bank> & co\u202eevil\u0007';
    const story = new IncidentStory('disk-full{host="db-1"}', { title: hostile, severityText: '<!here>' });
    await exp.consumeIncidents([story.next('opened')]);
    await exp.outbox.whenIdle();
    const [m] = slack.messages;
    const context = (m!.blocks![2] as unknown as { elements: { text: string }[] }).elements;
    const mrkdwn = [m!.text!, m!.blocks![1]!.text!.text, ...context.map((e) => e.text)];
    for (const t of mrkdwn) {
      expect(t).not.toMatch(/<!|<https?:/);
      expect(t.includes('\u0007') || t.includes('\u202e')).toBe(false);
    }
    expect(m!.text).toContain('&lt;!channel&gt; &lt;https://evil.example|your bank&gt; &amp; co');
    expect(context[0]!.text).toContain('&lt;!here&gt;');
  });

  it('sends the Alertmanager v4 payload: firing, then resolved with endsAt, one fingerprint', async () => {
    const receiver = await fake(new FakeWebhookReceiver());
    const { exp } = await exporter({
      url: receiver.url,
      format: 'alertmanager',
      receiver: 'ops',
      external_url: 'https://vigil.example',
    });
    const story = new IncidentStory();
    await exp.consumeIncidents([story.next('opened'), story.next('resolved')]);
    await exp.outbox.whenIdle();
    type Am = {
      version: string;
      status: string;
      receiver: string;
      groupKey: string;
      alerts: {
        status: string;
        labels: Record<string, string>;
        startsAt: string;
        endsAt: string;
        fingerprint: string;
      }[];
    };
    const [firing, resolved] = receiver.accepted as Am[];
    expect(firing).toMatchObject({
      version: '4',
      status: 'firing',
      receiver: 'ops',
      truncatedAlerts: 0,
      externalURL: 'https://vigil.example',
    });
    expect(firing!.alerts[0]).toMatchObject({
      status: 'firing',
      endsAt: '0001-01-01T00:00:00Z',
      startsAt: '2026-11-23T10:00:00.000Z',
      labels: { alertname: 'disk-full', severity: 'error', host: 'db-1', env: 'prod' },
    });
    expect(firing!.alerts[0]!.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(resolved!.status).toBe('resolved');
    expect(resolved!.alerts[0]!.endsAt).toBe('2026-11-23T10:02:00.000Z');
    expect(resolved!.alerts[0]!.fingerprint).toBe(firing!.alerts[0]!.fingerprint);
    expect(resolved!.groupKey).toBe(firing!.groupKey);
  });

  it('retries a request that times out and delivers it once', async () => {
    const receiver = await fake(new FakeWebhookReceiver());
    const timers = new ManualTimers();
    const { exp } = await exporter({ url: receiver.url, delivery: { timeout: '1s' } }, timers);
    receiver.failNext({ hang: true });
    await exp.consumeIncidents([new IncidentStory().next('opened')]);
    await vi.waitFor(() => expect(timers.delays).toHaveLength(1), { timeout: 5000 });
    timers.advance(timers.delays[0]!);
    await exp.outbox.whenIdle();
    expect(receiver.requests).toHaveLength(2);
    expect(receiver.accepted).toHaveLength(1);
  });

  it('takes only routed incidents, skips changes not to notify, and never resolves what it never announced', async () => {
    const receiver = await fake(new FakeWebhookReceiver());
    const { exp } = await exporter({
      url: receiver.url,
      routes: [{ matchers: ['severity >= error', 'env = "prod"'] }, { matchers: ['rule =~ "cert-.*"'] }],
    });
    const prodError = new IncidentStory('a');
    const stagingError = new IncidentStory('b', { labels: { env: 'staging' } });
    const certWarning = new IncidentStory('c', {
      rule: 'cert-expiry',
      severityNumber: 13,
      severityText: 'WARN',
      labels: {},
    });
    const heldBack = new IncidentStory('d');
    await exp.consumeIncidents([
      prodError.next('opened'),
      stagingError.next('opened'),
      certWarning.next('opened'),
      heldBack.next('opened', { notify: false }),
    ]);
    await exp.consumeIncidents([
      heldBack.next('resolved', { notify: false }),
      prodError.next('resolved', { notify: false }),
    ]);
    await exp.outbox.whenIdle();
    const got = receiver.accepted as { type: string; data: { incident: { key: string } } }[];
    expect(got.map((p) => `${p.data.incident.key}:${p.type}`)).toEqual([
      'a:incident.opened',
      'c:incident.opened',
      'a:incident.resolved',
    ]);
  });

  it('rejects invalid matchers and templates with the config path at fault', () => {
    expect(() => parseWith(webhookExporterSchema, { url: 'http://x', routes: [{ matchers: ['env ~ prod'] }] })).toThrow(
      'routes[0].matchers[0]: must look like name = "value"',
    );
    expect(() => parseWith(webhookExporterSchema, { url: 'http://x', routes: [{ matchers: ['host >= db'] }] })).toThrow(
      '>= only compares severity',
    );
    expect(() => parseWith(webhookExporterSchema, { url: 'http://x', title: '{{#labels}}x' })).toThrow(
      'title: is not a valid template: {{#labels}} is never closed',
    );
  });

  it('keeps an incident as one PagerDuty alert: triggers on open and updates, acknowledge, resolve', async () => {
    const routingKey = 'R0UT1NGKEY0123456789abcdefABCDEF';
    const pd = await fake(new FakePagerDuty(routingKey));
    const { exp } = await exporter({ url: pd.enqueueUrl, format: 'pagerduty', routing_key: routingKey });
    const story = new IncidentStory();
    await exp.consumeIncidents([
      story.next('opened'),
      story.next('updated'),
      story.next('acknowledged'),
      story.next('resolved'),
    ]);
    await exp.outbox.whenIdle();
    expect(exp.outbox.parked).toBe(0);
    expect(pd.alerts).toEqual([
      {
        dedupKey: incidentMarker('disk-full{host="db-1"}'),
        status: 'resolved',
        summary: '[ERROR] Disk full on db-1',
        severity: 'error',
        triggers: 2,
      },
    ]);
  });

  it("maps PagerDuty's severity as Alertmanager does: the severity label if PagerDuty knows it, else error", async () => {
    const severityOf = (over: Record<string, unknown>) =>
      pagerDutySeverity(new IncidentStory('k', over).next('opened').incident);
    expect(
      ['critical', 'error', 'warning', 'info', 'Critical'].map((severity) =>
        severityOf({ labels: { severity }, severityText: 'INFO' }),
      ),
    ).toEqual(['critical', 'error', 'warning', 'info', 'critical']);
    // Without the label, the incident's severity text; OpenTelemetry's names count as what they mean.
    expect(['FATAL', 'ERROR2', 'WARN', 'INFO', 'DEBUG'].map((severityText) => severityOf({ severityText }))).toEqual([
      'critical',
      'error',
      'warning',
      'info',
      'info',
    ]);
    expect(severityOf({ severityText: '', severityNumber: 13 })).toBe('warning');
    // Alertmanager's default for a value PagerDuty would refuse.
    expect(severityOf({ labels: { severity: 'page' } })).toBe('error');
    expect(severityOf({ labels: { severity: 'disaster' }, severityText: 'FATAL' })).toBe('error');

    const routingKey = 'R0UT1NGKEY0123456789abcdefABCDEF';
    const pd = await fake(new FakePagerDuty(routingKey));
    const { exp } = await exporter({ url: pd.enqueueUrl, format: 'pagerduty', routing_key: routingKey });
    await exp.consumeIncidents([
      new IncidentStory('a', { labels: { severity: 'critical' } }).next('opened'),
      new IncidentStory('b', { severityText: 'WARN' }).next('opened'),
      new IncidentStory('c', { labels: { severity: 'sev1' } }).next('opened'),
    ]);
    await exp.outbox.whenIdle();
    expect(exp.outbox.parked).toBe(0);
    expect(pd.alerts.map((a) => a.severity).sort()).toEqual(['critical', 'error', 'warning']);
  });

  it('parks PagerDuty events the API calls invalid, and requires a routing key for the format', async () => {
    const pd = await fake(new FakePagerDuty('R0UT1NGKEY0123456789abcdefABCDEF'));
    const { exp } = await exporter({
      url: pd.enqueueUrl,
      format: 'pagerduty',
      routing_key: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    });
    await exp.consumeIncidents([new IncidentStory().next('opened')]);
    await exp.outbox.whenIdle();
    expect(exp.outbox.parked).toBe(1);
    expect(pd.alerts).toHaveLength(0);
    expect(() => parseWith(webhookExporterSchema, { url: pd.enqueueUrl, format: 'pagerduty' })).toThrow(
      'routing_key: is required with format: pagerduty',
    );
  });
});
