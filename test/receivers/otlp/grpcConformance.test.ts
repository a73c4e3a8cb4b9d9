import * as grpc from '@grpc/grpc-js';
import { connect } from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import { drainedOrClosed } from '../../support/writable.ts';
import {
  decode,
  encode,
  grpcCall,
  LOGS_EXPORT,
  LOGS_REQ,
  LOGS_RES,
  logsRequest,
  startOtlp,
  type OtlpHarness,
} from './harness.ts';

let h: OtlpHarness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

const GRPC = 'protocols: { grpc: { endpoint: 127.0.0.1:0, max_recv_msg_size: 64KiB } }';
const record = (body: string) => ({ timeUnixNano: '1763892000123456789', body: { stringValue: body } });
const HEALTH_CHECK = '/grpc.health.v1.Health/Check';

describe('OTLP/gRPC answers', () => {
  it('exports, reports partial success, and answers malformed messages with INVALID_ARGUMENT', async () => {
    h = await startOtlp(GRPC);
    const ok = await grpcCall(
      h.grpcAddress,
      LOGS_EXPORT,
      encode(LOGS_REQ, logsRequest([record('a'), { ...record('bad'), spanId: Buffer.alloc(3, 7) }])),
    );
    expect(ok.error).toBeNull();
    expect(decode(LOGS_RES, ok.response!)).toEqual({
      partialSuccess: { rejectedLogRecords: 1, errorMessage: expect.stringMatching(/spanId must be 8 bytes/) },
    });
    await expect.poll(() => h!.captured.logs.map((e) => e.body)).toEqual(['a']);

    const bad = await grpcCall(h.grpcAddress, LOGS_EXPORT, Buffer.from([0x0a, 0x05, 0x01]));
    expect(bad.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(bad.error?.details).toMatch(/not a valid protobuf message/);

    const big = await grpcCall(
      h.grpcAddress,
      LOGS_EXPORT,
      encode(LOGS_REQ, logsRequest([record('x'.repeat(70 * 1024))])),
    );
    expect(big.error?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);

    const gz = await grpcCall(h.grpcAddress, LOGS_EXPORT, encode(LOGS_REQ, logsRequest([record('gzip')])), {
      channelOptions: { 'grpc.default_compression_algorithm': 2 },
    });
    expect(gz.error).toBeNull();
    await expect.poll(() => h!.captured.logs.map((e) => e.body)).toEqual(['a', 'gzip']);

    // An empty request is a valid, empty export.
    const metrics = await grpcCall(
      h.grpcAddress,
      '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
      Buffer.alloc(0),
    );
    expect(metrics.error).toBeNull();
  });

  it('answers RESOURCE_EXHAUSTED with RetryInfo under back-pressure', async () => {
    h = await startOtlp(GRPC, { queueSize: 2, acknowledge: 'queued', pipelines: ['logs'] });
    h.hold();
    // More records than the queue holds: permanent, so RESOURCE_EXHAUSTED without RetryInfo.
    const tooBig = await grpcCall(
      h.grpcAddress,
      LOGS_EXPORT,
      encode(LOGS_REQ, logsRequest([record('a'), record('b'), record('c')])),
    );
    expect(tooBig.error?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(tooBig.error?.details).toBe(
      '3 records in one request, over the queue_size (2) of pipeline "logs"; send smaller batches or raise service.pipelines.logs.queue_size',
    );
    expect(tooBig.error!.metadata.get('grpc-status-details-bin')).toEqual([]);

    const body = encode(LOGS_REQ, logsRequest([record('a'), record('b')]));
    expect((await grpcCall(h.grpcAddress, LOGS_EXPORT, body)).error).toBeNull();
    expect((await grpcCall(h.grpcAddress, LOGS_EXPORT, body)).error).toBeNull();
    const refused = await grpcCall(h.grpcAddress, LOGS_EXPORT, body);
    expect(refused.error?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    const details = refused.error!.metadata.get('grpc-status-details-bin')[0] as Buffer;
    const status = decode('google.rpc.Status', details) as {
      code: number;
      details: { type_url: string; value: Uint8Array }[];
    };
    expect(status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(status.details[0]!.type_url).toBe('type.googleapis.com/google.rpc.RetryInfo');
    expect(decode('google.rpc.RetryInfo', status.details[0]!.value)).toEqual({ retryDelay: { seconds: 1 } });

    const unimplemented = await grpcCall(
      h.grpcAddress,
      '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
      Buffer.alloc(0),
    );
    expect(unimplemented.error?.code).toBe(grpc.status.UNIMPLEMENTED);
  });

  it('asks a client still sending a refused message to stop, without error, instead of reading it all', async () => {
    h = await startOtlp(GRPC);
    const session = connect(`http://${h.grpcAddress}`);
    session.on('error', () => {});
    const stream = session.request({
      ':method': 'POST',
      ':path': LOGS_EXPORT,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    let status: string | undefined;
    stream.on('response', (head) => (status = String(head['grpc-status'])));
    let reset: number | undefined;
    stream.on('close', () => (reset = stream.rstCode));
    stream.on('error', () => {});
    // A 64 MiB message against a 64 KiB limit: refused at its prefix, then sent on regardless.
    const total = 64 * 1024 * 1024;
    const head = Buffer.alloc(5);
    head.writeUInt32BE(total, 1);
    stream.write(head);
    const chunk = Buffer.alloc(64 * 1024);
    let written = 0;
    while (written < total && !stream.closed) {
      written += chunk.length;
      if (!stream.write(chunk)) await drainedOrClosed(stream);
    }
    stream.end();
    await new Promise<void>((resolve) => (stream.closed ? resolve() : stream.on('close', () => resolve())));
    session.close();
    expect(status).toBe(String(grpc.status.RESOURCE_EXHAUSTED));
    expect(reset).toBe(0); // RST_STREAM NO_ERROR (RFC 9113 §8.1), as grpc-go sends
    // Flow control let it get a window or two out before the reset, not the whole message.
    expect(written).toBeLessThan(total / 4);
  });

  it('serves grpc.health.v1 Check for the server and the OTLP services', async () => {
    h = await startOtlp(GRPC, { pipelines: ['logs', 'traces'] });
    const check = async (service: string) => {
      const res = await grpcCall(
        h!.grpcAddress,
        HEALTH_CHECK,
        encode('grpc.health.v1.HealthCheckRequest', { service }),
      );
      return res.error ? res.error.code : decode('grpc.health.v1.HealthCheckResponse', res.response!).status;
    };
    expect(await check('')).toBe(1);
    expect(await check('opentelemetry.proto.collector.logs.v1.LogsService')).toBe(1);
    expect(await check('opentelemetry.proto.collector.metrics.v1.MetricsService')).toBe(grpc.status.NOT_FOUND);
  });

  it('streams health over grpc.health.v1 Watch until the server shuts down', async () => {
    h = await startOtlp(GRPC, { pipelines: ['logs'] });
    const client = new grpc.Client(h.grpcAddress, grpc.credentials.createInsecure());
    const call = client.makeServerStreamRequest(
      '/grpc.health.v1.Health/Watch',
      (b: Buffer) => b,
      (b: Buffer) => b,
      encode('grpc.health.v1.HealthCheckRequest', { service: 'nope' }),
    );
    const first = await new Promise<Buffer>((resolve) => call.once('data', resolve));
    expect(decode('grpc.health.v1.HealthCheckResponse', first).status).toBe(3); // SERVICE_UNKNOWN
    const ended = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    await h.stop();
    expect((await ended).code).toBe(grpc.status.OK);
    client.close();
  });

  it('requires a known bearer token in the authorization metadata when auth is on', async () => {
    h = await startOtlp(`${GRPC}\nauth: { bearer_tokens: { tok-1: acme } }`, { pipelines: ['logs'] });
    const body = encode(LOGS_REQ, logsRequest([record('x')]));
    expect((await grpcCall(h.grpcAddress, LOGS_EXPORT, body)).error?.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(
      (await grpcCall(h.grpcAddress, LOGS_EXPORT, body, { metadata: { authorization: 'Bearer nope' } })).error?.code,
    ).toBe(grpc.status.UNAUTHENTICATED);
    expect(
      (await grpcCall(h.grpcAddress, LOGS_EXPORT, body, { metadata: { authorization: 'Bearer tok-1' } })).error,
    ).toBeNull();
    await expect.poll(() => h!.captured.logs.map((e) => e.tenant)).toEqual(['acme']);
  });
});
