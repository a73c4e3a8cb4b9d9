import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startDaemon, type RunningDaemon } from '../../support/daemon.ts';
import { readNdjson } from '../../support/ndjson.ts';
import { makeTestPki, type TestPki } from './tlsCerts.ts';

interface StoredEvent {
  body: string;
  title: string;
  severityNumber: number;
  severityText: string;
  asset: string;
  service: string;
  timeUnixNano: string;
  resource: Record<string, unknown>;
  attributes: Record<string, unknown>;
}

type Address = { host: string; port: number };

let pki: TestPki;
let daemon: RunningDaemon | undefined;
let rsyslog: ChildProcess | undefined;

beforeAll(() => {
  pki = makeTestPki();
});
afterEach(async () => {
  if (rsyslog && rsyslog.exitCode === null) {
    rsyslog.kill('SIGTERM');
    await new Promise((r) => rsyslog!.once('exit', r));
  }
  rsyslog = undefined;
  await daemon?.stop('SIGKILL');
  daemon = undefined;
});

function config(attributeNames?: string): string {
  return `
receivers:
  syslog:
    location: UTC${attributeNames ? `\n    attribute_names: ${attributeNames}` : ''}
    udp: { endpoint: 127.0.0.1:0 }
    tcp: { endpoint: 127.0.0.1:0, max_message_size: 2KiB }
    tls:
      endpoint: 127.0.0.1:0
      cert_file: ${pki.serverCert}
      key_file: ${pki.serverKey}
      client_ca_file: ${pki.caCert}
exporters:
  file/events: { path: events.ndjson }
service:
  pipelines:
    logs: { receivers: [syslog], exporters: [file/events] }
  telemetry:
    metrics: { endpoint: 127.0.0.1:0 }
    logs: { level: info }
`;
}

function syslogAddresses(d: RunningDaemon): { udp: Address; tcp: Address; tls: Address } {
  for (const line of d.logs) {
    if (!line.includes('syslog receiver listening')) continue;
    return (JSON.parse(line) as { syslog: { udp: Address; tcp: Address; tls: Address } }).syslog;
  }
  throw new Error('the daemon did not log its syslog addresses');
}

/** Polls the file exporter's output until `count` events are there (delivery is asynchronous). */
async function eventsWhen(d: RunningDaemon, count: number, timeoutMs = 15_000): Promise<StoredEvent[]> {
  const file = join(d.dataDir, 'events.ndjson');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const events = readNdjson<StoredEvent>(file);
    if (events.length >= count || Date.now() > deadline) return events;
    await new Promise((r) => setTimeout(r, 50));
  }
}

function logger(args: string[]): void {
  execFileSync('logger', args, { stdio: 'pipe' });
}

const byBody = (events: StoredEvent[], body: string) => {
  const found = events.filter((e) => e.body === body);
  expect(found, `one event with body ${JSON.stringify(body)}`).toHaveLength(1);
  return found[0]!;
};

const host = hostname();

