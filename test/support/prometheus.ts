import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { answersOk, spawnReady } from './readyOnFreePort.ts';

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
  const logs: string[] = [];
  const { proc, exited } = await spawnReady(
    (port) => {
      logs.length = 0;
      const p = spawn(
        '/usr/bin/prometheus',
        [
          `--config.file=${join(dir, 'prometheus.yml')}`,
          `--storage.tsdb.path=${join(dir, 'data')}`,
          `--web.listen-address=127.0.0.1:${port}`,
          '--rules.alert.resend-delay=1s',
          '--log.level=info',
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      p.stderr!.on('data', (d: Buffer) => logs.push(d.toString()));
      return p;
    },
    (port) => answersOk(`http://127.0.0.1:${port}/-/ready`),
    'Prometheus to be ready',
    60_000,
  );
  cleanups.push(async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    await exited;
  });
  return { proc, logs };
}
