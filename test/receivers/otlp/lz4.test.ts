import { createServer, request, type Server } from 'node:http';
import { resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import { compressFrameSync } from 'lz4-napi';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  collectorBinary,
  collectorConfig,
  runCollectorOnFreePort,
  type RunningCollector,
} from '../../support/collector.ts';
import { startDaemon, type RunningDaemon } from '../../support/daemon.ts';
import { decode, oneOfEachSignal, startOtlp, type OtlpHarness } from './harness.ts';

let h: OtlpHarness | undefined;
let collector: RunningCollector | undefined;
let relay: Server | undefined;
let daemon: RunningDaemon | undefined;
afterEach(async () => {
  await collector?.stop('SIGKILL');
  await new Promise((r) => (relay ? relay.close(r) : r(undefined)));
  await daemon?.stop();
  await h?.stop();
  h = collector = relay = daemon = undefined;
});

const HTTP = 'protocols: { http: { endpoint: 127.0.0.1:0, max_request_body_size: 1MiB } }';
const STATUS = 'google.rpc.Status';
const MiB = 1024 * 1024;

async function post(url: string, body: Buffer, encoding: string, type = 'application/x-protobuf') {
  const res = await fetch(url, {
    method: 'POST',
    body,
    headers: { 'content-type': type, 'content-encoding': encoding },
  });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
}

const logText = 'vigil lz4 '.repeat(30_000);
const { logs, metrics, traces } = oneOfEachSignal(logText);
/** An HTTP relay in front of Vigil that notes each request's Content-Encoding and Vigil's answer. */
async function encodingRelay(target: (path: string) => string): Promise<{ url: string; seen: string[] }> {
  const seen: string[] = [];
  relay = createServer((req, res) => {
    const up = request(target(req.url!), { method: req.method, headers: req.headers }, (answer) => {
      seen.push(`${req.headers['content-encoding'] ?? 'none'} ${answer.statusCode}`);
      res.writeHead(answer.statusCode!, answer.headers);
      answer.pipe(res);
    });
    req.pipe(up);
  });
  // Port 0: the kernel picks a free one as it binds, which no other socket can take first.
  await new Promise<void>((r) => relay!.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(relay!.address() as AddressInfo).port}`, seen };
}

describe('OTLP/HTTP with Content-Encoding lz4', () => {
  let binary = '';
  beforeAll(() => {
    binary = collectorBinary();
  }, 900_000);

  it(
    "takes logs, metrics and traces from the Collector's otlp_http exporter with compression: lz4",
    { timeout: 120_000 },
    async () => {
      h = await startOtlp(HTTP);
      const { url, seen } = await encodingRelay((path) => h!.httpUrl(path));
      const started = await runCollectorOnFreePort(binary, (port) =>
        collectorConfig(0, port, `otlp_http: { endpoint: "${url}", compression: lz4 }`),
      );
      collector = started;
      const sender = (path: string) => `http://127.0.0.1:${started.port}${path}`;
      expect((await post(sender('/v1/logs'), logs, 'identity')).status).toBe(200);
      expect((await post(sender('/v1/metrics'), metrics, 'identity')).status).toBe(200);
      expect((await post(sender('/v1/traces'), traces, 'identity')).status).toBe(200);
      await expect
        .poll(() => [h!.captured.logs.length, h!.captured.metrics.length, h!.captured.traces.length], {
          timeout: 60_000,
        })
        .toEqual([1, 1, 1]);
      expect(h.captured.logs[0]!.body).toBe(logText);
      expect(h.captured.metrics[0]).toMatchObject({ name: 'queue.depth' });
      expect(h.captured.traces[0]).toMatchObject({ name: 'GET /cart' });
      // Vigil keeps the records before it answers: the relay sees the answers just after.
      await expect.poll(() => [...seen].sort()).toEqual(['lz4 200', 'lz4 200', 'lz4 200']);
    },
  );

  it('refuses an lz4 bomb with 413 and a corrupt frame with 400, each with the reason, and keeps serving', async () => {
    h = await startOtlp(HTTP);
    const bomb = compressFrameSync(Buffer.alloc(64 * MiB));
    expect(bomb.length).toBeLessThan(MiB);
    const refused = await post(h.httpUrl('/v1/logs'), bomb, 'lz4');
    expect(refused.status).toBe(413);
    expect(decode(STATUS, refused.body).message).toMatch(/exceeds the limit of 1048576 bytes/);

    const frame = compressFrameSync(logs, { contentChecksum: true });
    const truncated = await post(h.httpUrl('/v1/logs'), frame.subarray(0, frame.length - 6), 'lz4');
    expect(truncated.status).toBe(400);
    expect(decode(STATUS, truncated.body).message).toMatch(/^lz4 body is corrupt: the body ends inside/);
    const flipped = Buffer.from(frame);
    flipped[flipped.length - 1] = flipped[flipped.length - 1]! ^ 0xff;
    const badSum = await post(h.httpUrl('/v1/logs'), flipped, 'lz4');
    expect(badSum.status).toBe(400);
    expect(decode(STATUS, badSum.body).message).toBe('lz4 body is corrupt: the content fails its checksum');
    const snappyUnderLz4 = await post(h.httpUrl('/v1/logs'), Buffer.from('not a frame'), 'lz4');
    expect(snappyUnderLz4.status).toBe(400);
    expect(decode(STATUS, snappyUnderLz4.body).message).toMatch(/is not an LZ4 frame magic number/);

    expect(h.captured.logs.length).toBe(0);
    expect((await post(h.httpUrl('/v1/logs'), frame, 'lz4')).status).toBe(200);
    await expect.poll(() => h!.captured.logs.length).toBe(1);
    expect(h.captured.logs[0]!.body).toBe(logText);
  });

  it(
    'answers 415 naming lz4 and the package to install where lz4-napi is not installed, and keeps serving',
    { timeout: 60_000 },
    async () => {
      daemon = await startDaemon(
        `
receivers:
  otlp: { protocols: { http: { endpoint: 127.0.0.1:0 } } }
exporters:
  file: { path: logs.ndjson }
service:
  pipelines:
    logs: { receivers: [otlp], exporters: [file] }
  telemetry: { metrics: { endpoint: 127.0.0.1:0 } }
`,
        {
          env: {
            NODE_OPTIONS: `--import ${resolve(import.meta.dirname, '../../support/withoutPackages.mjs')}`,
            VIGIL_HIDDEN_PACKAGES: 'lz4-napi',
          },
        },
      );
      const res = await post(daemon.url('/v1/logs'), compressFrameSync(logs), 'lz4');
      expect(res.status).toBe(415);
      expect(decode(STATUS, res.body).message).toBe(
        'Content-Encoding "lz4" needs the optional package lz4-napi, which is not installed here; use gzip, deflate, zstd, snappy, x-snappy-framed or none',
      );
      expect((await post(daemon.url('/v1/logs'), logs, 'identity')).status).toBe(200);
    },
  );
});
