import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli, startDaemon, type RunningDaemon } from '../support/daemon.ts';
import { readNdjson } from '../support/ndjson.ts';

let daemon: RunningDaemon | undefined;
let cmdb: Server | undefined;
afterEach(async () => {
  await daemon?.stop('SIGKILL');
  daemon = undefined;
  cmdb?.closeAllConnections();
  cmdb?.close();
  cmdb = undefined;
});

function config(cmdbUrl: string): string {
  return `
receivers:
  json: { endpoint: 127.0.0.1:0 }
processors:
  extract:
    rules:
      - regex: { pattern: '%LINK-\\d-UPDOWN: Interface (?<interface>\\S+), changed state to (?<state>down|up)' }
        set: { title: '{{ attributes.interface }} {{ attributes.state }} on {{ asset }}' }
      - regex: { pattern: 'disk (?<mount>\\S+) (?<used_pct>\\d+)% full on (?<asset>\\S+)' }
        set: { severity: warning, 'attributes["used_pct"]': '{{ Int(attributes["used_pct"]) }}' }
  enrich/cmdb:
    table: { path: cmdb.csv, key_field: host }
    http: { url: '${cmdbUrl}/api/assets/{{ asset }}', timeout: 10s }
  tag:
    rules:
      - { where: 'attributes["state"] == "down"', type: down, severity: critical }
      - { where: 'attributes["state"] == "up"', type: up, severity: info }
  filter/noise:
    logs:
      - 'IsMatch(body, "healthcheck")'
      - 'severity_number < SEVERITY_NUMBER_WARN and type == "neutral"'
exporters:
  file/events: { path: events.ndjson }
service:
  pipelines:
    logs: { receivers: [json], processors: [extract, enrich/cmdb, tag, filter/noise], exporters: [file/events] }
  telemetry:
    metrics: { endpoint: 127.0.0.1:0 }
`;
}

interface StoredEvent {
  asset: string;
  title: string;
  type: string;
  severityNumber: number;
  severityText: string;
  body: string;
  attributes: Record<string, unknown>;
}

describe('vigil run: JSON events through extract, enrich, tag and filter', () => {
  it('stores the shaped events and drops the noise, counting drops and lookups in /metrics', async () => {
    // The CMDB service for assets the table does not hold.
    const asked: string[] = [];
    cmdb = createServer((req, res) => {
      asked.push(req.url!);
      const found = req.url === '/api/assets/db-7';
      res
        .writeHead(found ? 200 : 404, { 'content-type': 'application/json' })
        .end(JSON.stringify(found ? { owner: 'team-data', site: 'lyon', criticality: 'critical' } : {}));
    });
    cmdb.listen(0, '127.0.0.1');
    await once(cmdb, 'listening');
    const dataDir = mkdtempSync(join(tmpdir(), 'vigil-test-'));
    writeFileSync(
      join(dataDir, 'cmdb.csv'),
      'host,owner,site,criticality,parent\nsw-paris-1,team-network,paris,high,core-paris\n',
    );
    daemon = await startDaemon(config(`http://127.0.0.1:${(cmdb.address() as AddressInfo).port}`), { dataDir });

    const events = [
      { host: 'sw-paris-1', message: '%LINK-3-UPDOWN: Interface Gi0/1, changed state to down' },
      { host: 'web-1', message: 'GET /healthcheck 200', level: 'error' },
      { host: 'sw-paris-1', message: '%LINK-3-UPDOWN: Interface Gi0/1, changed state to up' },
      { message: 'disk /var 97% full on db-7' },
      { host: 'web-1', message: 'debug chatter', level: 'debug' },
    ];
    const res = await fetch(daemon.url('/v1/events'), {
      method: 'POST',
      body: JSON.stringify(events),
      headers: { 'content-type': 'application/json' },
    });
    expect(await res.json()).toEqual({ accepted: 5, rejected: [] });

    const metrics = await waitForMetric(
      daemon,
      /vigil_processor_dropped_records_total\{processor="filter\/noise",pipeline="logs"\} 2/,
    );
    expect(metrics).toMatch(/vigil_enrich_lookups_total\{processor="enrich\/cmdb",source="table",outcome="found"\} 2/);
    expect(metrics).toMatch(/vigil_enrich_lookups_total\{processor="enrich\/cmdb",source="http",outcome="found"\} 1/);
    // Stopping drains the pipeline into the file before the process exits.
    expect(await daemon.stop()).toBe(0);

    const stored = readNdjson<StoredEvent>(join(daemon.dataDir, 'events.ndjson'));
    expect(stored.map((e) => e.body)).toEqual([events[0]!.message, events[2]!.message, events[3]!.message]);
    expect(stored[0]).toMatchObject({
      asset: 'sw-paris-1',
      title: 'Gi0/1 down on sw-paris-1',
      type: 'down',
      severityNumber: 18,
      severityText: 'critical',
      attributes: {
        interface: 'Gi0/1',
        state: 'down',
        owner: 'team-network',
        site: 'paris',
        criticality: 'high',
        parent: 'core-paris',
      },
    });
    expect(stored[1]).toMatchObject({
      asset: 'sw-paris-1',
      title: 'Gi0/1 up on sw-paris-1',
      type: 'up',
      severityNumber: 9,
      severityText: 'info',
    });
    expect(stored[2]).toMatchObject({
      asset: 'db-7',
      type: 'neutral',
      severityNumber: 13,
      severityText: 'warning',
      attributes: { mount: '/var', used_pct: 97, owner: 'team-data', site: 'lyon', criticality: 'critical' },
    });
    // sw-paris-1 came from the table, web-1's events were dropped after its (404) lookup.
    expect(asked.sort()).toEqual(['/api/assets/db-7', '/api/assets/web-1']);
  });

  it('refuses a config whose condition does not compile, naming the YAML path and column', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-test-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(
      file,
      config('http://127.0.0.1:1').replace(`'IsMatch(body, "healthcheck")'`, `'IsMatch(body, "healthcheck") && true'`),
    );
    const { code, stderr } = await runCli(['validate', '--config', file]);
    expect(code).not.toBe(0);
    expect(stderr).toContain(
      'processors.filter/noise.logs[0]: column 30: expected "and", "or" or "not" instead of "&"',
    );
  });

  it('accepts the example config in config/examples/processors.yaml', async () => {
    const { code, stdout } = await runCli(['validate', '--config', 'config/examples/processors.yaml']);
    expect(stdout).toContain('configuration is valid');
    expect(code).toBe(0);
  });
});

/** Polls /metrics until the pipeline has processed the batch (the receiver acknowledges on queueing). */
async function waitForMetric(d: RunningDaemon, pattern: RegExp): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const text = await (await fetch(d.adminUrl('/metrics'))).text();
    if (pattern.test(text)) return text;
    if (Date.now() > deadline)
      throw new Error(
        `/metrics never matched ${pattern}:\n${text
          .split('\n')
          .filter((l) => l.startsWith('vigil_processor') || l.startsWith('vigil_enrich'))
          .join('\n')}`,
      );
    await new Promise((r) => setTimeout(r, 20));
  }
}
