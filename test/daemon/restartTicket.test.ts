import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { EPHEMERAL_PORTS, startDaemon, type RunningDaemon } from '../support/daemon.ts';
import { FakeGlpi } from '../support/fakes/glpi.ts';
import { waitFor } from '../support/waitFor.ts';

const running: RunningDaemon[] = [];
let glpi: FakeGlpi | undefined;
afterEach(async () => {
  for (const d of running.splice(0)) await d.stop('SIGKILL');
  await glpi?.close();
  glpi = undefined;
});

/** config/vigil.yaml as shipped (embedded ClickHouse included), plus a GLPI exporter on its incidents pipeline. */
function shippedWithGlpi(apiUrl: string): string {
  const config = parse(readFileSync(resolve(import.meta.dirname, '../../config/vigil.yaml'), 'utf8')) as {
    exporters: Record<string, unknown>;
    service: { pipelines: { incidents: { exporters: string[] } } };
    correlation: { defaults: Record<string, unknown> };
  };
  config.exporters.glpi = { url: apiUrl, app_token: 'app-token-1', user_token: 'user-token-1' };
  config.service.pipelines.incidents.exporters.push('glpi');
  config.correlation.defaults.group_wait = '0s';
  // A resolve within group_interval of the last notification is held that long (it may reopen).
  config.correlation.defaults.group_interval = '1s';
  return stringify(config);
}

async function start(yaml: string, dataDir?: string): Promise<RunningDaemon> {
  const d = await startDaemon(yaml, { dataDir, env: { ...EPHEMERAL_PORTS, VIGIL_LOG_LEVEL: 'info' } });
  running.push(d);
  return d;
}

async function post(d: RunningDaemon, events: object[]): Promise<void> {
  const res = await fetch(d.url('/v1/events'), {
    method: 'POST',
    body: JSON.stringify(events),
    headers: { 'content-type': 'application/json' },
  });
  expect(await res.json()).toEqual({ accepted: events.length, rejected: [] });
}

describe('a restart between Down and Up: the same incident, the same ticket', () => {
  for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
    it(`solves the GLPI ticket opened before a ${signal} when the Up comes after it`, async () => {
      glpi = await new FakeGlpi().listen();
      const yaml = shippedWithGlpi(glpi.apiUrl);
      const first = await start(yaml);
      await post(first, [{ asset: 'web-1', type: 'down', title: 'web-1 unreachable', severity: 'CRITICAL' }]);
      await waitFor(() => glpi!.tickets.size === 1, 'the GLPI ticket');
      const [ticket] = [...glpi.tickets.values()];
      await first.stop(signal);

      const second = await start(yaml, first.dataDir);
      await post(second, [{ asset: 'web-1', type: 'up', title: 'web-1 reachable again', severity: 'INFO' }]);
      await waitFor(() => glpi!.solutions.length === 1, 'the GLPI solution');
      expect(glpi.solutions[0]!.items_id).toBe(ticket!.id);
      expect(glpi.tickets.size).toBe(1);
      expect(await second.stop()).toBe(0);
    });
  }
});
