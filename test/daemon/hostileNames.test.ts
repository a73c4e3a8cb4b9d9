import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { protoType } from '../support/otlpProtos.ts';
import { startDaemon, type RunningDaemon } from '../support/daemon.ts';
import { readNdjson } from '../support/ndjson.ts';
import { waitFor } from '../support/waitFor.ts';

/** Names that mean something to a plain JavaScript object: from the wire they are only data. */
const HOSTILE = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'valueOf',
  '__defineGetter__',
] as const;

const config = `
receivers:
  json: { endpoint: 127.0.0.1:0 }
  syslog:
    udp: { endpoint: 127.0.0.1:0 }
    tcp: { endpoint: 127.0.0.1:0 }
  otlp:
    protocols:
      http: { endpoint: 127.0.0.1:0 }
exporters:
  file/events: { path: events.ndjson }
  correlation: {}
  file/incidents: { path: incidents.ndjson }
correlation:
  defaults: { group_wait: 0s }
  rules:
    - kind: pair
      name: down_by_name
      group_by: [asset, 'kind=attributes["constructor"]']
service:
  pipelines:
    logs: { receivers: [json, syslog, otlp], exporters: [file/events, correlation] }
    incidents: { exporters: [file/incidents] }
  telemetry:
    metrics: { endpoint: 127.0.0.1:0 }
    logs: { level: info }
`;

interface Stored {
  asset: string;
  source: string;
  body: unknown;
  attributes: Record<string, unknown>;
  resource: Record<string, unknown>;
}

type Address = { host: string; port: number };

let daemon: RunningDaemon | undefined;
afterEach(async () => {
  await daemon?.stop('SIGKILL');
  daemon = undefined;
});

function logged<T>(d: RunningDaemon, msg: string, pick: (rec: Record<string, unknown>) => T): T {
  for (const line of d.logs) {
    if (!line.includes(msg)) continue;
    return pick(JSON.parse(line) as Record<string, unknown>);
  }
  throw new Error(`the daemon did not log "${msg}"`);
}

async function sendUdp(to: Address, lines: string[]): Promise<void> {
  const sock = createSocket('udp4');
  for (const l of lines)
    await new Promise<void>((res, rej) => sock.send(l, to.port, to.host, (err) => (err ? rej(err) : res())));
  sock.close();
}

async function sendTcp(to: Address, lines: string[]): Promise<void> {
  await new Promise<void>((res, rej) => {
    const s = connect(to.port, to.host, () => s.end(lines.map((l) => `${l}\n`).join('')));
    s.on('close', () => res());
    s.on('error', rej);
  });
}

/** The daemon still answers its admin port, and its metrics render (a polluted prototype breaks prom-client first). */
async function stillServing(d: RunningDaemon): Promise<void> {
  expect(d.proc.exitCode).toBeNull();
  expect((await fetch(d.adminUrl('/healthz'))).status).toBe(200);
  const metrics = await fetch(d.adminUrl('/metrics'));
  expect(metrics.status).toBe(200);
  expect(await metrics.text()).toContain('vigil_receiver_accepted');
}

