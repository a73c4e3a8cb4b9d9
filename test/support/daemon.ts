import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { waitFor } from './waitFor.ts';

const CLI = resolve(import.meta.dirname, '../../cmd/vigil.ts');

export interface RunningDaemon {
  proc: ChildProcess;
  dataDir: string;
  /** Bound HTTP ingest addresses, in listener order. */
  http: { host: string; port: number }[];
  admin: { host: string; port: number };
  /** The operators' API, when `api:` is configured. */
  api?: { host: string; port: number };
  logs: string[];
  exited: Promise<number | null>;
  url(path: string, listener?: number): string;
  adminUrl(path: string): string;
  apiUrl(path: string): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts the real `vigil run` as a child process on a YAML config (ports `0` are fine: the
 * bound ports are read from the "Vigil started" log line) and resolves once it listens.
 */
/**
 * Environment that moves every listener of config/vigil.yaml (and the examples) to a free port,
 * so tests using the shipped config run in parallel without colliding.
 */
export const EPHEMERAL_PORTS: Readonly<Record<string, string>> = {
  VIGIL_HTTP_ENDPOINT: '127.0.0.1:0',
  VIGIL_GRPC_ENDPOINT: '127.0.0.1:0',
  VIGIL_ADMIN_ENDPOINT: '127.0.0.1:0',
  VIGIL_SYSLOG_UDP_ENDPOINT: '127.0.0.1:0',
  VIGIL_SYSLOG_TCP_ENDPOINT: '127.0.0.1:0',
  VIGIL_API_ENDPOINT: '127.0.0.1:0',
};

export interface DaemonOptions {
  env?: NodeJS.ProcessEnv;
  dataDir?: string;
  /** Lays the config out in `dataDir` and returns the path for `--config`; default: a plain `vigil.yaml`. */
  writeConfig?: (dataDir: string, configYaml: string) => string;
  /** Starts the daemon under `ulimit -n <fdLimit>`, to see how it lives with a full descriptor table. */
  fdLimit?: number;
}

/**
 * Data directories startDaemon made, removed when this process ends (tests and benchmarks may
 * start a daemon again on one after stopping it). Benchmarks left them behind: a default-config
 * run writes some 800 MB of events and embedded tables there, and a day of runs filled a disk.
 */
const madeDirs: string[] = [];
process.once('exit', () => {
  for (const dir of madeDirs) rmSync(dir, { recursive: true, force: true });
});

export async function startDaemon(configYaml: string, opts: DaemonOptions = {}): Promise<RunningDaemon> {
  let dataDir = opts.dataDir;
  if (dataDir === undefined) madeDirs.push((dataDir = mkdtempSync(join(tmpdir(), 'vigil-test-'))));
  const configFile = opts.writeConfig?.(dataDir, configYaml) ?? join(dataDir, 'vigil.yaml');
  if (!opts.writeConfig) writeFileSync(configFile, configYaml);
  const args = [CLI, 'run', '--config', configFile, '--data-dir', dataDir];
  const [command, argv] =
    opts.fdLimit === undefined
      ? [process.execPath, args]
      : ['bash', ['-c', `ulimit -n ${opts.fdLimit} && exec "$0" "$@"`, process.execPath, ...args]];
  const proc = spawn(command, argv, {
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  const exited = new Promise<number | null>((res) => proc.on('exit', (code) => res(code)));
  type Address = { host: string; port: number };
  const started = new Promise<{ http: Address[]; admin: Address; api?: Address }>((res, rej) => {
    let buf = '';
    proc.stderr!.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) !== -1) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        logs.push(line);
        try {
          const rec = JSON.parse(line) as { msg?: string; http?: Address[]; admin?: Address; api?: Address };
          if (rec.msg === 'Vigil started') res({ http: rec.http ?? [], admin: rec.admin!, api: rec.api });
        } catch {
          /* not a JSON log line */
        }
      }
    });
    void exited.then((code) => rej(new Error(`vigil exited with ${code} before starting:\n${logs.join('\n')}${buf}`)));
  });
  proc.stdout!.resume();
  const { http, admin, api } = await started;
  return {
    proc,
    dataDir,
    http,
    admin,
    api,
    logs,
    exited,
    url: (path, i = 0) => `http://127.0.0.1:${http[i]!.port}${path}`,
    adminUrl: (path) => `http://127.0.0.1:${admin.port}${path}`,
    apiUrl: (path) => {
      if (!api) throw new Error("the daemon serves no operators' API (no api: section)");
      return `http://127.0.0.1:${api.port}${path}`;
    },
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null) proc.kill(signal);
      return exited;
    },
  };
}

/** Runs the CLI to its exit; past `timeoutMs` it is killed and the code is null. */
export function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  timeoutMs?: number,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const p = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // 'close', not 'exit': the process may exit before its stdout and stderr pipes are drained,
    // which on a loaded machine left the last output unread.
    p.on('close', (code) => {
      clearTimeout(timer);
      res({ code, stdout, stderr });
    });
  });
}

