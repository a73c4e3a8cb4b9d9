import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type RunningDaemon } from '../support/daemon.ts';
import { emptyLogRecords, encode, LOGS_REQ, logsRequest, prefixed, rawCall } from '../receivers/otlp/harness.ts';

// The chart's heap: before the record cap, each attack below ended in an out-of-memory exit.
const HEAP_MIB = 768;
const config = `
receivers:
  json: { endpoint: 127.0.0.1:0 }
  otlp:
    protocols:
      grpc: { endpoint: 127.0.0.1:0 }
      http: { endpoint: 127.0.0.1:0 }
exporters:
  file/events: { path: events.ndjson }
service:
  pipelines:
    logs: { receivers: [json, otlp], exporters: [file/events] }
  telemetry:
    metrics: { endpoint: 127.0.0.1:0 }
    logs: { level: info }
`;

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) / 1024;
}

const CAP_REASON =
  /^more than 10000 records in one request, over max_records_per_request; send smaller batches or raise receivers\.(otlp\.protocols\.(grpc|http)|json)\.max_records_per_request$/;

let daemon: RunningDaemon;
let grpcAddress: string;
let baseline: number;

beforeAll(async () => {
  daemon = await startDaemon(config, { env: { NODE_OPTIONS: `--max-old-space-size=${HEAP_MIB}` } });
  const line = daemon.logs
    .map((l) => JSON.parse(l) as { msg?: string; grpc?: { port: number } })
    .find((l) => l.msg === 'OTLP gRPC listening');
  grpcAddress = `127.0.0.1:${line!.grpc!.port}`;
  await normalRequestsAccepted();
  baseline = rssMiB(daemon.proc.pid!);
});

afterAll(async () => {
  await daemon?.stop('SIGKILL');
});

async function normalRequestsAccepted(): Promise<void> {
  const ok = await rawCall(grpcAddress, prefixed(encode(LOGS_REQ, logsRequest([{ body: { stringValue: 'normal' } }]))));
  expect(ok.grpcStatus, ok.grpcMessage).toBe(0);
  const res = await fetch(daemon.url('/v1/events'), {
    method: 'POST',
    body: JSON.stringify({ asset: 'normal' }),
    headers: { 'content-type': 'application/json' },
  });
  expect(res.status).toBe(200);
}

async function expectAliveAndBounded(): Promise<void> {
  expect(daemon.proc.exitCode).toBeNull();
  // A request's raw bytes (up to 20 MiB, plus its decompression) may stay until the next GC; millions of events may not.
  expect(rssMiB(daemon.proc.pid!) - baseline).toBeLessThan(200);
  await normalRequestsAccepted();
}

describe('record-count amplification through the real listeners', () => {
  it('refuses a 4 KB gzip gRPC message of 2 million empty log records', async () => {
    const message = emptyLogRecords(2_000_000);
    const gz = gzipSync(message, { level: 9 });
    expect(gz.length).toBeLessThan(5000);
    const res = await rawCall(grpcAddress, prefixed(gz, 1), { 'grpc-encoding': 'gzip' });
    expect(res.grpcStatus).toBe(8); // RESOURCE_EXHAUSTED
    expect(res.grpcMessage).toMatch(CAP_REASON);
    // Permanent: no RetryInfo, so OTLP clients do not retry it.
    expect(res.headers['grpc-status-details-bin']).toBeUndefined();
    await expectAliveAndBounded();
  });

  it('refuses a plain 1 MB gRPC message of empty log records', async () => {
    const res = await rawCall(grpcAddress, prefixed(emptyLogRecords(500_000)));
    expect(res.grpcStatus).toBe(8);
    expect(res.grpcMessage).toMatch(CAP_REASON);
    expect(res.headers['grpc-status-details-bin']).toBeUndefined();
    await expectAliveAndBounded();
  });

  it('refuses the same over OTLP/HTTP protobuf with 413', async () => {
    const res = await fetch(daemon.url('/v1/logs'), {
      method: 'POST',
      body: gzipSync(emptyLogRecords(2_000_000)),
      headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' },
    });
    expect(res.status).toBe(413);
    expect(res.headers.get('retry-after')).toBeNull();
    await res.arrayBuffer();
    await expectAliveAndBounded();
  });

  it('refuses a ~20 KB gzip JSON array of {} and an NDJSON one with 413 and the reason', async () => {
    const n = 6_900_000;
    const bodies: [string, Buffer][] = [
      ['application/json', gzipSync(`[${'{},'.repeat(n - 1)}{}]`, { level: 9 })],
      ['application/x-ndjson', gzipSync('{}\n'.repeat(n), { level: 9 })],
    ];
    for (const [contentType, body] of bodies) {
      expect(body.length).toBeLessThan(25_000);
      const res = await fetch(daemon.url('/v1/events'), {
        method: 'POST',
        body,
        headers: { 'content-type': contentType, 'content-encoding': 'gzip' },
      });
      expect(res.status).toBe(413);
      expect(res.headers.get('retry-after')).toBeNull();
      const answer = (await res.json()) as { error: string; code: string };
      expect(answer.code).toBe('VIGIL_TOO_MANY_RECORDS');
      expect(answer.error).toMatch(CAP_REASON);
      await expectAliveAndBounded();
    }
    const metrics = await (await fetch(daemon.adminUrl('/metrics'))).text();
    // Counted until the cap was passed, not to the end: each request counts at least 10,001.
    const rejected = /vigil_receiver_rejected_records_total\{receiver="json",signal="logs"\} (\d+)/.exec(metrics);
    expect(Number(rejected?.[1])).toBeGreaterThan(2 * 10_000);
    expect(Number(rejected?.[1])).toBeLessThan(2 * n);
    expect(metrics).toMatch(/vigil_receiver_requests_total\{receiver="otlp",outcome="invalid"\} 3/);
  });
});
