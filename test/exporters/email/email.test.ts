import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { emailExporterSchema } from '../../../src/exporters/email/config.ts';
import { EmailDriver } from '../../../src/exporters/email/driver.ts';
import { incidentMarker } from '../../../src/exporters/tickets/incidentExporter.ts';
import { ManualTimers } from '../../support/fakes/timers.ts';
import { startMailpit, type Mailpit, type MailpitOptions } from '../../support/mailpit.ts';
import { makeTestPki, type TestPki } from '../../receivers/syslog/tlsCerts.ts';
import { IncidentStory, parseWith, startIncidentExporter } from '../incidentFixtures.ts';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

let pki: TestPki;
let authFile: string;
beforeAll(() => {
  pki = makeTestPki();
  authFile = join(pki.dir, 'smtp-users');
  writeFileSync(authFile, 'vigil:s3cret\n');
});

async function mailpit(opts: MailpitOptions = {}): Promise<Mailpit> {
  const mp = await startMailpit(opts);
  cleanup.push(() => mp.stop());
  return mp;
}

const RECIPIENTS = {
  from: 'Vigil <vigil@alerts.example.com>',
  to: ['ops@example.com', 'Network team <net@example.com>'],
  cc: ['audit@example.com'],
};

async function exporter(
  port: number,
  extra: Record<string, unknown>,
  opts: { timers?: ManualTimers; dataDir?: string } = {},
) {
  const config = parseWith(emailExporterSchema, { host: '127.0.0.1', port, tls: 'none', ...RECIPIENTS, ...extra });
  return startIncidentExporter('email', config, new EmailDriver(config), opts, cleanup);
}

