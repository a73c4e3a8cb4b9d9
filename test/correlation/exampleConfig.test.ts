import { describe, expect, it } from 'vitest';
import { registry } from '../../src/components.ts';
import { loadConfigFile } from '../../src/service/config/load.ts';
import { replay } from '../../src/connectors/correlation/replay.ts';
import { EPHEMERAL_PORTS } from '../support/daemon.ts';

describe('config/examples/correlation.yaml', () => {
  it('is valid and plays the seed scenarios', () => {
    const config = loadConfigFile('config/examples/correlation.yaml', registry, EPHEMERAL_PORTS);
    const at = (s: number) => new Date(Date.UTC(2026, 10, 23, 10, 0, s)).toISOString();
    const lines = [
      { ts: at(0), asset: 'web-1', type: 'down', title: 'web-1 unreachable' },
      { ts: at(60), asset: 'web-1', type: 'up' },
      ...Array.from({ length: 8 }, (_, i) => ({ ts: at(100 + i), service: 'checkout', level: 'error', host: 'app-1' })),
      { ts: at(120), asset: 'db-1', check: 'heartbeat' },
      { ts: at(600), asset: 'db-1', check: 'heartbeat' },
      { ts: at(700), asset: 'app-2', type: 'down' },
      ...Array.from({ length: 6 }, (_, i) => ({ ts: at(710 + i), service: 'search', level: 'error', host: 'app-2' })),
    ];
    const result = replay(config.correlation!, lines.map((l) => JSON.stringify(l)).join('\n'), 10_000);
    expect(result.rejected).toEqual([]);
    expect(
      result.changes
        .filter((c) => c.notify || c.incident.suppressed)
        .map((c) => `${c.kind} ${c.incident.key}${c.incident.suppressed ? ' (suppressed)' : ''}`),
    ).toEqual([
      'opened asset_down{asset="web-1"}',
      'opened service_errors{asset="app-1",service="checkout"}',
      'opened host_silent{asset="db-1"}',
      // Both resolved within group_interval (5m) of their first notification, while they could
      // still reopen: their all-clears wait until it has passed, at 10:05:10 and 10:06:55.
      'resolved asset_down{asset="web-1"}',
      // The storm is over a minute later (resolve_below: 2).
      'resolved service_errors{asset="app-1",service="checkout"}',
      'resolved host_silent{asset="db-1"}',
      'opened asset_down{asset="app-2"}',
      'opened service_errors{asset="app-2",service="search"} (suppressed)',
    ]);
  });
});
