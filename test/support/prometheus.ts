import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './redis.ts';
import { waitFor } from './waitFor.ts';

/** What a test undoes after itself, last first. */
export type Cleanups = (() => Promise<void> | void)[];

/** A scrape target serving one gauge; stopping it is what the alerting rule notices. */
export function startTarget(port: number): Promise<Server> {
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

export function stopTarget(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * A real Prometheus (Debian's) scraping the target every second, with one alerting rule
 * `TargetDown` (`up{job="t"} == 0`, severity critical), sending its alerts to `alertmanagerPort`.
 */
export async function startPrometheus(
  targetPort: number,
  alertmanagerPort: number,
  cleanups: Cleanups,
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