describe('email exporter, against a real Mailpit', () => {
  it('sends one mail per change, threaded under the first, with subject, text and escaped HTML', async () => {
    const mp = await mailpit();
    const { exp } = await exporter(mp.smtpPort, {});
    const story = new IncidentStory('disk-full{host="db-1"}', { title: 'Disk <b>full</b> & "slow" on db-1' });
    await exp.consumeIncidents([story.next('opened'), story.next('updated'), story.next('resolved')]);
    await exp.outbox.whenIdle();
    expect(exp.outbox.parked).toBe(0);

    const mails = await mp.messages();
    expect(mails).toHaveLength(3);
    const root = mails.find((m) => m.Subject.endsWith('(opened)'))!;
    expect(root.Subject).toBe('[ERROR] Disk <b>full</b> & "slow" on db-1 (opened)');
    expect(root.MessageID).toMatch(
      new RegExp(`^${incidentMarker('disk-full{host="db-1"}')}\\.[0-9a-f]{12}@alerts\\.example\\.com$`),
    );
    expect(root.From).toEqual({ Name: 'Vigil', Address: 'vigil@alerts.example.com' });
    expect(root.To.map((t) => t.Address)).toEqual(['ops@example.com', 'net@example.com']);
    expect(root.Cc.map((t) => t.Address)).toEqual(['audit@example.com']);
    expect(root.Text).toContain('Incident: disk-full{host="db-1"}');
    expect(root.HTML).toContain('<td>disk-full{host=&quot;db-1&quot;}</td>');
    expect(root.HTML).not.toContain('<b>full</b>');
    const rootHeaders = await mp.headers(root.ID);
    expect(rootHeaders['In-Reply-To']).toBeUndefined();
    expect(rootHeaders['Auto-Submitted']).toEqual(['auto-generated']);

    for (const kind of ['updated', 'resolved']) {
      const reply = mails.find((m) => m.Subject.endsWith(`(${kind})`))!;
      expect(reply.MessageID).not.toBe(root.MessageID);
      const h = await mp.headers(reply.ID);
      expect(h['In-Reply-To']).toEqual([`<${root.MessageID}>`]);
      expect(h.References).toEqual([`<${root.MessageID}>`]);
      expect(reply.Text).toContain(`${kind}: ${kind} by test`);
    }
    // A new occurrence of the incident starts its own thread.
    await exp.consumeIncidents([new IncidentStory('disk-full{host="db-1"}', { id: 'inc-again' }).next('opened')]);
    await exp.outbox.whenIdle();
    const again = (await mp.messages()).filter((m) => m.Subject.endsWith('(opened)'));
    expect(new Set(again.map((m) => m.MessageID)).size).toBe(2);
  });

  it('sends over STARTTLS with AUTH to a server that requires both, trusting the server through ca_file', async () => {
    const mp = await mailpit({ tls: { cert: pki.serverCert, key: pki.serverKey, requireStartTls: true }, authFile });
    const { exp } = await exporter(mp.smtpPort, {
      tls: 'starttls',
      ca_file: pki.caCert,
      username: 'vigil',
      password: 's3cret',
    });
    await exp.consumeIncidents([new IncidentStory().next('opened')]);
    await exp.outbox.whenIdle();
    expect(exp.outbox.parked).toBe(0);
    expect(await mp.messages()).toHaveLength(1);
  });

  it('sends over implicit TLS (SMTPS)', async () => {
    const mp = await mailpit({ tls: { cert: pki.serverCert, key: pki.serverKey, requireTls: true } });
    const { exp } = await exporter(mp.smtpPort, { tls: 'implicit', ca_file: pki.caCert });
    await exp.consumeIncidents([new IncidentStory().next('opened')]);
    await exp.outbox.whenIdle();
    expect(await mp.messages()).toHaveLength(1);
  });

  it('keeps the mail while the password is wrong or the certificate is not trusted, and sends it once fixed', async () => {
    const mp = await mailpit({ tls: { cert: pki.serverCert, key: pki.serverKey, requireStartTls: true }, authFile });
    const timers = new ManualTimers();
    const wrong = await exporter(
      mp.smtpPort,
      { tls: 'starttls', ca_file: pki.caCert, username: 'vigil', password: 'nope' },
      { timers },
    );
    const story = new IncidentStory();
    await wrong.exp.consumeIncidents([story.next('opened')]);
    await vi.waitFor(() => expect(timers.delays).toHaveLength(1), { timeout: 10_000 });
    expect([wrong.exp.outbox.depth, wrong.exp.outbox.parked]).toEqual([1, 0]);
    expect(wrong.exp.health().reason).toContain('authentication failed');
    expect(wrong.exp.health().reason).toContain('check username and password');
    await wrong.stop();

    const untrusted = await exporter(
      mp.smtpPort,
      { tls: 'starttls', username: 'vigil', password: 's3cret' },
      { timers, dataDir: wrong.dataDir },
    );
    await vi.waitFor(() => expect(timers.delays).toHaveLength(2), { timeout: 10_000 });
    expect(untrusted.exp.health().reason).toContain('check tls, ca_file');
    await untrusted.stop();

    const fixed = await exporter(
      mp.smtpPort,
      { tls: 'starttls', ca_file: pki.caCert, username: 'vigil', password: 's3cret' },
      { dataDir: wrong.dataDir },
    );
    await fixed.exp.outbox.whenIdle();
    expect(await mp.messages()).toHaveLength(1);
  });

  it('retries while the server is down and delivers once it is back, without losing or doubling the mail', async () => {
    const first = await startMailpit();
    const port = first.smtpPort;
    await first.stop();
    const timers = new ManualTimers();
    const { exp } = await exporter(port, {}, { timers });
    const story = new IncidentStory();
    await exp.consumeIncidents([story.next('opened'), story.next('updated')]);
    await vi.waitFor(() => expect(timers.delays).toHaveLength(1), { timeout: 10_000 });
    expect(exp.health().reason).toContain('ECONNREFUSED');

    const mp = await mailpit({ smtpPort: port });
    timers.advance(timers.delays[0]!);
    await exp.outbox.whenIdle();
    const mails = await mp.messages();
    expect(mails.map((m) => m.Subject.replace(/.*\(/, '('))).toEqual(['(opened)', '(updated)']);
  });

  it('parks a mail every recipient of which the server refuses (550)', async () => {
    const mp = await mailpit({ allowedRecipients: '@example\\.com$' });
    const { exp } = await exporter(mp.smtpPort, { to: ['someone@elsewhere.test'], cc: [] });
    await exp.consumeIncidents([new IncidentStory().next('opened')]);
    await exp.outbox.whenIdle();
    expect(exp.outbox.parked).toBe(1);
    expect(readFileSync(exp.outbox.parkedPath, 'utf8')).toContain('refused the message');
    expect(await mp.messages()).toHaveLength(0);
  });

  it('refuses a malformed address and a password without a user', () => {
    expect(() =>
      parseWith(emailExporterSchema, { host: 'smtp.example.com', from: 'vigil', to: ['ops@example.com'] }),
    ).toThrow('from: must be an address such as ops@example.com');
    expect(() =>
      parseWith(emailExporterSchema, { host: 'smtp.example.com', from: 'vigil@example.com', to: [] }),
    ).toThrow('to: must have at least 1 item(s)');
    expect(() =>
      parseWith(emailExporterSchema, {
        host: 'smtp.example.com',
        from: 'vigil@example.com',
        to: ['ops@example.com'],
        password: 'x',
      }),
    ).toThrow('username: is required with password');
    expect(() =>
      parseWith(emailExporterSchema, {
        host: 'smtp.example.com',
        from: 'vigil@example.com',
        to: ['ops@example.com'],
        html: '{{incident.nope}}',
      }),
    ).toThrow('html: is not a valid template');
  });
});
