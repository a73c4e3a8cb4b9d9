import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { IncidentChange } from '../../../src/model/incident.ts';
import { correlatingConfig, startDaemon, type RunningDaemon } from '../../support/daemon.ts';
import { readNdjson } from '../../support/ndjson.ts';
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

/** A scrape target serving one gauge; stopping it is what the alerting rule notices. */
function startTarget(port: number): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === '/metrics')
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end('# TYPE t_ready gauge\nt_ready 1\n');
    else res.writeHead(404).end();
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

function stopTarget(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A real Prometheus (Debian's) scraping the target every second and sending its alerts to `alertmanagerPort`. */
async function startPrometheus(
  targetPort: number,
  alertmanagerPort: number,
): Promise<{ proc: ChildProcess; logs: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-prometheus-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    join(dir, 'rules.yml'),
    `groups:
  - name: t
    rules:
      - alert: TargetDown
        expr: up{job="t"} == 0
        for: 0s
        labels: { severity: critical }
        annotations: { summary: "{{ $labels.instance }} is down" }
`,
  );
  writeFileSync(
    join(dir, 'prometheus.yml'),
    `global: { scrape_interval: 1s, evaluation_interval: 1s, scrape_timeout: 900ms }
rule_files: [rules.yml]
alerting:
  alertmanagers:
    - static_configs: [{ targets: ["127.0.0.1:${alertmanagerPort}"] }]
scrape_configs:
  - job_name: t
    static_configs: [{ targets: ["127.0.0.1:${targetPort}"] }]
`,
  );
  const webPort = await freePort();
  const proc = spawn(
    '/usr/bin/prometheus',
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${webPort}`,
      '--rules.alert.resend-delay=1s',
      '--log.level=info',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const logs: string[] = [];
  proc.stderr!.on('data', (d: Buffer) => logs.push(d.toString()));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  cleanups.push(async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    await exited;
  });
  await waitFor(
    async () => (await fetch(`http://127.0.0.1:${webPort}/-/ready`).catch(() => undefined))?.status === 200,
    'Prometheus to be ready',
    60_000,
  );
  return { proc, logs };
}

describe('alertmanager receiver: a real Prometheus', () => {
  it('turns the alert for a target that went away into one incident, resolved when the target is back', async () => {
    const daemon: RunningDaemon = await startDaemon(vigilConfig);
    cleanups.push(async () => void (await daemon.stop('SIGKILL')));
    const port = daemon.http[0]!.port;
    const targetPort = await freePort();
    let target = await startTarget(targetPort);
    cleanups.push(() => (target.listening ? stopTarget(target) : undefined));
    const prometheus = await startPrometheus(targetPort, port);
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
