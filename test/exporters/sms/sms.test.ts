import { readFileSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { smsExporterSchema } from '../../../src/exporters/sms/config.ts';
import { SmsDriver } from '../../../src/exporters/sms/driver.ts';
import { smsIncidentConfig } from '../../../src/exporters/sms/factory.ts';
import type { IncidentChange } from '../../../src/model/incident.ts';
import { FakeHttpServer, parseJsonBody } from '../../support/fakes/server.ts';
import { ManualTimers } from '../../support/fakes/timers.ts';
import { FakeTwilio, twilioError } from '../../support/fakes/twilio.ts';
import { IncidentStory, parseWith, startIncidentExporter } from '../incidentFixtures.ts';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

const ALICE = '+14155550101';
const BOB = '+447700900123';

async function twilioFake() {
  const tw = await new FakeTwilio().listen();
  cleanup.push(() => tw.close());
  return tw;
}

async function exporter(raw: Record<string, unknown>, opts: { timers?: ManualTimers; dataDir?: string } = {}) {
  const config = parseWith(smsExporterSchema, raw);
  const registry = new Registry();
  const started = await startIncidentExporter(
    'sms/oncall',
    smsIncidentConfig(config),
    new SmsDriver(config, { exporterId: 'sms/oncall', registry, timers: opts.timers }),
    opts,
    cleanup,
  );
  const sum =
    (from: Registry) =>
    async (name: string, labels: Record<string, string> = {}) => {
      const values = (await from.getSingleMetric(name)?.get())?.values ?? [];
      return values
        .filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))
        .reduce((total, v) => total + v.value, 0);
    };
  // The driver's own metrics, and the service's (what every exporter counts).
  return { ...started, metric: sum(registry), serviceMetric: sum(started.metrics.registry) };
}

const twilioConfig = (tw: FakeTwilio, extra: Record<string, unknown> = {}) => ({
  provider: 'twilio',
  url: tw.url,
  account_sid: tw.accountSid,
  auth_token: 'auth-token-1',
  from: '+14155550100',
  to: [ALICE, BOB],
  ...extra,
});

