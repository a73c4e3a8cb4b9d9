import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { correlationSchema } from '../../src/correlation/config.ts';
import { CorrelationRuntime } from '../../src/connectors/correlation/runtime.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { SelfMetrics } from '../../src/telemetry/selfMetrics.ts';
import { ev } from '../support/correlation.ts';
import { IncidentsPipeline, PAIR_RULES } from '../support/incidentsPipeline.ts';

const config = PAIR_RULES;

describe('correlation runtime', () => {
  it('holds incident changes the incidents pipeline refused and hands them over with the next delivery', async () => {
    const incidents = new IncidentsPipeline();
    let now = 10_000;
    const metrics = new SelfMetrics();
    const runtime = new CorrelationRuntime(config, {
      logger: createLogger('silent'),
      metrics,
      output: () => incidents,
      clock: () => now,
    });
    incidents.full = true;
    await runtime.consumeLogs([ev(9000, { asset: 'sw-1', type: 'down' })]);
    expect(incidents.taken).toEqual([]);
    incidents.full = false;
    now = 11_000;
    await runtime.consumeLogs([ev(10_500, { asset: 'sw-1', type: 'up' })]);
    expect(incidents.taken.map((c) => c.kind)).toEqual(['opened', 'resolved']);
    const text = await metrics.metrics();
    expect(text).toMatch(/^vigil_correlation_records_total\{signal="logs"\} 2$/m);
    expect(text).toMatch(/^vigil_correlation_incident_changes_total\{kind="opened"\} 1$/m);
    expect(text).toMatch(/^vigil_correlation_open_incidents 0$/m);
    await runtime.stop();
  });

  it('delivers after a restart the changes a crash kept from the incidents pipeline, and the state that made them', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'vigil-runtime-'));
    const incidents = new IncidentsPipeline();
    let now = 10_000;
    const opts = { logger: createLogger('silent'), output: () => incidents, clock: () => now, dataDir };
    const first = new CorrelationRuntime(config, { ...opts, metrics: new SelfMetrics() });
    await first.state.start();
    incidents.full = true;
    await first.consumeLogs([ev(9000, { asset: 'sw-1', type: 'down' })]);
    expect(incidents.taken).toEqual([]);
    // A crash: the runtime is dropped without stop(); what it held in memory is gone.

    incidents.full = false;
    const second = new CorrelationRuntime(config, { ...opts, metrics: new SelfMetrics() });
    await second.start();
    await second.tick();
    expect(incidents.taken.map((c) => c.kind)).toEqual(['opened']);
    now = 11_000;
    await second.consumeLogs([ev(10_500, { asset: 'sw-1', type: 'up' })]);
    expect(incidents.taken.map((c) => `${c.kind} ${c.incident.id}`)).toEqual([
      `opened ${incidents.taken[0]!.incident.id}`,
      `resolved ${incidents.taken[0]!.incident.id}`,
    ]);
    await second.stop();

    // Delivered once is delivered: a third start has nothing to send again.
    const third = new CorrelationRuntime(config, { ...opts, metrics: new SelfMetrics() });
    await third.start();
    await third.tick();
    expect(incidents.taken).toHaveLength(2);
    await third.stop();
  });

  it('handles the time that passed while it was down: a heartbeat that stopped opens its incident, an expired group_wait notifies once', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'vigil-runtime-'));
    const timed = correlationSchema.parse(
      parse(`
defaults: { group_wait: 10s, allowed_lateness: 1m }
rules:
  - { kind: pair, name: link, group_by: [asset] }
  - { kind: absence, name: silent, match: 'attributes["check"] == "heartbeat"', group_by: [asset], time: arrival, interval: 30s }
`),
      'correlation',
      [],
    )!;
    const incidents = new IncidentsPipeline();
    let now = 100_000;
    const opts = { logger: createLogger('silent'), output: () => incidents, clock: () => now, dataDir };
    const first = new CorrelationRuntime(timed, { ...opts, metrics: new SelfMetrics() });
    await first.state.start();
    await first.consumeLogs([
      ev(99_000, { asset: 'db-1', attributes: { check: 'heartbeat' } }),
      ev(99_500, { asset: 'sw-1', type: 'down' }),
    ]);
    await first.tick();
    expect(incidents.taken.filter((c) => c.notify)).toEqual([]);
    // Killed here; back two minutes later.

    now = 220_000;
    const second = new CorrelationRuntime(timed, { ...opts, metrics: new SelfMetrics() });
    await second.start();
    await second.tick();
    await second.tick();
    const told = incidents.taken.filter((c) => c.notify).map((c) => `${c.kind} ${c.incident.key}`);
    expect(told.sort()).toEqual(['opened link{asset="sw-1"}', 'opened silent{asset="db-1"}']);
    await second.stop();
  });
});
