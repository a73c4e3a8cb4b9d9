import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { freePort } from './redis.ts';

const BUILD = resolve(import.meta.dirname, 'buildCollector.sh');

/**
 * The OpenTelemetry Collector built by buildCollector.sh (CI builds it before the tests; here it
 * is built on first use, which takes minutes, then cached).
 */
export function collectorBinary(): string {
  return execFileSync('bash', [BUILD], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
    .trim()
    .split('\n')
    .pop()!;
}

export interface RunningCollector {
  proc: ChildProcess;
  /** Everything it printed so far (the debug exporter writes there). */
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** An OTLP gateway: the otlp receiver on the given ports, every pipeline to the debug exporter in detail. */
export function startCollector(binary: string, grpcPort: number, httpPort: number): Promise<RunningCollector> {
  return runCollector(binary, collectorConfig(grpcPort, httpPort, 'debug: { verbosity: detailed }'));
}

/**
 * The Collector's config: the otlp receiver on the given ports (0: none), every pipeline to the one
 * exporter given as `<type>: <config>` (in flow style, on one line).
 */
export function collectorConfig(grpcPort: number, httpPort: number, exporter: string): string {
  const id = exporter.slice(0, exporter.indexOf(':'));
  return `
receivers:
  otlp:
    protocols:
${grpcPort ? `      grpc: { endpoint: 127.0.0.1:${grpcPort} }\n` : ''}      http: { endpoint: 127.0.0.1:${httpPort} }
exporters:
  ${exporter}
service:
  telemetry: { metrics: { level: none } }
  pipelines:
    logs: { receivers: [otlp], exporters: [${id}] }
    metrics: { receivers: [otlp], exporters: [${id}] }
    traces: { receivers: [otlp], exporters: [${id}] }
`;
}

/** Runs the Collector on a config given as YAML text, once it says it is ready. */
export async function runCollector(binary: string, configYaml: string): Promise<RunningCollector> {
  const proc = spawn(binary, ['--config', `yaml:${configYaml}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise<number | null>((res) => proc.on('exit', (code) => res(code)));
  await new Promise<void>((res, rej) => {
    const onData = (d: Buffer) => {
      out += d.toString();
      if (out.includes('Everything is ready')) res();
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    void exited.then((code) => rej(new Error(`the Collector exited with ${code} before it was ready:\n${out}`)));
  });
  return {
    proc,
    output: () => out,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

/**
 * A Collector on `configOn(port)`, a port freePort found; started again on a new port when its
 * process exits before it is ready (another socket took the port in between), five times at most.
 */
export async function runCollectorOnFreePort(
  binary: string,
  configOn: (port: number) => string,
): Promise<RunningCollector & { port: number }> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    try {
      return { ...(await runCollector(binary, configOn(port))), port };
    } catch (err) {
      if (attempt >= 4) throw err;
    }
  }
}

/** Records the debug exporter reported, by signal: the sums of its per-batch summary lines. */
export function collectorCounts(output: string): { logs: number; dataPoints: number; spans: number } {
  const sum = (re: RegExp) => [...output.matchAll(re)].reduce((n, m) => n + Number(m[1]), 0);
  return {
    logs: sum(/"log records": (\d+)/g),
    dataPoints: sum(/"data points": (\d+)/g),
    spans: sum(/"spans": (\d+)/g),
  };
}

/** Log bodies as the debug exporter prints string bodies: `Body: Str(<text, maybe several lines>)`, then the next field. */
export function collectorLogBodies(output: string): string[] {
  return [...output.matchAll(/^Body: Str\(([\s\S]*?)\)\n(?=Attributes:|Trace ID:)/gm)].map((m) => m[1]!);
}
