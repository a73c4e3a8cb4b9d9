/**
 * telemetrygen, the OpenTelemetry Collector project's load generator, as the benchmarks' OTLP
 * client: installed once with `go install`, run for a set time at full speed.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pin } from './support.ts';

export const TELEMETRYGEN_VERSION = 'v0.161.0';

/** The binary, installed into GOPATH/bin on first use. */
export function telemetrygenBinary(): string {
  const gopath = execFileSync('go', ['env', 'GOPATH'], { encoding: 'utf8' }).trim();
  const bin = join(gopath, 'bin', 'telemetrygen');
  if (!existsSync(bin)) {
    process.stderr.write(`installing telemetrygen ${TELEMETRYGEN_VERSION} (once)\n`);
    execFileSync(
      'go',
      ['install', `github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen@${TELEMETRYGEN_VERSION}`],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
  }
  return bin;
}

export type TelemetrygenSignal = 'logs' | 'metrics' | 'traces';

export interface TelemetrygenLoad {
  endpoint: string;
  http: boolean;
  seconds: number;
  batch: number;
  workers?: number;
  /** The core to pin it to; unpinned without. */
  core?: number;
}

/** Sends logs as fast as the server takes them (`--rate 0`) for `seconds`, export failures allowed. */
export function runTelemetrygenLogs(binary: string, o: TelemetrygenLoad): Promise<void> {
  return runTelemetrygen(binary, 'logs', o);
}

/**
 * Sends `signal` as fast as the server takes them (`--rate 0`) for `seconds`, `batch` records a
 * request, export failures allowed: log records; metrics as cumulative Sum data points (a
 * counter, what SDKs send most); traces as spans (see bench/peers.ts for why it sends spans
 * from Node instead).
 */
export function runTelemetrygen(binary: string, signal: TelemetrygenSignal, o: TelemetrygenLoad): Promise<void> {
  const argv = [
    binary,
    signal,
    ...(signal === 'metrics' ? ['--metric-type', 'Sum'] : []),
    '--otlp-endpoint',
    o.endpoint,
    '--otlp-insecure',
    ...(o.http ? ['--otlp-http'] : []),
    '--rate',
    '0',
    '--workers',
    String(o.workers ?? 4),
    '--batch-size',
    String(o.batch),
    '--duration',
    `${o.seconds}s`,
    '--allow-export-failures',
  ];
  const [cmd, args] = o.core === undefined ? [argv[0]!, argv.slice(1)] : pin(o.core, argv);
  // Its log goes to stderr, a line per batch for metrics (megabytes in a run): only the tail is
  // kept, for the error.
  return new Promise((res, rej) => {
    let err = '';
    const proc = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    proc.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    proc.on('error', rej);
    proc.on('close', (code, signal) =>
      code === 0 ? res() : rej(new Error(`telemetrygen failed (${signal ?? `exit ${code}`})\n${err}`)),
    );
  });
}
