import { createSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConfigIssue } from '../../../src/config/schema.ts';
import { QueueFullError } from '../../../src/errors.ts';
import type { VigilEvent } from '../../../src/model/event.ts';
import type { Consumer } from '../../../src/pipeline/signals.ts';
import { syslogReceiverSchema } from '../../../src/receivers/syslog/config.ts';
import { SyslogReceiver } from '../../../src/receivers/syslog/receiver.ts';
import { createLogger } from '../../../src/telemetry/logger.ts';
import { SelfMetrics } from '../../../src/telemetry/selfMetrics.ts';
import { SwitchableConsumer } from '../../support/switchableConsumer.ts';
import { waitFor } from '../../support/waitFor.ts';

let receiver: SyslogReceiver | undefined;
afterEach(async () => {
  await receiver?.shutdown();
  receiver = undefined;
});

async function startReceiver(
  raw: Record<string, unknown>,
  consumer: Consumer<VigilEvent>,
): Promise<{ receiver: SyslogReceiver; metrics: SelfMetrics }> {
  const issues: ConfigIssue[] = [];
  const config = syslogReceiverSchema.parse(raw, 'receivers.syslog', issues);
  expect(issues).toEqual([]);
  const metrics = new SelfMetrics();
  receiver = new SyslogReceiver(
    { id: 'syslog', logger: createLogger('silent'), metrics, dataDir: '/nonexistent' },
    config!,
    consumer,
  );
  await receiver.start();
  return { receiver, metrics };
}

