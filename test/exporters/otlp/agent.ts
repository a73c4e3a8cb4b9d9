import { expect } from 'vitest';
import { startDaemon, type RunningDaemon } from '../../support/daemon.ts';
import { grpcPort, otlpToFilesConfig, type Endpoints } from '../../receivers/otlp/sdkClients.ts';

export type ExporterKind = 'otlp_grpc' | 'otlp_http';

export interface Ports {
  grpc: number;
  http: number;
}

const retry = `
    retry_on_failure: { initial_interval: 100ms, max_interval: 500ms }`;

/** The agent's exporter to a gateway on `gw`: gRPC in plain text with gzip, HTTP with zstd. */
function exporterYaml(kind: ExporterKind, gw: Ports): string {
  if (kind === 'otlp_grpc') {
    return `  otlp_grpc/gateway:
    endpoint: 127.0.0.1:${gw.grpc}
    tls: { insecure: true }
    compression: gzip${retry}`;
  }
  return `  otlp_http/gateway:
    endpoint: http://127.0.0.1:${gw.http}
    compression: zstd${retry}`;
}

/** An agent: JSON events and OTLP in, each pipeline to a local file (what it accepted) and to the gateway. */
export function agentConfig(kind: ExporterKind, gw: Ports): string {
  return otlpToFilesConfig()
    .replace('receivers:\n', 'receivers:\n  json: { endpoint: 127.0.0.1:0 }\n')
    .replace('exporters:\n', `exporters:\n${exporterYaml(kind, gw)}\n`)
    .replace(
      'receivers: [otlp], exporters: [file/events]',
      `receivers: [json, otlp], exporters: [file/events, ${kind}/gateway]`,
    )
    .replace('exporters: [file/metrics]', `exporters: [file/metrics, ${kind}/gateway]`)
    .replace('exporters: [file/spans]', `exporters: [file/spans, ${kind}/gateway]`);
}

/** The agent's listeners: the JSON and OTLP/HTTP receivers share one listener, as their endpoints are equal. */
export function agentEndpoints(d: RunningDaemon): Endpoints & { json: string } {
  return {
    grpc: `http://127.0.0.1:${grpcPort(d)}`,
    http: `http://127.0.0.1:${d.http[0]!.port}`,
    json: d.url('/v1/events', 0),
  };
}

/** Posts `n` JSON events whose bodies are `<tag>-<i>`. */
export async function postEvents(d: RunningDaemon, tag: string, n: number): Promise<void> {
  const body = Array.from({ length: n }, (_, i) => ({
    message: `${tag}-${i}`,
    asset: `host-${i % 3}`,
    severity: 'error',
    attempt: i,
  }));
  const res = await fetch(agentEndpoints(d).json, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  });
  expect(res.status, await res.text()).toBeLessThan(300);
}

/** The sum of a self-metric's series, from the admin listener. */
export async function metricValue(d: RunningDaemon, name: string): Promise<number> {
  const text = await (await fetch(d.adminUrl('/metrics'))).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

/** Daemons started through it are killed by stopAll(). */
export class Daemons {
  private running: RunningDaemon[] = [];

  async start(config: string, dataDir?: string): Promise<RunningDaemon> {
    const d = await startDaemon(config, { dataDir });
    this.running.push(d);
    return d;
  }

  async stop(d: RunningDaemon): Promise<number | null> {
    this.running = this.running.filter((x) => x !== d);
    return d.stop();
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.running.map((d) => d.stop('SIGKILL')));
    this.running = [];
  }
}
