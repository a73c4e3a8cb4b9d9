import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { registry } from '../../../src/components.ts';
import { parseConfig } from '../../../src/service/config/load.ts';
import type { ClickHouseExporter } from '../../../src/exporters/clickhouse/exporter.ts';
import { VigilService } from '../../../src/service/service.ts';
import { createLogger } from '../../../src/telemetry/logger.ts';
import { incidentChange, waitFor } from './harness.ts';
import { EPHEMERAL_PORTS } from '../../support/daemon.ts';

describe('the shipped config inside a running service', () => {
  it('stores incident changes from the incidents pipeline in vigil_incidents and vigil_incident_events', async () => {
    const shipped = parse(readFileSync(resolve(import.meta.dirname, '../../../config/vigil.yaml'), 'utf8')) as {
      exporters: { clickhouse: Record<string, unknown> };
    };
    // A retried insert on a busy machine must not back off past the wait below.
    shipped.exporters.clickhouse.retry = { initial_interval: '50ms', max_interval: '500ms' };
    const cfg = parseConfig(stringify(shipped), registry, { ...EPHEMERAL_PORTS, VIGIL_LOG_LEVEL: 'warn' });
    const dataDir = mkdtempSync(join(tmpdir(), 'vigil-ch-service-'));
    const service = new VigilService(cfg, { dataDir, registry, logger: createLogger('warn') });
    await service.start();
    try {
      await service.incidentsConsumer!.consume([
        incidentChange('opened', 1, 'open', 1_790_000_000_000, ['e1', 'e2']),
        incidentChange('resolved', 2, 'resolved', 1_790_000_300_000, ['e3']),
      ]);
      const queries = (service.exporter('clickhouse') as ClickHouseExporter).queries();
      let history = await queries.incidentHistory('host_down{asset="web-1"}');
      // The two tables fill from separate batches: wait for both, in either order.
      await waitFor(async () => {
        history = await queries.incidentHistory('host_down{asset="web-1"}');
        return history.changes.length === 2 && history.incidents[0]?.Version === 2;
      }, 'both changes and the latest incident version stored');
      expect(history.incidents).toEqual([expect.objectContaining({ Id: 'inc-1', Version: 2, Status: 'resolved' })]);
      expect(history.changes.map((c) => [c.ChangeKind, c.EventIds])).toEqual([
        ['opened', ['e1', 'e2']],
        ['resolved', ['e3']],
      ]);
    } finally {
      await service.shutdown();
    }
  });
});
