import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Session } from 'chdb';
import { afterEach, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { EPHEMERAL_PORTS, startDaemon, type RunningDaemon } from '../support/daemon.ts';
import { FakeGlpi } from '../support/fakes/glpi.ts';
import { waitFor } from '../support/waitFor.ts';

let daemon: RunningDaemon | undefined;
let glpi: FakeGlpi | undefined;
afterEach(async () => {
  await daemon?.stop('SIGKILL');
  await glpi?.close();
  daemon = undefined;
  glpi = undefined;
});

function query(dataDir: string, sql: string): Record<string, unknown>[] {
  const session = new Session(join(dataDir, 'clickhouse'));
  try {
    const text = session.query(sql, 'JSONEachRow').trim();
    return text === '' ? [] : text.split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  } finally {
    session.close();
  }
}

describe('the shipped config, end to end: events → correlation → ClickHouse and one GLPI ticket', () => {
  it('opens one ticket for a down asset, however often it says so, and solves it on up', async () => {
    glpi = await new FakeGlpi().listen();
    // config/vigil.yaml as shipped, plus a GLPI exporter on its incidents pipeline, ports at 0,
    // no hold-down and a group_interval of 1s, so the test need not wait out group_wait nor the
    // resolve held back until group_interval after the page.
    const config = parse(readFileSync(resolve(import.meta.dirname, '../../config/vigil.yaml'), 'utf8')) as {
      exporters: Record<string, unknown>;
      service: { pipelines: { incidents: { exporters: string[] } } };
      correlation: { defaults: Record<string, unknown> };
    };
    config.exporters.glpi = { url: glpi.apiUrl, app_token: 'app-token-1', user_token: 'user-token-1' };
    config.service.pipelines.incidents.exporters.push('glpi');
    config.correlation.defaults.group_wait = '0s';
    config.correlation.defaults.group_interval = '1s';
    daemon = await startDaemon(stringify(config), { env: { ...EPHEMERAL_PORTS, VIGIL_LOG_LEVEL: 'info' } });

    const post = async (events: object[]) => {
      const res = await fetch(daemon!.url('/v1/events'), {
        method: 'POST',
        body: JSON.stringify(events),
        headers: { 'content-type': 'application/json' },
      });
      expect(await res.json()).toEqual({ accepted: events.length, rejected: [] });
    };
    await post([
      { asset_unique_id: 'web-1', event_title: 'web-1 unreachable', event_type: 'down', event_level: 'CRITICAL' },
      { asset_unique_id: 'web-1', event_title: 'web-1 unreachable', event_type: 'down', event_level: 'CRITICAL' },
    ]);
    await waitFor(() => glpi!.tickets.size === 1, 'the GLPI ticket');
    await post([
      { asset_unique_id: 'web-1', event_title: 'web-1 reachable again', event_type: 'up', event_level: 'INFO' },
    ]);
    await waitFor(() => glpi!.solutions.length === 1, 'the GLPI solution');

    expect(glpi.tickets.size).toBe(1);
    const [ticket] = [...glpi.tickets.values()];
    expect(ticket!.name).toContain('web-1');
    expect(glpi.solutions[0]!.items_id).toBe(ticket!.id);
    expect(await daemon.stop()).toBe(0);

    const incidents = query(daemon.dataDir, `SELECT Key, Status, EventCount FROM otel.vigil_incidents FINAL`);
    expect(incidents).toEqual([expect.objectContaining({ Key: 'asset_down{asset="web-1"}', Status: 'resolved' })]);
    const events = query(daemon.dataDir, `SELECT Asset, EventType FROM otel.otel_logs ORDER BY Timestamp`);
    expect(events.map((e) => e.EventType)).toEqual(['down', 'down', 'up']);
  });
});