/** `vigil apikey create` for a daemon's config and data dir: the new key's secret (`vgk_…`). */
export async function createApiKey(
  configFile: string,
  dataDir: string,
  key: { name: string; role: string; tenant: string },
): Promise<string> {
  const created = await runCli([
    'apikey',
    'create',
    '--name',
    key.name,
    '--role',
    key.role,
    '--tenant',
    key.tenant,
    '--config',
    configFile,
    '--data-dir',
    dataDir,
  ]);
  if (created.code !== 0) throw new Error(`vigil apikey create failed (${created.code}): ${created.stderr}`);
  return created.stdout.trim();
}

/** A ticket exporter for the incidents pipeline: its id and its YAML under `exporters:`. */
export interface TicketExporter {
  id: string;
  yaml: string;
}

/**
 * The config of an agent that takes JSON events on an ephemeral port, correlates them with
 * `correlation` (the block's lines, indented under `correlation:`) and writes the incident
 * changes to `incidents.ndjson` in its data directory (and to `tickets`, when given); its admin
 * listener is ephemeral too.
 */
/** A GLPI ticket exporter on a fake GLPI's API (test/support/fakes/glpi.ts), its tokens the fake's. */
export const glpiExporter = (url: string): TicketExporter => ({
  id: 'glpi',
  yaml: `
  glpi:
    url: ${url}
    app_token: app-token-1
    user_token: user-token-1`,
});

export const correlatingConfig = (correlation: string, tickets?: TicketExporter) => `
receivers:
  json:
    endpoint: 127.0.0.1:0
exporters:
  file/incidents:
    path: incidents.ndjson
  correlation: {}${tickets?.yaml ?? ''}
correlation:
${correlation.replace(/^\n/, '').trimEnd()}
service:
  pipelines:
    logs: { receivers: [json], exporters: [correlation] }
    incidents: { exporters: [file/incidents${tickets ? `, ${tickets.id}` : ''}] }
  telemetry:
    metrics: { endpoint: 127.0.0.1:0 }
`;

/** Posts JSON events to a daemon's `json` receiver and checks that every one was accepted. */
export async function postEvents(d: RunningDaemon, events: object[]): Promise<void> {
  const res = await fetch(d.url('/v1/events'), {
    method: 'POST',
    body: JSON.stringify(events),
    headers: { 'content-type': 'application/json' },
  });
  const body = (await res.json()) as { accepted?: number; rejected?: unknown[] };
  if (body.accepted !== events.length || body.rejected?.length)
    throw new Error(`events not all accepted: ${JSON.stringify(body)}`);
}

/** A pair rule on `asset` without group_wait: a Down opens `asset_down{asset="…"}` at once, its Up resolves it. */
export const DOWN_UP_CORRELATION = `
  tick_interval: 50ms
  defaults: { group_wait: 0s, allowed_lateness: 2h, reopen_window: 0s }
  rules:
    - { kind: pair, name: asset_down, group_by: [asset] }
`;

/**
 * The life of one incident across a crash: a Down for `asset`, `afterDown` awaited and its
 * delivery recorded by the exporter's outbox, the daemon killed (SIGKILL) and started again on the same data dir,
 * the Up, `afterUp` awaited. The kill waits for the outbox to record the delivery: a kill between
 * the destination's answer and that record repeats the delivery (at least once), which is not
 * what these tests are about. Every daemon started is pushed to `running`; the second is
 * returned still running.
 */
export async function downKillUp(
  config: string,
  asset: string,
  waits: { exporter: string; afterDown: () => Promise<void>; afterUp: () => Promise<void> },
  running: RunningDaemon[],
  opts: DaemonOptions = {},
): Promise<RunningDaemon> {
  const first = await startDaemon(config, opts);
  running.push(first);
  await postEvents(first, [{ asset, type: 'down', title: `${asset} unreachable`, level: 'critical' }]);
  await waits.afterDown();
  await waitFor(
    async () => (await incidentsSent(first, waits.exporter)) >= 1,
    `the outbox of ${waits.exporter} to record the delivery`,
  );
  await first.stop('SIGKILL');
  const second = await startDaemon(config, { ...opts, dataDir: first.dataDir });
  running.push(second);
  await postEvents(second, [{ asset, type: 'up', title: `${asset} reachable` }]);
  await waits.afterUp();
  return second;
}

/** Incident changes an exporter has delivered and recorded as delivered in its outbox, from the daemon's /metrics. */
export async function incidentsSent(d: RunningDaemon, exporter: string): Promise<number> {
  const text = await (await fetch(d.adminUrl('/metrics'))).text();
  const m = new RegExp(
    `^vigil_exporter_sent_records_total\\{exporter="${exporter.replace(/[/.]/g, '\\$&')}",signal="incidents"\\} (\\d+)$`,
    'm',
  ).exec(text);
  return m ? Number(m[1]) : 0;
}