describe('SMS exporter', () => {
  it('Twilio: one message per change and recipient, form-encoded, with Basic auth by Account SID', async () => {
    const tw = await twilioFake();
    const { exp, metric } = await exporter(twilioConfig(tw));
    const story = new IncidentStory();
    await exp.consumeIncidents([story.next('opened'), story.next('updated'), story.next('resolved')]);
    await exp.outbox.whenIdle();
    expect(exp.outbox.parked).toBe(0);
    for (const who of [ALICE, BOB])
      expect(tw.to(who)).toEqual([
        'opened: [ERROR] Disk full on db-1 on db-1',
        'updated: [ERROR] Disk full on db-1 on db-1',
        'resolved: [ERROR] Disk full on db-1 on db-1',
      ]);
    expect(tw.messages.every((m) => m.from === '+14155550100')).toBe(true);
    expect(tw.requests[0]!.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(await metric('vigil_sms_segments_total')).toBe(6);
  });

  it('sends through a Messaging Service when from is an MG SID', async () => {
    const tw = await twilioFake();
    const { exp } = await exporter(twilioConfig(tw, { from: 'MG0123456789abcdef0123456789abcdef', to: [ALICE] }));
    await exp.consumeIncidents([new IncidentStory().next('opened')]);
    await exp.outbox.whenIdle();
    expect(tw.messages.map((m) => [m.from, m.messaging_service_sid])).toEqual([
      [null, 'MG0123456789abcdef0123456789abcdef'],
    ]);
  });

  it('cuts a long text to max_segments with an ellipsis, and counts it', async () => {
    const tw = await twilioFake();
    const { exp, metric } = await exporter(
      twilioConfig(tw, { to: [ALICE], max_segments: 1, message: '{{incident.title}}' }),
    );
    await exp.consumeIncidents([new IncidentStory('k', { title: `Disk full ${'x'.repeat(300)}` }).next('opened')]);
    await exp.outbox.whenIdle();
    const [text] = tw.to(ALICE);
    expect(text).toHaveLength(160);
    expect(text!.endsWith('x...')).toBe(true);
    expect(await metric('vigil_sms_truncated_total')).toBe(1);
  });

  it('holds each recipient to rate_limit, counts what it drops, and says so in the next message that goes out', async () => {
    const tw = await twilioFake();
    const timers = new ManualTimers();
    const { exp, metric } = await exporter(twilioConfig(tw, { to: [ALICE], rate_limit: { messages: 2, per: '10m' } }), {
      timers,
    });
    const story = new IncidentStory();
    await exp.consumeIncidents([
      story.next('opened'),
      story.next('updated'),
      story.next('escalated'),
      story.next('updated'),
    ]);
    await exp.outbox.whenIdle();
    expect(tw.to(ALICE)).toHaveLength(2);
    expect(await metric('vigil_sms_dropped_total', { reason: 'rate_limited' })).toBe(2);
    expect(exp.outbox.depth).toBe(0);

    timers.advance(10 * 60_000 + 1);
    await exp.consumeIncidents([story.next('resolved')]);
    await exp.outbox.whenIdle();
    expect(tw.to(ALICE).at(-1)).toBe('(+2 not sent) resolved: [ERROR] Disk full on db-1 on db-1');
  });

  it('waits out 429 Retry-After and 503 without texting anyone twice', async () => {
    const tw = await twilioFake();
    const timers = new ManualTimers();
    const { exp } = await exporter(twilioConfig(tw), { timers });
    const toBob = (r: { body: string }) => new URLSearchParams(r.body).get('To') === BOB;
    tw.failNext({ ...twilioError(429, 20429, 'Too Many Requests'), headers: { 'retry-after': '7' } }, toBob);
    tw.failNext({ status: 503, body: 'Service Unavailable' }, toBob);
    await exp.consumeIncidents([new IncidentStory().next('opened')]);
    await vi.waitFor(() => expect(timers.delays).toEqual([7000]), { timeout: 5000 });
    timers.advance(7000);
    await vi.waitFor(() => expect(timers.delays).toHaveLength(2), { timeout: 5000 });
    timers.advance(timers.delays[1]!);
    await exp.outbox.whenIdle();
    // Alice was texted on the first attempt and not again on Bob's retries.
    expect(tw.requests.map((r) => new URLSearchParams(r.body).get('To'))).toEqual([ALICE, BOB, BOB, BOB]);
    expect([tw.to(ALICE).length, tw.to(BOB).length]).toEqual([1, 1]);
  });

  it('skips a recipient Twilio refuses and counts it, and parks a change every recipient refuses', async () => {
    const tw = await twilioFake();
    tw.unsubscribed.add(BOB);
    const { exp, metric } = await exporter(twilioConfig(tw));
    await exp.consumeIncidents([new IncidentStory('a').next('opened')]);
    await exp.outbox.whenIdle();
    expect([tw.to(ALICE).length, tw.to(BOB).length, exp.outbox.parked]).toEqual([1, 0, 0]);
    expect(await metric('vigil_sms_dropped_total', { reason: 'rejected' })).toBe(1);

    tw.unsubscribed.add(ALICE);
    await exp.consumeIncidents([new IncidentStory('b').next('opened')]);
    await exp.outbox.whenIdle();
    expect(exp.outbox.parked).toBe(1);
    expect(readFileSync(exp.outbox.parkedPath, 'utf8')).toContain(
      'every recipient refused: +14155550101: Twilio message to +14155550101: HTTP 400 21610 Attempt to send to unsubscribed recipient (https://www.twilio.com/docs/errors/21610)',
    );
  });

  it('keeps the change while the Auth Token is wrong', async () => {
    const tw = await twilioFake();
    const timers = new ManualTimers();
    const { exp } = await exporter(twilioConfig(tw, { auth_token: 'revoked' }), { timers });
    await exp.consumeIncidents([new IncidentStory().next('opened')]);
    await vi.waitFor(() => expect(timers.delays).toHaveLength(1), { timeout: 5000 });
    expect([exp.outbox.depth, exp.outbox.parked, tw.messages.length]).toEqual([1, 0, 0]);
    expect(exp.health().reason).toContain('HTTP 401 20003 Authenticate');
    expect(exp.health().reason).toContain('check account_sid and auth_token');
  });

  it('http provider: a JSON or form body from the template, values escaped for it, Basic auth and an idempotency key', async () => {
    const gateway = await new FakeHttpServer(() => ({ status: 202, body: { queued: true } })).listen();
    cleanup.push(() => gateway.close());
    const story = () => new IncidentStory('k', { title: 'Disk "full" & slow\non db-1' });
    const json = await exporter({
      url: `${gateway.url}/send`,
      username: 'vigil',
      password: 'pw',
      from: 'VIGIL',
      to: [ALICE],
      body: '{"dest":"{{to}}","sender":"{{from}}","text":"{{message}}","ref":"{{id}}"}',
      message: '{{incident.title}}',
    });
    await json.exp.consumeIncidents([story().next('opened')]);
    await json.exp.outbox.whenIdle();
    const sent = gateway.requests[0]!;
    expect(sent.headers.authorization).toBe(`Basic ${Buffer.from('vigil:pw').toString('base64')}`);
    expect(parseJsonBody(sent)).toEqual({
      dest: ALICE,
      sender: 'VIGIL',
      text: 'Disk "full" & slow\non db-1',
      ref: sent.headers['idempotency-key'],
    });

    const form = await exporter({
      url: `${gateway.url}/form`,
      method: 'PUT',
      content_type: 'form',
      from: 'VIGIL',
      to: [BOB],
      message: '{{incident.title}}',
    });
    await form.exp.consumeIncidents([story().next('opened')]);
    await form.exp.outbox.whenIdle();
    const put = gateway.requests[1]!;
    expect(put.method).toBe('PUT');
    expect(Object.fromEntries(new URLSearchParams(put.body))).toEqual({
      to: BOB,
      from: 'VIGIL',
      text: 'Disk "full" & slow\non db-1',
    });
  });

  it('counts a text sent only once the outbox has written and fsynced its done line', async () => {
    const tw = await twilioFake();
    const { exp, serviceMetric } = await exporter(twilioConfig(tw, { to: [ALICE] }));
    const order: string[] = [];
    const journal = (exp.outbox as unknown as { journal: FileHandle }).journal;
    const write = journal.write.bind(journal) as (text: string) => Promise<unknown>;
    const sync = journal.sync.bind(journal);
    (journal as unknown as { write(text: string): Promise<unknown> }).write = (text: string) => {
      if (text.includes('"d":')) order.push('done line written');
      return write(text);
    };
    journal.sync = () => {
      order.push('fsync');
      return sync();
    };
    const sent = exp.telemetry.sent.bind(exp.telemetry);
    exp.telemetry.sent = (...args) => {
      order.push(`counted with ${tw.messages.length} text(s) out`);
      sent(...args);
    };
    await exp.consumeIncidents([new IncidentStory().next('opened')]);
    await exp.outbox.whenIdle();
    // What an operator (or a test about to kill the daemon) reads as delivered is not sent again after a crash.
    expect(order.slice(order.indexOf('done line written'))).toEqual([
      'done line written',
      'fsync',
      'counted with 1 text(s) out',
    ]);
    expect(await serviceMetric('vigil_exporter_sent_records_total', { signal: 'incidents' })).toBe(1);
  });

  it('texts a change handed over again after a restart only once, and counts the repeat', async () => {
    const tw = await twilioFake();
    const first = await exporter(twilioConfig(tw, { to: [ALICE] }));
    const story = new IncidentStory();
    const opened = story.next('opened');
    await first.exp.consumeIncidents([opened]);
    await first.exp.outbox.whenIdle();
    await first.stop();
    const second = await exporter(twilioConfig(tw, { to: [ALICE] }), { dataDir: first.dataDir });
    // Correlation had not recorded the hand-over before the restart: it hands the change over again, read back from disk.
    await second.exp.consumeIncidents([JSON.parse(JSON.stringify(opened)) as IncidentChange, story.next('resolved')]);
    await second.exp.outbox.whenIdle();
    expect(tw.to(ALICE)).toEqual([
      'opened: [ERROR] Disk full on db-1 on db-1',
      'resolved: [ERROR] Disk full on db-1 on db-1',
    ]);
    expect(await second.serviceMetric('vigil_exporter_outbox_duplicates_total')).toBe(1);
    expect(await second.serviceMetric('vigil_exporter_sent_records_total', { signal: 'incidents' })).toBe(1);
  });

  it('refuses configs that cannot send', () => {
    expect(() => parseWith(smsExporterSchema, { from: 'VIGIL', to: [ALICE] })).toThrow(
      'url: is required with provider: http',
    );
    expect(() =>
      parseWith(smsExporterSchema, { provider: 'twilio', from: '+14155550100', to: [ALICE], auth_token: 't' }),
    ).toThrow('account_sid: is required with provider: twilio');
    expect(() =>
      parseWith(smsExporterSchema, { url: 'https://sms.example.com', from: 'VIGIL', to: ['0612345678'] }),
    ).toThrow('to[0]: must be a phone number in E.164 form');
    expect(() =>
      parseWith(smsExporterSchema, {
        url: 'https://sms.example.com',
        from: 'VIGIL',
        to: [ALICE],
        body: '{{incident.title}}',
      }),
    ).toThrow('body: is not a valid template');
  });
});
