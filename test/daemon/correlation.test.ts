import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { IncidentChange } from '../../src/model/incident.ts';
import { startDaemon, type RunningDaemon } from '../support/daemon.ts';
import { readNdjson } from '../support/ndjson.ts';
import { waitFor } from '../support/waitFor.ts';

const rules = (threshold = 6) => `
correlation:
  tick_interval: 50ms
  defaults: { group_wait: 0s, allowed_lateness: 5s, reopen_window: 0s }
  rules:
    - kind: pair
      name: asset_down
      group_by: [asset]
    - kind: threshold
      name: service_errors
      match: severity_number >= SEVERITY_NUMBER_ERROR and service != ""
      group_by: [service, 'asset=attributes["host"]']
      window: 60s
      threshold: ${threshold}
    - kind: absence
      name: host_silent
      match: attributes["check"] == "heartbeat"
      group_by: [asset]
      time: arrival
      interval: 1s
  inhibit:
    - source: ['rule="asset_down"']
      target: ['rule="service_errors"']
      equal: [asset]
`;

const config = (threshold = 6) => `
receivers:
  json:
    endpoint: 127.0.0.1:0
exporters:
  file/incidents:
    path: incidents.ndjson
  correlation: {}
${rules(threshold)}
service:
  pipelines:
    logs: { receivers: [json], exporters: [correlation] }
    incidents: { exporters: [file/incidents] }
  telemetry:
    metrics: { endpoint: 127.0.0.1:0 }
`;

let daemon: RunningDaemon | undefined;
afterEach(async () => {
  await daemon?.stop('SIGKILL');
  daemon = undefined;
});

async function send(events: object[]): Promise<void> {
  const res = await fetch(daemon!.url('/v1/events'), {
    method: 'POST',
    body: JSON.stringify(events),
    headers: { 'content-type': 'application/json' },
  });
  expect(await res.json()).toEqual({ accepted: events.length, rejected: [] });
}

const changes = () => readNdjson<IncidentChange>(join(daemon!.dataDir, 'incidents.ndjson'));
const timeline = () =>
  changes().map(
    (c) => `${c.kind} ${c.incident.key}${c.incident.suppressed ? ` (suppressed by ${c.incident.suppressedBy})` : ''}`,
  );

/** Polls the incidents file until `done` holds: the daemon runs on the wall clock. */
async function until(done: (lines: string[]) => boolean, timeoutMs = 10_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = timeline();
    if (done(lines)) return lines;
    if (Date.now() > deadline) throw new Error(`timed out; incidents so far:\n${lines.join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('vigil run: JSON events → correlation → incidents file', () => {
  it('plays the seed scenarios from config alone', async () => {
    daemon = await startDaemon(config());
    // Down/Up events for an asset open and then resolve one incident.
    await send([{ asset: 'web-1', type: 'down', title: 'web-1 unreachable', level: 'critical' }]);
    await until((l) => l.includes('opened asset_down{asset="web-1"}'));
    await send([{ asset: 'web-1', type: 'up', title: 'web-1 reachable' }]);
    await until((l) => l.includes('resolved asset_down{asset="web-1"}'));

    // More than 5 errors in 60 s for a service open one incident, not one per error.
    await send(
      Array.from({ length: 12 }, (_, i) => ({
        service: 'checkout',
        level: 'error',
        message: `payment failed #${i}`,
        attributes: { host: 'app-1' },
      })),
    );
    await until((l) => l.includes('opened service_errors{asset="app-1",service="checkout"}'));

    // A host that goes quiet opens an incident; its return resolves it.
    await send([{ asset: 'db-1', attributes: { check: 'heartbeat' } }]);
    await until((l) => l.includes('opened host_silent{asset="db-1"}'));
    await send([{ asset: 'db-1', attributes: { check: 'heartbeat' } }]);
    await until((l) => l.includes('resolved host_silent{asset="db-1"}'));

    // A host-down incident suppresses its services' incidents.
    await send([{ asset: 'app-2', type: 'down', title: 'app-2 down' }]);
    await until((l) => l.includes('opened asset_down{asset="app-2"}'));
    await send(Array.from({ length: 6 }, () => ({ service: 'search', level: 'error', attributes: { host: 'app-2' } })));
    const lines = await until((l) => l.some((x) => x.startsWith('opened service_errors{asset="app-2"')));

    expect(lines.filter((l) => l.startsWith('opened service_errors{asset="app-1"'))).toHaveLength(1);
    expect(lines).toContain(
      'opened service_errors{asset="app-2",service="search"} (suppressed by inhibit:asset_down{asset="app-2"})',
    );
    const suppressed = changes().find((c) => c.incident.key === 'service_errors{asset="app-2",service="search"}')!;
    expect(suppressed.notify).toBe(false);
    const checkout = changes().find((c) => c.incident.key === 'service_errors{asset="app-1",service="checkout"}')!;
    expect(checkout).toMatchObject({
      notify: true,
      reason: 'count 6 ≥ 6 within 1m',
      incident: { status: 'open', severityText: 'error', title: 'payment failed #5' },
    });

    const metrics = await (await fetch(daemon.adminUrl('/metrics'))).text();
    expect(metrics).toMatch(/^vigil_correlation_records_total\{signal="logs"\} 23$/m);
    expect(metrics).toMatch(/^vigil_correlation_incident_changes_total\{kind="opened"\} 5$/m);
    expect(await daemon.stop()).toBe(0);
  });

  it('reloads rules when the file changes and on SIGHUP, keeping the state of unchanged rules', async () => {
    daemon = await startDaemon(config(6));
    const reloads = () => daemon!.logs.filter((l) => l.includes('correlation rules reloaded')).length;
    await send([{ asset: 'web-9', type: 'down' }]);
    await until((l) => l.includes('opened asset_down{asset="web-9"}'));
    await send(Array.from({ length: 4 }, () => ({ service: 'cart', level: 'error', attributes: { host: 'h' } })));
    // Lower the threshold to 3 by editing the file: that rule starts afresh, asset_down keeps its open incident.
    const file = join(daemon.dataDir, 'vigil.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('threshold: 6', 'threshold: 3'));
    await until(() => reloads() >= 1);
    const resets = daemon.logs
      .map((l) => JSON.parse(l) as { level: number; msg: string; rule?: string; reason?: string })
      .filter((l) => l.msg.startsWith('correlation rule changed'));
    expect(resets.map(({ level, rule, reason }) => ({ level, rule, reason }))).toEqual([
      { level: 30, rule: 'service_errors', reason: 'rule configuration changed: threshold' },
    ]);
    await send(Array.from({ length: 2 }, () => ({ service: 'cart', level: 'error', attributes: { host: 'h' } })));
    // SIGHUP with the same file: nothing restarts, the two errors since the edit stay counted.
    const before = reloads();
    daemon.proc.kill('SIGHUP');
    await until(() => reloads() > before);
    await send([{ service: 'cart', level: 'error', attributes: { host: 'h' } }]);
    await send([{ asset: 'web-9', type: 'up' }]);
    const lines = await until(
      (l) => l.includes('resolved asset_down{asset="web-9"}') && l.some((x) => x.startsWith('opened service_errors')),
    );
    const opened = changes().find((c) => c.kind === 'opened' && c.incident.rule === 'service_errors')!;
    expect(opened.reason).toBe('count 3 ≥ 3 within 1m');
    expect(lines.filter((l) => l.startsWith('opened'))).toHaveLength(2);
    expect(await daemon.stop()).toBe(0);
  });
});

