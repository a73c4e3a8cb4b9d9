import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { IncidentChange } from '../../../src/model/incident.ts';
import { correlatingConfig, startDaemon, type RunningDaemon } from '../../support/daemon.ts';
import { readNdjson } from '../../support/ndjson.ts';
import { startPrometheus, startTarget, stopTarget, type Cleanups } from '../../support/prometheus.ts';
import { freePort } from '../../support/redis.ts';
import { waitFor } from '../../support/waitFor.ts';

/** A pair rule on the asset, which the receiver takes from the alert's `instance` label. */
const vigilConfig = correlatingConfig(`
  tick_interval: 50ms
  defaults: { group_wait: 0s, reopen_window: 0s }
  rules:
    - kind: pair
      name: asset_down
      group_by: [asset]
`)
  .replace('receivers:\n', 'receivers:\n  alertmanager:\n    endpoint: 127.0.0.1:0\n')
  .replace('receivers: [json]', 'receivers: [json, alertmanager]');

const cleanups: Cleanups = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('alertmanager receiver: a real Prometheus', () => {
  it('turns the alert for a target that went away into one incident, resolved when the target is back', async () => {
    const daemon: RunningDaemon = await startDaemon(vigilConfig);
    cleanups.push(async () => void (await daemon.stop('SIGKILL')));
    const port = daemon.http[0]!.port;
    const targetPort = await freePort();
    let target = await startTarget(targetPort);
    cleanups.push(() => (target.listening ? stopTarget(target) : undefined));
    const prometheus = await startPrometheus(targetPort, port, cleanups);
    const changes = () => readNdjson<IncidentChange>(join(daemon.dataDir, 'incidents.ndjson'));
    const key = `asset_down{asset="127.0.0.1:${targetPort}"}`;
    const explain = () =>
      `\nVigil:\n${daemon.logs.slice(-20).join('\n')}\nPrometheus:\n${prometheus.logs.join('').slice(-3000)}`;

    await stopTarget(target);
    await waitFor(() => changes().some((c) => c.kind === 'opened'), `the incident to open${explain()}`, 90_000);
    const opened = changes().find((c) => c.kind === 'opened')!;
    expect(opened.incident).toMatchObject({
      key,
      title: 'TargetDown',
      service: 't',
      severityText: 'critical',
      asset: `127.0.0.1:${targetPort}`,
    });

    target = await startTarget(targetPort);
    await waitFor(() => changes().some((c) => c.kind === 'resolved'), `the incident to resolve${explain()}`, 90_000);
    const resolved = changes().find((c) => c.kind === 'resolved')!;
    expect(resolved.incident.id).toBe(opened.incident.id);
    // Prometheus re-sent the firing alert every second while the target was down: still one incident.
    expect(
      new Set(
        changes()
          .filter((c) => c.kind === 'opened')
          .map((c) => c.incident.id),
      ).size,
    ).toBe(1);
  }, 240_000);
});
