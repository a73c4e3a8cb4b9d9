import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startDaemon, type RunningDaemon } from '../support/daemon.ts';
import { readNdjson } from '../support/ndjson.ts';
import { waitFor } from '../support/waitFor.ts';
import { sendDatagram, V2C_COLD_START } from './snmp/datagrams.ts';

/** Every receiver without authentication, each configured with a tenant of its own; json, OTLP/HTTP and alertmanager share one listener. */
const config = `
receivers:
  syslog: { tenant: site-syslog, udp: { endpoint: 127.0.0.1:0 } }
  snmp_trap: { tenant: site-snmp, endpoint: 127.0.0.1:0, communities: [public] }
  json: { tenant: site-json, endpoint: 127.0.0.1:0 }
  otlp: { tenant: site-otlp, protocols: { http: { endpoint: 127.0.0.1:0 } } }
  alertmanager: { tenant: site-am, endpoint: 127.0.0.1:0 }
  json/untenanted: { endpoint: 127.0.0.1:0, paths: [/plain] }
exporters:
  file/events: { path: events.ndjson }
service:
  pipelines:
    logs: { receivers: [syslog, snmp_trap, json, otlp, alertmanager, json/untenanted], exporters: [file/events] }
  telemetry: { metrics: { endpoint: 127.0.0.1:0 }, logs: { level: info } }
`;

interface StoredEvent {
  source: string;
  tenant: string;
  body: string;
  title: string;
}

let daemon: RunningDaemon | undefined;
afterEach(async () => {
  await daemon?.stop('SIGKILL');
  daemon = undefined;
});

function loggedPort(d: RunningDaemon, message: string, pick: (rec: Record<string, unknown>) => unknown): number {
  for (const line of d.logs) {
    if (line.includes(message)) return (pick(JSON.parse(line) as Record<string, unknown>) as { port: number }).port;
  }
  throw new Error(`the daemon did not log "${message}"`);
}

async function post(d: RunningDaemon, path: string, body: unknown): Promise<void> {
  const res = await fetch(d.url(path), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status, `${path}: ${await res.text()}`).toBeLessThan(300);
}

describe('receivers without authentication', () => {
  it("stamp their configured tenant on what names none; a JSON event's own tenant stays; no tenant configured, none stamped", async () => {
    daemon = await startDaemon(config);
    const d = daemon;
    const udp = createSocket('udp4');
    const syslogPort = loggedPort(d, 'syslog receiver listening', (r) => (r.syslog as { udp: unknown }).udp);
    await new Promise<void>((res) =>
      udp.send('<11>1 2026-12-03T10:00:00Z h1 app - - - from syslog', syslogPort, '127.0.0.1', () => res()),
    );
    udp.close();
    await sendDatagram(
      loggedPort(d, 'SNMP trap receiver listening', (r) => r.snmp_trap),
      V2C_COLD_START,
    );
    await post(d, '/v1/events', [{ title: 'json without tenant' }, { title: 'json with tenant', tenant: 'own' }]);
    await post(d, '/plain', [{ title: 'json on an untenanted receiver' }]);
    await post(d, '/v1/logs', {
      resourceLogs: [{ scopeLogs: [{ logRecords: [{ body: { stringValue: 'from otlp' } }] }] }],
    });
    await post(d, '/api/v2/alerts', [{ labels: { alertname: 'FromAlertmanager' } }]);
    const file = join(d.dataDir, 'events.ndjson');
    await waitFor(() => readNdjson<StoredEvent>(file).length >= 7, 'seven events stored', 20_000);
    const tenants = readNdjson<StoredEvent>(file)
      .map((e) => `${e.source}:${e.title || e.body} → ${e.tenant}`)
      .sort();
    expect(tenants).toEqual([
      'alertmanager:FromAlertmanager → site-am',
      'json:json on an untenanted receiver → ',
      'json:json with tenant → own',
      'json:json without tenant → site-json',
      'otlp:from otlp → site-otlp',
      'snmp:coldStart from 127.0.0.1 → site-snmp',
      'syslog:from syslog → site-syslog',
    ]);
  });
});