async function metricValue(metrics: SelfMetrics, name: string, labels: Record<string, string>): Promise<number> {
  const m = metrics.registry.getSingleMetric(name);
  if (!m) return 0;
  const v = (await m.get()).values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return v?.value ?? 0;
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

describe('syslog listeners: limits and back-pressure', () => {
  it('TCP stops reading while the pipeline refuses, so the sender waits; nothing is lost or reordered', async () => {
    const consumer = new SwitchableConsumer<VigilEvent>();
    const { receiver: r, metrics } = await startReceiver({ tcp: { endpoint: '127.0.0.1:0' } }, consumer);
    consumer.full = true;
    const s = await open(r.addresses.tcp!.port);
    const filler = 'f'.repeat(4000);
    const total = 8000; // ~32 MB: more than the loopback socket buffers hold
    let payload = '';
    for (let i = 0; i < total; i++) payload += `<13>Nov 23 10:00:00 h app: ${i} ${filler}\n`;
    s.write(payload);
    await waitFor(() => consumer.refusals >= 4, 'the pipeline to refuse a few retries');
    expect(consumer.accepted).toEqual([]);
    // The receiver is not reading: the sender's own buffer holds what the kernel could not take.
    expect(s.writableLength).toBeGreaterThan(0);
    expect(
      await metricValue(metrics, 'vigil_syslog_backpressure_pauses_total', { transport: 'tcp' }),
    ).toBeGreaterThanOrEqual(1);

    consumer.full = false;
    await waitFor(() => consumer.accepted.length === total, 'every message once the pipeline has room');
    expect(consumer.accepted.map((e) => Number((e.body as string).split(' ')[0]))).toEqual(
      Array.from({ length: total }, (_, i) => i),
    );
    expect(await metricValue(metrics, 'vigil_syslog_dropped_messages_total', {})).toBe(0);
    s.destroy();
  });

  it('TCP through a queue that fills and drains over and over delivers everything, in order', async () => {
    // Like the pipeline: accepts while there is room, refuses otherwise, and drains on a timer.
    // Its capacity is below what one 64 KiB read holds, so a held batch must be offered in slices.
    const accepted: VigilEvent[] = [];
    let queued = 0;
    let refusals = 0;
    const queue: Consumer<VigilEvent> = {
      consume(batch) {
        if (queued + batch.length > 2000) {
          refusals++;
          return Promise.reject(new QueueFullError('logs', 2000));
        }
        queued += batch.length;
        for (const e of batch) accepted.push(e);
        return Promise.resolve();
      },
    };
    const drain = setInterval(() => (queued = Math.max(0, queued - 1500)), 2);
    try {
      const { receiver: r } = await startReceiver({ tcp: { endpoint: '127.0.0.1:0' } }, queue);
      const total = 60_000;
      const s = await open(r.addresses.tcp!.port);
      let payload = '';
      for (let i = 0; i < total; i++) payload += `<13>Nov 23 10:00:00 h app: ${i}\n`;
      s.end(payload);
      await waitFor(() => accepted.length === total, 'every message through the filling queue', 20_000);
      expect(refusals).toBeGreaterThan(1);
      expect(accepted.map((e) => Number(e.body))).toEqual(Array.from({ length: total }, (_, i) => i));
    } finally {
      clearInterval(drain);
    }
  });

  it('UDP: datagrams the pipeline has no room for wait and are taken once it has room, none lost', async () => {
    const consumer = new SwitchableConsumer<VigilEvent>();
    const { receiver: r, metrics } = await startReceiver({ udp: { endpoint: '127.0.0.1:0' } }, consumer);
    const client = createSocket('udp4');
    const send = (msg: string) =>
      new Promise<void>((res, rej) =>
        client.send(msg, r.addresses.udp!.port, '127.0.0.1', (err) => (err ? rej(err) : res())),
      );
    consumer.full = true;
    for (let i = 0; i < 10; i++) await send(`<13>Nov 23 10:00:00 h app: waited ${i}`);
    // Asked again, still full: the datagrams wait.
    await waitFor(() => consumer.refusals >= 3, 'the pipeline asked again');
    expect(consumer.accepted).toEqual([]);
    expect(
      await metricValue(metrics, 'vigil_syslog_backpressure_pauses_total', { receiver: 'syslog', transport: 'udp' }),
    ).toBeGreaterThanOrEqual(1);
    consumer.full = false;
    await waitFor(() => consumer.accepted.length === 10, 'the 10 that waited');
    expect(new Set(consumer.accepted.map((e) => e.body))).toEqual(
      new Set(Array.from({ length: 10 }, (_, i) => `waited ${i}`)),
    );
    expect(await metricValue(metrics, 'vigil_syslog_dropped_messages_total', { transport: 'udp' })).toBe(0);
    client.close();
  });

  it('UDP over IPv6', async () => {
    const consumer = new SwitchableConsumer<VigilEvent>();
    const { receiver: r } = await startReceiver({ udp: { endpoint: '[::1]:0' } }, consumer);
    const client = createSocket('udp6');
    await new Promise<void>((res, rej) =>
      client.send('<14>1 - v6host app - - - over v6', r.addresses.udp!.port, '::1', (err) => (err ? rej(err) : res())),
    );
    await waitFor(() => consumer.accepted.length === 1, 'the IPv6 datagram');
    expect(consumer.accepted[0]).toMatchObject({
      body: 'over v6',
      asset: 'v6host',
      attributes: { 'network.peer.address': '::1' },
    });
    client.close();
  });

  it('closes connections over max_connections on accept and counts them; the others keep working', async () => {
    const consumer = new SwitchableConsumer<VigilEvent>();
    const { receiver: r, metrics } = await startReceiver(
      { tcp: { endpoint: '127.0.0.1:0', max_connections: 2, max_connections_per_peer: 2 } },
      consumer,
    );
    const port = r.addresses.tcp!.port;
    const a = await open(port);
    const b = await open(port);
    await waitFor(
      async () => (await metricValue(metrics, 'vigil_syslog_connections', { transport: 'tcp' })) === 2,
      'two open connections',
    );
    const c = await open(port);
    await new Promise((res) => c.once('close', res));
    expect(
      await metricValue(metrics, 'vigil_syslog_connections_rejected_total', { transport: 'tcp', reason: 'limit' }),
    ).toBe(1);
    a.write('<13>Nov 23 10:00:00 h app: from a\n');
    b.write('<13>Nov 23 10:00:00 h app: from b\n');
    await waitFor(() => consumer.accepted.length === 2, 'both messages');
    a.destroy();
    await waitFor(
      async () => (await metricValue(metrics, 'vigil_syslog_connections', { transport: 'tcp' })) === 1,
      'a slot to free up',
    );
    const d = await open(port);
    d.write('<13>Nov 23 10:00:00 h app: from d\n');
    await waitFor(() => consumer.accepted.length === 3, 'the message on the freed slot');
    b.destroy();
    d.destroy();
  });

  it('closes a connection idle past idle_timeout, after delivering what it sent', async () => {
    const consumer = new SwitchableConsumer<VigilEvent>();
    const { receiver: r, metrics } = await startReceiver(
      { tcp: { endpoint: '127.0.0.1:0', idle_timeout: '150ms' } },
      consumer,
    );
    const s = await open(r.addresses.tcp!.port);
    s.write('<13>Nov 23 10:00:00 h app: then silence\n');
    await new Promise((res) => s.once('close', res));
    expect(consumer.accepted.map((e) => e.body)).toEqual(['then silence']);
    expect(
      await metricValue(metrics, 'vigil_syslog_connections_closed_total', { transport: 'tcp', reason: 'idle' }),
    ).toBe(1);
  });

  it('delivers the last line of a connection that ends without a newline', async () => {
    const consumer = new SwitchableConsumer<VigilEvent>();
    const { receiver: r } = await startReceiver({ tcp: { endpoint: '127.0.0.1:0' } }, consumer);
    const s = await open(r.addresses.tcp!.port);
    s.end('<13>Nov 23 10:00:00 h app: one\n<13>Nov 23 10:00:00 h app: two');
    await waitFor(() => consumer.accepted.length === 2, 'both lines');
    expect(consumer.accepted.map((e) => e.body)).toEqual(['one', 'two']);
  });

  it('fails to start with the listener and the reason when a port is taken or a TLS file is missing', async () => {
    const consumer = new SwitchableConsumer<VigilEvent>();
    const { receiver: first } = await startReceiver({ tcp: { endpoint: '127.0.0.1:0' } }, consumer);
    const taken = first.addresses.tcp!.port;
    const issues: ConfigIssue[] = [];
    const settings = {
      id: 'syslog/b',
      logger: createLogger('silent'),
      metrics: new SelfMetrics(),
      dataDir: '/nonexistent',
    };
    const clash = new SyslogReceiver(
      settings,
      syslogReceiverSchema.parse({ tcp: { endpoint: `127.0.0.1:${taken}` } }, '', issues)!,
      consumer,
    );
    await expect(clash.start()).rejects.toThrow(`receivers.syslog/b.tcp (127.0.0.1:${taken}): listen EADDRINUSE`);
    const noCert = new SyslogReceiver(
      settings,
      syslogReceiverSchema.parse(
        { tls: { endpoint: '127.0.0.1:0', cert_file: '/nonexistent/cert.pem', key_file: '/nonexistent/key.pem' } },
        '',
        issues,
      )!,
      consumer,
    );
    await expect(noCert.start()).rejects.toThrow(
      /receivers\.syslog\/b\.tls \(127\.0\.0\.1:0\): ENOENT.*check cert_file, key_file and client_ca_file/,
    );
    expect(issues).toEqual([]);
  });

  it('names the config path at fault', () => {
    const issues: ConfigIssue[] = [];
    syslogReceiverSchema.parse(
      { location: 'Mars/Olympus', tcp: { max_message_size: '10B' } },
      'receivers.syslog',
      issues,
    );
    expect(issues.map((i) => i.path).sort()).toEqual([
      'receivers.syslog.location',
      'receivers.syslog.tcp.max_message_size',
    ]);
    const zone: ConfigIssue[] = [];
    syslogReceiverSchema.parse({ location: 'Mars/Olympus', udp: {} }, 'receivers.syslog', zone);
    expect(zone).toEqual([
      { path: 'receivers.syslog.location', message: expect.stringMatching(/unknown time zone "Mars\/Olympus"/) },
    ]);
    const none: ConfigIssue[] = [];
    syslogReceiverSchema.parse({}, 'receivers.syslog', none);
    expect(none[0]!.message).toMatch(/needs at least one of udp, tcp, tls/);
  });
});
