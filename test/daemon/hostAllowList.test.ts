import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readNdjson } from '../support/ndjson.ts';
import { startDaemon, type RunningDaemon } from '../support/daemon.ts';
import { waitFor } from '../support/waitFor.ts';

let daemon: RunningDaemon;

beforeAll(async () => {
  daemon = await startDaemon(`
receivers:
  json: { endpoint: 127.0.0.1:0 }
  otlp: { protocols: { http: { endpoint: 127.0.0.1:0 } } }
  alertmanager: { endpoint: 127.0.0.2:0, allowed_hosts: [alerts.example.com] }
exporters:
  file/events: { path: events.ndjson }
service:
  pipelines:
    logs: { receivers: [json, otlp, alertmanager], exporters: [file/events] }
  telemetry:
    metrics: { endpoint: 127.0.0.1:0 }
api: { endpoint: 127.0.0.1:0 }
`);
}, 60_000);
afterAll(() => daemon?.stop('SIGKILL'));

interface Answer {
  status: number;
  body: string;
}

/** One request to 127.0.0.x with the Host header a DNS-rebinding page (or a misrouted client) would send. */
function send(
  address: { host: string; port: number },
  host: string,
  path: string,
  body?: { type: string; data: string },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: address.host,
        port: address.port,
        path,
        method: body ? 'POST' : 'GET',
        headers: {
          host,
          ...(body ? { 'content-type': body.type, 'content-length': Buffer.byteLength(body.data) } : {}),
        },
        agent: false,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body?.data);
  });
}

const json = (body: object) => ({ type: 'application/json', data: JSON.stringify(body) });
const receivers = () => daemon.http.find((a) => a.host === '127.0.0.1')!;
const alertmanager = () => daemon.http.find((a) => a.host === '127.0.0.2')!;

function expectRefused(a: Answer, host: string): void {
  expect(a.status).toBe(421);
  expect(JSON.parse(a.body)).toMatchObject({
    status: 421,
    code: 'VIGIL_HOST_NOT_ALLOWED',
    detail: expect.stringContaining(`host ${JSON.stringify(host)}`),
  });
}

describe('allowed_hosts on every HTTP listener', () => {
  it('refuses a rebinding name on the loopback receivers by default and stores nothing, and serves the loopback names', async () => {
    const port = receivers().port;
    const forged = `rebind.attacker.example:${port}`;
    expectRefused(await send(receivers(), forged, '/v1/events', json({ body: 'forged' })), forged);
    expectRefused(
      await send(receivers(), forged, '/v1/logs', json({ resourceLogs: [{ scopeLogs: [{ logRecords: [{}] }] }] })),
      forged,
    );
    const names = [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, 'LOCALHOST'];
    for (const host of names) {
      const a = await send(receivers(), host, '/v1/events', json({ body: `served ${host}` }));
      expect(a.status, `${host}: ${a.body}`).toBe(200);
    }
    const bodies = () => readNdjson<{ body?: string }>(join(daemon.dataDir, 'events.ndjson')).map((e) => e.body);
    await waitFor(() => bodies().length >= names.length, 'the served events to be stored');
    expect(bodies().sort()).toEqual(names.map((h) => `served ${h}`).sort());
  });

  it('takes only the configured names on a listener with allowed_hosts, loopback names included', async () => {
    const port = alertmanager().port;
    const alerts = json([{ labels: { alertname: 'HostCheck', instance: 'db-1' } }]);
    expect((await send(alertmanager(), `alerts.example.com:${port}`, '/api/v2/alerts', alerts)).status).toBe(200);
    expectRefused(await send(alertmanager(), `localhost:${port}`, '/api/v2/alerts', alerts), `localhost:${port}`);
  });

  it("guards the admin listener and the operators' API, and counts every refusal by listener", async () => {
    const forged = 'rebind.attacker.example';
    expectRefused(await send(daemon.admin, forged, '/metrics'), forged);
    expectRefused(await send(daemon.admin, forged, '/healthz'), forged);
    expectRefused(await send(daemon.api!, forged, '/api/v1/incidents'), forged);
    expect((await send(daemon.api!, `localhost:${daemon.api!.port}`, '/openapi.json')).status).toBe(200);

    const metrics = await send(daemon.admin, `127.0.0.1:${daemon.admin.port}`, '/metrics');
    expect(metrics.status).toBe(200);
    const count = (listener: string) =>
      Number(
        new RegExp(`^vigil_http_host_refused_total\\{listener="${listener}"\\} (\\d+)$`, 'm').exec(metrics.body)?.[1],
      );
    expect(count('admin')).toBe(2);
    expect(count('api')).toBe(1);
    expect(count('127\\.0\\.0\\.1:0')).toBeGreaterThanOrEqual(2);
    expect(daemon.logs.some((l) => l.includes('Host header not in allowed_hosts') && l.includes(forged))).toBe(true);
  });
});
