import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import snappyjs from 'snappyjs';
import { afterEach, describe, expect, it } from 'vitest';
import { GrpcCode } from '../../../src/receivers/otlp/status.ts';
import { decode, oneOfEachSignal, prefixed, rawCall, startOtlp, type OtlpHarness } from './harness.ts';
import { framedFixtureRecords } from './snappyFixture.ts';

let h: OtlpHarness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

const HTTP = 'protocols: { http: { endpoint: 127.0.0.1:0, max_request_body_size: 1MiB } }';
const PROTO = { 'content-type': 'application/x-protobuf' };
const STATUS = 'google.rpc.Status';
const testdata = (name: string) => readFileSync(join(import.meta.dirname, 'testdata', name));

async function post(path: string, body: Buffer, encoding: string) {
  const res = await fetch(h!.httpUrl(path), {
    method: 'POST',
    body,
    headers: { ...PROTO, 'content-encoding': encoding },
  });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
}

const { logs, metrics, traces } = oneOfEachSignal('checkout failed');
describe('OTLP/HTTP with Content-Encoding snappy', () => {
  it("takes logs, metrics and traces compressed as snappy blocks, as the Collector's otlp_http exporter sends them", async () => {
    h = await startOtlp(HTTP);
    expect((await post('/v1/logs', snappyjs.compress(logs), 'snappy')).status).toBe(200);
    expect((await post('/v1/metrics', snappyjs.compress(metrics), 'snappy')).status).toBe(200);
    expect((await post('/v1/traces', snappyjs.compress(traces), 'snappy')).status).toBe(200);
    await expect
      .poll(() => [h!.captured.logs.length, h!.captured.metrics.length, h!.captured.traces.length])
      .toEqual([1, 1, 1]);
    expect(h.captured.logs[0]!.body).toBe('checkout failed');
    expect(h.captured.metrics[0]).toMatchObject({ name: 'queue.depth' });
    expect(h.captured.traces[0]).toMatchObject({ name: 'GET /cart' });
  });

  it("takes Go's snappy: a block under snappy, the framing format under x-snappy-framed and, as the Collector does, under snappy", async () => {
    h = await startOtlp(HTTP);
    const expected = framedFixtureRecords().map(
      (r) =>
        (r.body as { stringValue?: string; bytesValue?: Buffer }).stringValue ??
        new Uint8Array((r.body as { bytesValue: Buffer }).bytesValue),
    );
    const cases: [string, string][] = [
      ['logs.snappy', 'snappy'],
      ['logs.x-snappy-framed', 'x-snappy-framed'],
      ['logs.x-snappy-framed', 'snappy'],
    ];
    for (const [file, encoding] of cases) {
      const before = h.captured.logs.length;
      expect((await post('/v1/logs', testdata(file), encoding)).status, `${file} as ${encoding}`).toBe(200);
      await expect.poll(() => h!.captured.logs.length).toBe(before + 2);
      const bodies = h.captured.logs
        .slice(before)
        .map((e) => (typeof e.body === 'string' ? e.body : new Uint8Array(e.body as Uint8Array)));
      expect(bodies, `${file} as ${encoding}`).toEqual(expected);
    }
  });

  it('refuses snappy bombs with 413 from the length they state, and corrupt bodies with 400 and the reason', async () => {
    h = await startOtlp(HTTP);
    const bomb = snappyjs.compress(Buffer.alloc(16 * 1024 * 1024));
    expect(bomb.length).toBeLessThan(1024 * 1024);
    const refused = await post('/v1/logs', bomb, 'snappy');
    expect(refused.status).toBe(413);
    expect(decode(STATUS, refused.body).message).toMatch(/exceeds the limit of 1048576 bytes/);
    expect((await post('/v1/logs', Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), 'snappy')).status).toBe(413);

    const block = snappyjs.compress(logs);
    const truncated = await post('/v1/logs', block.subarray(0, block.length - 4), 'snappy');
    expect(truncated.status).toBe(400);
    expect(decode(STATUS, truncated.body).message).toMatch(/^snappy body is corrupt: /);
    const notFramed = await post('/v1/logs', block, 'x-snappy-framed');
    expect(notFramed.status).toBe(400);
    expect(decode(STATUS, notFramed.body).message).toMatch(/must start with the stream identifier/);
    const framed = Buffer.from(testdata('logs.x-snappy-framed'));
    framed[framed.length - 100] = framed[framed.length - 100]! ^ 0xff;
    const badCrc = await post('/v1/logs', framed, 'x-snappy-framed');
    expect(badCrc.status).toBe(400);
    expect(decode(STATUS, badCrc.body).message).toMatch(/fails its CRC-32C checksum/);
    expect((await post('/v1/logs', Buffer.alloc(0), 'snappy')).status).toBe(400);

    expect((await post('/v1/logs', block, 'snappy')).status).toBe(200);
    await expect.poll(() => h!.captured.logs.length).toBe(1);
  });

  it('answers 415 for encodings it does not take, names that are not encodings included', async () => {
    h = await startOtlp(HTTP);
    for (const encoding of ['br', 'lz4-block', 'constructor', '__proto__', 'toString']) {
      const res = await post('/v1/logs', logs, encoding);
      expect(res.status, encoding).toBe(415);
      expect(decode(STATUS, res.body).message, encoding).toMatch(
        /use gzip, deflate, zstd, snappy, x-snappy-framed, lz4 or none/,
      );
    }
  });
});

describe('OTLP/gRPC with grpc-encoding snappy', () => {
  const GRPC = 'protocols: { grpc: { endpoint: 127.0.0.1:0, max_recv_msg_size: 1MiB } }';

  it("takes Go's framing format, as the Collector's otlp_grpc exporter compresses with snappy, and blocks; refuses bombs and corrupt messages", async () => {
    h = await startOtlp(GRPC, { pipelines: ['logs'] });
    const framed = await rawCall(h.grpcAddress, prefixed(testdata('logs.x-snappy-framed'), 1), {
      'grpc-encoding': 'snappy',
    });
    expect(framed.grpcStatus, framed.grpcMessage).toBe(GrpcCode.OK);
    expect(framed.headers['grpc-accept-encoding']).toMatch(/snappy/);
    const block = await rawCall(h.grpcAddress, prefixed(snappyjs.compress(logs), 1), { 'grpc-encoding': 'snappy' });
    expect(block.grpcStatus, block.grpcMessage).toBe(GrpcCode.OK);
    await expect.poll(() => h!.captured.logs.length).toBe(3);

    const bomb = await rawCall(h.grpcAddress, prefixed(snappyjs.compress(Buffer.alloc(16 * 1024 * 1024)), 1), {
      'grpc-encoding': 'snappy',
    });
    expect(bomb.grpcStatus).toBe(GrpcCode.RESOURCE_EXHAUSTED);
    expect(bomb.grpcMessage).toMatch(/limit of 1048576 bytes/);
    const corrupt = await rawCall(h.grpcAddress, prefixed(snappyjs.compress(logs).subarray(0, 20), 1), {
      'grpc-encoding': 'snappy',
    });
    expect(corrupt.grpcStatus).toBe(GrpcCode.INVALID_ARGUMENT);
    expect(corrupt.grpcMessage).toMatch(/could not be decompressed: snappy body is corrupt/);
    expect(h.captured.logs.length).toBe(3);
  });
});