describe('syslog receiver in the running daemon', () => {
  it('takes util-linux logger over UDP and TCP, RFC 5424 and RFC 3164, with and without octet counting', async () => {
    daemon = await startDaemon(config());
    const { udp, tcp } = syslogAddresses(daemon);
    const sends: [string, string[]][] = [
      [
        'udp-5424',
        [
          '--udp',
          '--port',
          String(udp.port),
          '--rfc5424',
          '--msgid',
          'DEPLOY',
          '--sd-id',
          'release@32473',
          '--sd-param',
          'version="4.2"',
          '--sd-param',
          'by="ci \\"bot\\""',
        ],
      ],
      ['udp-3164', ['--udp', '--port', String(udp.port), '--rfc3164']],
      ['tcp-5424-octet', ['--tcp', '--port', String(tcp.port), '--rfc5424', '--octet-count', '--msgid', 'DEPLOY']],
      ['tcp-5424-lf', ['--tcp', '--port', String(tcp.port), '--rfc5424']],
      ['tcp-3164-octet', ['--tcp', '--port', String(tcp.port), '--rfc3164', '--octet-count']],
      ['tcp-3164-lf', ['--tcp', '--port', String(tcp.port), '--rfc3164']],
    ];
    for (const [name, args] of sends)
      logger([
        '--server',
        '127.0.0.1',
        ...args,
        '-t',
        `app-${name}`,
        '--id=4242',
        '-p',
        'local3.err',
        `hello from ${name}`,
      ]);

    const events = await eventsWhen(daemon, sends.length);
    expect(events).toHaveLength(sends.length);
    const before = BigInt(Date.now() - 60_000) * 1_000_000n;
    for (const [name] of sends) {
      const ev = byBody(events, `hello from ${name}`);
      expect(ev, name).toMatchObject({
        severityNumber: 17,
        severityText: 'err',
        service: `app-${name}`,
        asset: expect.stringMatching(new RegExp(`^${host.split('.')[0]}`)),
        attributes: {
          'syslog.format': name.includes('5424') ? 'rfc5424' : 'rfc3164',
          'syslog.facility.name': 'local3',
          'syslog.procid': '4242',
          'network.transport': name.startsWith('udp') ? 'udp' : 'tcp',
        },
      });
      expect(BigInt(ev.timeUnixNano), name).toBeGreaterThan(before);
    }
    expect(byBody(events, 'hello from udp-5424').attributes).toMatchObject({
      'syslog.msgid': 'DEPLOY',
      'syslog.sd.release@32473.version': '4.2',
      'syslog.sd.release@32473.by': 'ci "bot"',
    });
    expect(byBody(events, 'hello from tcp-5424-octet').attributes).toMatchObject({ 'syslog.msgid': 'DEPLOY' });
  });

  it('takes rsyslog forwarding over TCP with octet counting and over TLS with a client certificate', async () => {
    daemon = await startDaemon(config());
    const { tcp, tls } = syslogAddresses(daemon);
    const dir = mkdtempSync(join(tmpdir(), 'vigil-rsyslog-'));
    const socket = join(dir, 'log.sock');
    writeFileSync(
      join(dir, 'rsyslog.conf'),
      `
global(workDirectory="${dir}"
       DefaultNetstreamDriverCAFile="${pki.caCert}"
       DefaultNetstreamDriverCertFile="${pki.clientCert}"
       DefaultNetstreamDriverKeyFile="${pki.clientKey}")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="${socket}" CreatePath="on")
action(type="omfwd" target="127.0.0.1" port="${tcp.port}" protocol="tcp" TCP_Framing="octet-counted"
       template="RSYSLOG_SyslogProtocol23Format")
action(type="omfwd" target="127.0.0.1" port="${tls.port}" protocol="tcp" template="RSYSLOG_ForwardFormat"
       StreamDriver="gtls" StreamDriverMode="1" StreamDriverAuthMode="x509/name" StreamDriverPermittedPeers="localhost")
`,
    );
    rsyslog = spawn('rsyslogd', ['-n', '-f', join(dir, 'rsyslog.conf'), '-i', join(dir, 'rsyslogd.pid')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let rsyslogOut = '';
    rsyslog.stderr!.on('data', (d: Buffer) => (rsyslogOut += d.toString()));
    rsyslog.stdout!.on('data', (d: Buffer) => (rsyslogOut += d.toString()));
    // rsyslogd creates the socket once its inputs run.
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        readFileSync(join(dir, 'rsyslogd.pid'));
        logger(['-u', socket, '--socket-errors=on', '-t', 'probe', 'probe']);
        break;
      } catch (err) {
        if (Date.now() > deadline)
          throw new Error(`rsyslogd did not start: ${(err as Error).message}\n${rsyslogOut}`, { cause: err });
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    logger(['-u', socket, '-t', 'billing', '--id=777', '-p', 'auth.warning', 'card declined for order 1234']);
    logger(['-u', socket, '-t', 'billing', '--id=777', '-p', 'daemon.crit', 'payment failed\nstack trace']);

    // Each message reaches Vigil twice, once per forwarding action (the probe included).
    const events = await eventsWhen(daemon, 6);
    // rsyslog's %msg% keeps the space that followed "billing[777]:"; RFC 5424 makes it part of MSG.
    const declined = events.filter((e) => e.body.trim() === 'card declined for order 1234');
    expect(declined.map((e) => e.attributes['syslog.format']).sort(), rsyslogOut).toEqual(['rfc3164', 'rfc5424']);
    for (const ev of declined) {
      expect(ev).toMatchObject({
        severityText: 'warning',
        severityNumber: 13,
        service: 'billing',
        asset: host,
        resource: { 'host.name': host },
        attributes: { 'syslog.facility.name': 'auth', 'syslog.procid': '777', 'network.transport': 'tcp' },
      });
    }
    // imuxsock escapes control characters on receipt, so the newline travels as #012 both ways.
    const crit = events.filter((e) => e.severityText === 'crit');
    expect(crit.map((e) => e.body.trim())).toEqual(['payment failed#012stack trace', 'payment failed#012stack trace']);
    const metrics = await (await fetch(daemon.adminUrl('/metrics'))).text();
    // One copy of each of the three over each transport.
    for (const transport of ['tcp', 'tls'])
      expect(metrics).toContain(
        `vigil_receiver_accepted_records_total{receiver="syslog",signal="logs",transport="${transport}"} 3\n`,
      );
    expect(metrics).not.toMatch(/^vigil_syslog_parse_errors_total\{.*\} [1-9]/m);
  });

  it('keeps malformed lines as raw events, counts them and loses no good neighbour', async () => {
    daemon = await startDaemon(config());
    const { tcp, udp } = syslogAddresses(daemon);
    const huge = `<13>Nov 23 10:00:00 h big: ${'x'.repeat(5000)}`;
    const stream = [
      '<13>Nov 23 10:00:00 h app: good 1',
      'no pri at all',
      '<13>1 2026-11-23T10:00:00Z h app - - [unterminated sd',
      '\u0001\u0002binary\uFFFD',
      huge,
      '<999>bad pri',
      '<13>Nov 23 10:00:01 h app: good 2',
    ];
    await new Promise<void>((resolve, reject) => {
      const s = netConnect(tcp.port, '127.0.0.1', () => {
        const bytes = Buffer.from(stream.join('\n') + '\n');
        // Dribbled in small segments, so frames split across reads.
        let at = 0;
        const tick = () => {
          if (at >= bytes.length) return s.end();
          s.write(bytes.subarray(at, at + 37));
          at += 37;
          setImmediate(tick);
        };
        tick();
      });
      s.on('close', () => resolve());
      s.on('error', reject);
    });
    execFileSync('logger', [
      '--server',
      '127.0.0.1',
      '--port',
      String(udp.port),
      '--udp',
      '--rfc3164',
      '-t',
      'after',
      'udp still fine',
    ]);
    const events = await eventsWhen(daemon, stream.length + 1);
    expect(events.map((e) => e.body)).toEqual([
      'good 1',
      'no pri at all',
      '<13>1 2026-11-23T10:00:00Z h app - - [unterminated sd',
      '\u0001\u0002binary\uFFFD',
      huge.slice(huge.indexOf('x'), 2048),
      '<999>bad pri',
      'good 2',
      'udp still fine',
    ]);
    expect(events.map((e) => e.attributes['syslog.parse_error'] ?? null)).toEqual([
      null,
      expect.stringMatching(/no PRI/),
      expect.stringMatching(/RFC 5424 structured data/),
      expect.stringMatching(/no PRI/),
      null,
      expect.stringMatching(/invalid PRI/),
      null,
      null,
    ]);
    expect(events[4]!.attributes['syslog.truncated']).toBe(true);
    const metrics = await (await fetch(daemon.adminUrl('/metrics'))).text();
    expect(metrics).toMatch(/^vigil_syslog_parse_errors_total\{receiver="syslog",transport="tcp"\} 4$/m);
    expect(metrics).toMatch(/^vigil_syslog_truncated_messages_total\{receiver="syslog",transport="tcp"\} 1$/m);
    expect(daemon.logs.some((l) => l.includes('syslog message could not be parsed'))).toBe(true);
    expect(daemon.proc.exitCode).toBeNull();
  });

  it('stops cleanly on SIGTERM with a connection open, delivering its unterminated last line', async () => {
    daemon = await startDaemon(config());
    const { tcp } = syslogAddresses(daemon);
    const s = await new Promise<ReturnType<typeof netConnect>>((resolve, reject) => {
      const sock = netConnect(tcp.port, '127.0.0.1', () => resolve(sock));
      sock.once('error', reject);
    });
    s.on('error', () => undefined);
    s.write('<13>Nov 23 10:00:00 h app: complete\n<13>Nov 23 10:00:01 h app: no newline yet');
    await eventsWhen(daemon, 1);
    expect(await daemon.stop('SIGTERM')).toBe(0);
    expect(readNdjson<StoredEvent>(join(daemon.dataDir, 'events.ndjson')).map((e) => e.body)).toEqual([
      'complete',
      'no newline yet',
    ]);
  });

  it('refuses a TLS client without a certificate when client_ca_file is set, and counts it', async () => {
    daemon = await startDaemon(config());
    const { tls } = syslogAddresses(daemon);
    const failure = await new Promise<string>((resolve) => {
      const s = tlsConnect(
        { host: '127.0.0.1', port: tls.port, ca: readFileSync(pki.caCert), servername: 'localhost' },
        () => {
          s.write('<13>Nov 23 10:00:00 h app: should not arrive\n');
        },
      );
      s.on('error', (err) => resolve(err.message));
      s.on('close', () => resolve('closed'));
    });
    expect(failure).toMatch(/certificate|alert|closed|socket hang up|ECONNRESET/i);
    const metrics = await (await fetch(daemon.adminUrl('/metrics'))).text();
    expect(metrics).toMatch(
      /^vigil_syslog_connections_rejected_total\{receiver="syslog",transport="tls",reason="tls"\} 1$/m,
    );
    expect(readNdjson(join(daemon.dataDir, 'events.ndjson'))).toEqual([]);
  });
});

/** Sends with util-linux logger: RFC 5424 with a msgid and structured data over TCP (octet counting), RFC 3164 over UDP. */
async function sendBoth(addr: { udp: Address; tcp: Address }): Promise<StoredEvent[]> {
  execFileSync('logger', [
    '--server',
    '127.0.0.1',
    '--tcp',
    '--port',
    String(addr.tcp.port),
    '--rfc5424',
    '--octet-count',
    '--msgid',
    'DEPLOY',
    '--sd-id',
    'release@32473',
    '--sd-param',
    'version="4.2"',
    '-t',
    'deployer',
    '--id=4242',
    '-p',
    'local3.err',
    'rollout started',
  ]);
  execFileSync('logger', [
    '--server',
    '127.0.0.1',
    '--udp',
    '--port',
    String(addr.udp.port),
    '--rfc3164',
    '-t',
    'cron',
    '--id=77',
    '-p',
    'auth.warning',
    'job finished',
  ]);
  return eventsWhen(daemon!, 2);
}

const COLLECTOR_NAMES = [
  'appname',
  'hostname',
  'proc_id',
  'msg_id',
  'message',
  'priority',
  'facility',
  'version',
  'structured_data',
];
const VIGIL_NAMES = [
  'syslog.appname',
  'syslog.procid',
  'syslog.msgid',
  'syslog.priority',
  'syslog.facility',
  'syslog.version',
];

describe('syslog UDP into a pipeline with a small queue', () => {
  it('survives bursts larger than the whole queue and stores every datagram of them', async () => {
    // queue_size 50: the reader hands over up to 1,024 datagrams at once, more than the queue
    // ever holds; the listener offers them in pieces and lets them wait while it is full.
    daemon = await startDaemon(`
receivers:
  syslog: { location: UTC, udp: { endpoint: 127.0.0.1:0 } }
exporters:
  file/events: { path: events.ndjson }
service:
  pipelines:
    logs: { receivers: [syslog], exporters: [file/events], queue_size: 50 }
  telemetry:
    metrics: { endpoint: 127.0.0.1:0 }
    logs: { level: info }
`);
    const { udp } = syslogAddresses(daemon);
    const client = createSocket('udp4');
    const total = 3_000;
    try {
      // Bursts of 500 without waiting in between, so that batches form larger than the queue.
      for (let from = 0; from < total; from += 500)
        await Promise.all(
          Array.from(
            { length: 500 },
            (_, i) =>
              new Promise<void>((res, rej) =>
                client.send(`<14>1 - burst app - - - datagram ${from + i}`, udp.port, '127.0.0.1', (err) =>
                  err ? rej(err) : res(),
                ),
              ),
          ),
        );
    } finally {
      client.close();
    }
    const events = await eventsWhen(daemon, total);
    expect(new Set(events.map((e) => e.body))).toEqual(
      new Set(Array.from({ length: total }, (_, i) => `datagram ${i}`)),
    );
    expect(daemon.proc.exitCode).toBeNull();
    expect((await fetch(daemon.adminUrl('/healthz'))).ok).toBe(true);
  });
});

describe('syslog receiver: attribute_names', () => {
  it("names the fields the Collector's syslog receiver way with `collector`: the line as body, structured data as a map", async () => {
    daemon = await startDaemon(config('collector'));
    const events = await sendBoth(syslogAddresses(daemon));
    const rfc5424 = events.find((e) => e.attributes.message === 'rollout started')!;
    expect(rfc5424.body).toMatch(
      /^<155>1 \S+ \S+ deployer 4242 DEPLOY \[.*release@32473 version="4\.2".*\] rollout started$/,
    );
    expect(rfc5424).toMatchObject({ title: 'rollout started', service: 'deployer', severityText: 'err' });
    expect(rfc5424.attributes).toMatchObject({
      appname: 'deployer',
      proc_id: '4242',
      msg_id: 'DEPLOY',
      priority: 155,
      facility: 19,
      version: 1,
      hostname: expect.any(String),
    });
    expect(rfc5424.attributes.structured_data).toMatchObject({ 'release@32473': { version: '4.2' } });

    const rfc3164 = events.find((e) => e.attributes.message === 'job finished')!;
    expect(rfc3164.body).toMatch(/^<36>\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ cron\[77\]: job finished$/);
    expect(rfc3164.attributes).toMatchObject({
      appname: 'cron',
      proc_id: '77',
      priority: 36,
      facility: 4,
      hostname: expect.any(String),
    });
    for (const name of ['msg_id', 'version', 'structured_data'])
      expect(rfc3164.attributes, name).not.toHaveProperty([name]);

    for (const e of events)
      for (const name of [...VIGIL_NAMES, 'syslog.sd.release@32473.version'])
        expect(e.attributes, name).not.toHaveProperty([name]);
  });

  it("keeps Vigil's names by default: syslog.*, flat structured data, the message as body", async () => {
    daemon = await startDaemon(config());
    const events = await sendBoth(syslogAddresses(daemon));
    const rfc5424 = events.find((e) => e.body === 'rollout started')!;
    expect(rfc5424.attributes).toMatchObject({
      'syslog.appname': 'deployer',
      'syslog.procid': '4242',
      'syslog.msgid': 'DEPLOY',
      'syslog.priority': 155,
      'syslog.facility': 19,
      'syslog.version': 1,
      'syslog.sd.release@32473.version': '4.2',
    });
    const rfc3164 = events.find((e) => e.body === 'job finished')!;
    expect(rfc3164.attributes).toMatchObject({
      'syslog.appname': 'cron',
      'syslog.procid': '77',
      'syslog.priority': 36,
    });
    for (const e of events) for (const name of COLLECTOR_NAMES) expect(e.attributes, name).not.toHaveProperty([name]);
  });

  it('is set in config/examples/collector-compatible.yaml, which is valid', async () => {
    const { code, stdout } = await runCli(['validate', '--config', 'config/examples/collector-compatible.yaml']);
    expect(stdout).toContain('configuration is valid');
    expect(code).toBe(0);
  });
});