/** The Collector's shape: the connector is an exporter of the logs pipeline and the receiver of the incidents pipelines. */
const connectorConfig = `
receivers:
  json:
    endpoint: 127.0.0.1:0
exporters:
  file/incidents:
    path: incidents.ndjson
  file/audit:
    path: audit.ndjson
connectors:
  correlation:
    tick_interval: 50ms
    defaults: { group_wait: 0s, allowed_lateness: 5s }
    rules:
      - { kind: pair, name: asset_down, group_by: [asset] }
      - { kind: threshold, name: service_errors, match: 'severity_number >= SEVERITY_NUMBER_ERROR', group_by: [service], window: 60s, threshold: 6 }
service:
  pipelines:
    logs: { receivers: [json], exporters: [correlation] }
    incidents: { receivers: [correlation], exporters: [file/incidents] }
    incidents/audit: { receivers: [correlation], exporters: [file/audit] }
  telemetry:
    metrics: { endpoint: 127.0.0.1:0 }
`;

describe('vigil run with the correlation connector written out (connectors:)', () => {
  it('feeds every incidents pipeline that lists it as a receiver, reports its state and reloads on SIGHUP', async () => {
    daemon = await startDaemon(connectorConfig);
    await send([{ asset: 'web-1', type: 'down', title: 'web-1 unreachable', level: 'critical' }]);
    await until((l) => l.includes('opened asset_down{asset="web-1"}'));
    await send([{ asset: 'web-1', type: 'up' }]);
    await until((l) => l.includes('resolved asset_down{asset="web-1"}'));
    const audit = () =>
      readNdjson<IncidentChange>(join(daemon!.dataDir, 'audit.ndjson')).map((c) => `${c.kind} ${c.incident.key}`);
    await waitFor(() => audit().length === 2, 'both changes in the second incidents pipeline too');
    expect(audit()).toEqual(['opened asset_down{asset="web-1"}', 'resolved asset_down{asset="web-1"}']);

    const ready = await fetch(daemon.adminUrl('/readyz'));
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({
      status: 'ready',
      components: { 'connector:correlation': { status: 'ok' } },
    });
    const metrics = await (await fetch(daemon.adminUrl('/metrics'))).text();
    expect(metrics).toMatch(/^vigil_correlation_records_total\{signal="logs"\} 2$/m);
    expect(metrics).toMatch(/^vigil_correlation_rules 2$/m);

    // Rules written under connectors: reload as the top-level section's do.
    const file = join(daemon.dataDir, 'vigil.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('threshold: 6', 'threshold: 2'));
    daemon.proc.kill('SIGHUP');
    await waitFor(() => daemon!.logs.some((l) => l.includes('correlation rules reloaded')), 'the rules reloaded');
    await send([
      { service: 'cart', level: 'error' },
      { service: 'cart', level: 'error' },
    ]);
    await until((l) => l.includes('opened service_errors{service="cart"}'));
    expect(await daemon.stop()).toBe(0);
  });
});
