import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { IncidentChange } from '../../../src/model/incident.ts';
import { EPHEMERAL_PORTS, startDaemon, type RunningDaemon } from '../../support/daemon.ts';
import { readNdjson } from '../../support/ndjson.ts';
import { waitFor } from '../../support/waitFor.ts';

let daemon: RunningDaemon | undefined;
afterEach(async () => {
  await daemon?.stop('SIGKILL');
  daemon = undefined;
});

const alert = (name: string, instance: string, severity: string, endsAt?: number) => ({
  labels: { alertname: name, instance, job: 'node', severity },
  startsAt: new Date(Date.now() - 60_000).toISOString(),
  ...(endsAt !== undefined ? { endsAt: new Date(endsAt).toISOString() } : {}),
});

describe('config/examples/prometheus-alerts.yaml', () => {
  it('opens one incident per host and alert, not for info alerts nor the Watchdog, and resolves it with the alert', async () => {
    daemon = await startDaemon(readFileSync('config/examples/prometheus-alerts.yaml', 'utf8'), {
      env: { ...EPHEMERAL_PORTS, VIGIL_ALERTMANAGER_ENDPOINT: '127.0.0.1:0' },
    });
    const post = async (alerts: object[]) => {
      const res = await fetch(daemon!.url('/api/v2/alerts'), {
        method: 'POST',
        body: JSON.stringify(alerts),
        headers: { 'content-type': 'application/json' },
      });
      expect(res.status).toBe(200);
    };
    const changes = () => readNdjson<IncidentChange>(join(daemon!.dataDir, 'incidents.ndjson'));
    await post([
      alert('NodeDown', 'web-1:9100', 'critical'),
      alert('HighLoad', 'web-1:9100', 'info'),
      alert('NodeDown', 'web-1:9101', 'critical'),
      alert('Watchdog', '', 'none'),
    ]);
    await waitFor(() => changes().some((c) => c.kind === 'opened'), 'the incident to open');
    await post([
      alert('NodeDown', 'web-1:9100', 'critical', Date.now() - 1000),
      alert('NodeDown', 'web-1:9101', 'critical', Date.now() - 1000),
    ]);
    await waitFor(() => changes().some((c) => c.kind === 'resolved'), 'the incident to resolve');
    const keys = new Set(changes().map((c) => c.incident.key));
    expect([...keys]).toEqual(['asset_down{asset="web-1",title="NodeDown"}']);
  }, 90_000);
});