describe('names from the wire are data, never object internals', () => {
  it('keeps the daemon alive and stores every hostile name as a plain key, through every receiver', async () => {
    daemon = await startDaemon(config);
    const syslog = logged(daemon, 'syslog receiver listening', (r) => r.syslog as { udp: Address; tcp: Address });
    const otlpHttp = daemon.url('');

    // Syslog: hostile SD-IDs and parameter names, over UDP and TCP (the 38-byte datagram first).
    const sd = (transport: string) => HOSTILE.map((n) => `<13>1 - ${transport}-${n} app - - [${n} ${n}="1"] hostile`);
    await sendUdp(syslog.udp, ['<13>1 - h a - - [__proto__ x="1"] m', ...sd('udp')]);
    await sendTcp(syslog.tcp, sd('tcp'));

    // JSON events: hostile top-level keys (kept as attributes, with the same value as the
    // "constructor" attribute the rule groups by) and keys inside attributes and resource.
    const jsonEvents = HOSTILE.map((n) => ({
      asset: `json-${n}`,
      type: 'down',
      [n]: n,
      attributes: { [n]: 'attr', constructor: n },
      resource: { [n]: 'res' },
    }));
    const jsonBody = JSON.stringify(jsonEvents);
    // A "__proto__" key in a literal would set the prototype, not a key; this one is written by hand.
    const protoJson =
      '{"asset":"json-raw","type":"down","__proto__":{"polluted":"yes"},"attributes":{"__proto__":{"polluted":"yes"},"constructor":"raw"}}';
    const jsonRes = await fetch(daemon.url('/v1/events'), {
      method: 'POST',
      body: `${jsonBody.slice(0, -1)},${protoJson}]`,
      headers: { 'content-type': 'application/json' },
    });
    expect(jsonRes.status).toBe(200);
    expect(await jsonRes.json()).toEqual({ accepted: HOSTILE.length + 1, rejected: [] });

    // OTLP/HTTP JSON and protobuf: hostile attribute keys, also inside kvlist values.
    const kv = (prefix: string) => HOSTILE.map((n) => ({ key: n, value: { stringValue: `${prefix}-${n}` } }));
    const otlpLogs = (transport: string) => ({
      resourceLogs: [
        {
          resource: { attributes: [{ key: 'host.name', value: { stringValue: `otlp-${transport}` } }, ...kv('res')] },
          scopeLogs: [
            {
              logRecords: [
                {
                  body: { stringValue: 'hostile' },
                  attributes: [...kv('attr'), { key: 'nested', value: { kvlistValue: { values: kv('nested') } } }],
                },
              ],
            },
          ],
        },
      ],
    });
    const jsonOtlp = await fetch(`${otlpHttp}/v1/logs`, {
      method: 'POST',
      body: JSON.stringify(otlpLogs('json')),
      headers: { 'content-type': 'application/json' },
    });
    expect(jsonOtlp.status).toBe(200);
    const T = protoType('opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest');
    const proto = Buffer.from(T.encode(T.fromObject(otlpLogs('proto'))).finish());
    const protoOtlp = await fetch(`${otlpHttp}/v1/logs`, {
      method: 'POST',
      body: proto,
      headers: { 'content-type': 'application/x-protobuf' },
    });
    expect(protoOtlp.status).toBe(200);

    const file = join(daemon.dataDir, 'events.ndjson');
    const expected = HOSTILE.length * 2 + 1 + HOSTILE.length + 1 + 2;
    await waitFor(() => readNdjson<Stored>(file).length >= expected, `${expected} stored events`);
    const events = readNdjson<Stored>(file);
    await stillServing(daemon);
    expect(events).toHaveLength(expected);
    const byAsset = new Map(events.map((e) => [e.asset, e]));

    const first = byAsset.get('h')!;
    expect(first.attributes['syslog.sd.__proto__.x']).toBe('1');
    for (const n of HOSTILE) {
      for (const t of ['udp', 'tcp']) expect(byAsset.get(`${t}-${n}`)?.attributes[`syslog.sd.${n}.${n}`]).toBe('1');
      const j = byAsset.get(`json-${n}`)!;
      expect(Object.hasOwn(j.attributes, n)).toBe(true);
      expect(j.resource[n]).toBe('res');
      for (const t of ['json', 'proto']) {
        const o = byAsset.get(`otlp-${t}`)!;
        expect(o.attributes[n]).toBe(`attr-${n}`);
        expect(o.resource[n]).toBe(`res-${n}`);
        expect((o.attributes.nested as Record<string, unknown>)[n]).toBe(`nested-${n}`);
      }
    }
    const raw = byAsset.get('json-raw')!;
    expect(raw.attributes.__proto__).toEqual({ polluted: 'yes' });
    expect(raw.attributes.constructor).toBe('raw');
    expect(Object.keys(raw.attributes).sort()).toEqual(['__proto__', 'constructor']);

    // Grouping by attributes["constructor"] sees the event's value, never Object's constructor function.
    const opened = () =>
      readNdjson<{ kind: string; incident: { key: string } }>(join(daemon!.dataDir, 'incidents.ndjson')).filter(
        (c) => c.kind === 'opened',
      );
    await waitFor(() => opened().length >= HOSTILE.length + 1, 'the incidents grouped by attributes["constructor"]');
    const incidents = opened();
    expect(new Set(incidents.map((c) => c.incident.key))).toEqual(
      new Set([
        ...HOSTILE.map((n) => `down_by_name{asset="json-${n}",kind="${n}"}`),
        'down_by_name{asset="json-raw",kind="raw"}',
      ]),
    );
    await stillServing(daemon);
  });
});
