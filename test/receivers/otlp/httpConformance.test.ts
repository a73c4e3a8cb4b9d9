import { deflateSync, gzipSync, zstdCompressSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { decode, encode, LOGS_REQ, LOGS_RES, logsRequest, startOtlp, TRACES_RES, type OtlpHarness } from './harness.ts';

let h: OtlpHarness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

const PROTO = { 'content-type': 'application/x-protobuf' };
const JSON_CT = { 'content-type': 'application/json' };
const HTTP = 'protocols: { http: { endpoint: 127.0.0.1:0, max_request_body_size: 64KiB } }';

const goodRecord = (body: string) => ({
  timeUnixNano: 1763892000123456789n.toString(),
  severityNumber: 9,
  body: { stringValue: body },
});

async function post(path: string, body: Buffer | string, headers: Record<string, string>) {
  const res = await fetch(h!.httpUrl(path), { method: 'POST', body, headers });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

const STATUS = 'google.rpc.Status';

describe('OTLP/HTTP answers', () => {
  it('keeps the good records and reports the rejected ones as partial_success, in the request encoding', async () => {
    h = await startOtlp(HTTP);
    const req = encode(
      LOGS_REQ,
      logsRequest([goodRecord('a'), { ...goodRecord('bad id'), traceId: Buffer.alloc(5, 1) }, goodRecord('b')]),
    );
    const res = await post('/v1/logs', req, PROTO);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-protobuf');
    expect(decode(LOGS_RES, res.body)).toEqual({
      partialSuccess: {
        rejectedLogRecords: 1,
        errorMessage: expect.stringMatching(/traceId must be 16 bytes \(32 hex digits\)/),
      },
    });
    await expect.poll(() => h!.captured.logs.map((e) => e.body)).toEqual(['a', 'b']);

    const spans = {
      resourceSpans: [
        {
          scopeSpans: [
            {
              spans: [
                {
                  traceId: '5B8EFFF798038103D269B633813FC60C',
                  spanId: 'EEE19B7EC3C1B174',
                  name: 'ok',
                  kind: 2,
                  startTimeUnixNano: '1',
                  endTimeUnixNano: 2,
                },
                { traceId: 'W47/95gDgQPSabYzgT/GDA==', spanId: '7u4Zfs7BsXQ=', name: 'base64 ids' },
              ],
            },
          ],
        },
      ],
    };
    const jres = await post('/v1/traces', JSON.stringify(spans), JSON_CT);
    expect(jres.status).toBe(200);
    expect(JSON.parse(jres.body.toString())).toEqual({
      partialSuccess: {
        rejectedSpans: '1',
        errorMessage: expect.stringContaining('span "base64 ids": traceId must be 16 bytes'),
      },
    });
    await expect
      .poll(() => h!.captured.traces)
      .toMatchObject([
        {
          name: 'ok',
          traceId: '5b8efff798038103d269b633813fc60c',
          spanId: 'eee19b7ec3c1b174',
          kind: 2,
          startTimeUnixNano: 1n,
          endTimeUnixNano: 2n,
        },
      ]);

    // A full success is an empty response message.
    const ok = await post('/v1/traces', JSON.stringify({ resourceSpans: [] }), JSON_CT);
    expect(JSON.parse(ok.body.toString())).toEqual({});
    expect(decode(TRACES_RES, (await post('/v1/traces', Buffer.alloc(0), PROTO)).body)).toEqual({});
  });

  it('answers malformed input with 400 and a google.rpc.Status, and keeps serving', async () => {
    h = await startOtlp(HTTP);
    const valid = encode(LOGS_REQ, logsRequest([goodRecord('x')]));
    const truncated = await post('/v1/logs', valid.subarray(0, valid.length - 3), PROTO);
    expect(truncated.status).toBe(400);
    expect(decode(STATUS, truncated.body)).toMatchObject({
      code: 3,
      message: expect.stringMatching(/^request body is not a valid protobuf message/),
    });

    const badJson = await post('/v1/logs', '{"resourceLogs": [', JSON_CT);
    expect(badJson.status).toBe(400);
    expect(JSON.parse(badJson.body.toString())).toMatchObject({
      code: 3,
      message: expect.stringMatching(/not valid JSON/),
    });

    const wrongShape = await post('/v1/logs', JSON.stringify({ resourceLogs: { oops: 1 } }), JSON_CT);
    expect(wrongShape.status).toBe(400);
    expect(JSON.parse(wrongShape.body.toString()).message).toBe('resourceLogs must be an array, got {"oops":1}');

    const badGzip = await post('/v1/logs', gzipSync(valid).subarray(0, 20), { ...PROTO, 'content-encoding': 'gzip' });
    expect(badGzip.status).toBe(400);
    expect(decode(STATUS, badGzip.body).message).toMatch(/could not be read or decompressed/);

    const text = await post('/v1/logs', 'hello', { 'content-type': 'text/plain' });
    expect(text.status).toBe(415);
    expect(JSON.parse(text.body.toString()).message).toMatch(/send application\/x-protobuf or application\/json/);

    const brotli = await post('/v1/logs', valid, { ...PROTO, 'content-encoding': 'br' });
    expect(brotli.status).toBe(415);

    const get = await fetch(h.httpUrl('/v1/logs'));
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');

    expect((await post('/v1/logs', valid, PROTO)).status).toBe(200);
    await expect.poll(() => h!.captured.logs).toHaveLength(1);
  });

  it('takes gzip, deflate and zstd bodies and limits the decompressed size (413), bombs included', async () => {
    h = await startOtlp(HTTP);
    const valid = encode(LOGS_REQ, logsRequest([goodRecord('compressed')]));
    for (const [encoding, body] of [
      ['gzip', gzipSync(valid)],
      ['deflate', deflateSync(valid)],
      ['zstd', zstdCompressSync(valid)],
    ] as const) {
      expect((await post('/v1/logs', body, { ...PROTO, 'content-encoding': encoding })).status, encoding).toBe(200);
    }
    await expect.poll(() => h!.captured.logs).toHaveLength(3);

    const big = encode(LOGS_REQ, logsRequest([goodRecord('x'.repeat(70 * 1024))]));
    const tooBig = await post('/v1/logs', big, PROTO);
    expect(tooBig.status).toBe(413);
    expect(decode(STATUS, tooBig.body).message).toMatch(/exceeds the limit of 65536 bytes/);

    // One record whose body inflates to 8 MiB: well-formed as far as it is read, so the size stops it.
    const bomb = gzipSync(encode(LOGS_REQ, logsRequest([goodRecord('x'.repeat(8 * 1024 * 1024))])));
    expect(bomb.length).toBeLessThan(64 * 1024);
    const bombAnswer = await post('/v1/logs', bomb, { ...PROTO, 'content-encoding': 'gzip' });
    expect(bombAnswer.status).toBe(413);
    expect(decode(STATUS, bombAnswer.body).message).toMatch(/exceeds the limit of 65536 bytes/);
    // Zeros are no protobuf message: refused within the first chunk inflated, before the size.
    const zeros = await post('/v1/logs', gzipSync(Buffer.alloc(8 * 1024 * 1024)), {
      ...PROTO,
      'content-encoding': 'gzip',
    });
    expect(zeros.status).toBe(400);
    expect(decode(STATUS, zeros.body).message).toMatch(/not a valid protobuf message: invalid tag 0 at offset 1/);
    expect(
      (
        await post('/v1/logs', zstdCompressSync(Buffer.alloc(8 * 1024 * 1024)), {
          ...JSON_CT,
          'content-encoding': 'zstd',
        })
      ).status,
    ).toBe(413);
    await h.stop();
    expect(h.captured.logs).toHaveLength(3);
  });

  it('answers 429 with Retry-After and RetryInfo when the pipeline is full, then recovers', async () => {
    h = await startOtlp(HTTP, { queueSize: 4, acknowledge: 'queued', pipelines: ['logs'] });
    const release = h.hold();
    const req = (n: number) => encode(LOGS_REQ, logsRequest(Array.from({ length: n }, (_, i) => goodRecord(`r${i}`))));
    expect((await post('/v1/logs', req(3), PROTO)).status).toBe(200); // taken by the worker, held
    expect((await post('/v1/logs', req(3), PROTO)).status).toBe(200); // queued: 3 of 4
    const refused = await post('/v1/logs', req(3), PROTO);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');
    const status = decode(STATUS, refused.body) as { code: number; details: { type_url: string; value: Uint8Array }[] };
    expect(status.code).toBe(8);
    expect(status.details[0]!.type_url).toBe('type.googleapis.com/google.rpc.RetryInfo');
    expect(decode('google.rpc.RetryInfo', status.details[0]!.value)).toEqual({ retryDelay: { seconds: 1 } });

    const refusedJson = await post(
      '/v1/logs',
      JSON.stringify(logsRequest([goodRecord('a'), goodRecord('b'), goodRecord('c')])),
      JSON_CT,
    );
    expect(refusedJson.status).toBe(429);
    expect(JSON.parse(refusedJson.body.toString())).toMatchObject({
      code: 8,
      details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '1s' }],
    });

    release();
    await new Promise((r) => setImmediate(r));
    expect((await post('/v1/logs', req(3), PROTO)).status).toBe(200);
    await h.stop();
    await expect.poll(() => h!.captured.logs).toHaveLength(9);
    expect(await h.service.metrics.metrics()).toMatch(
      /vigil_receiver_refused_records_total\{receiver="otlp",signal="logs",transport="http"\} 6/,
    );
  });

  it('answers 404 for a signal without a pipeline, as the OTel Collector does', async () => {
    h = await startOtlp(HTTP, { pipelines: ['logs'] });
    expect((await post('/v1/metrics', JSON.stringify({ resourceMetrics: [] }), JSON_CT)).status).toBe(404);
  });

  it('requires a known bearer token when auth is on and stamps its tenant', async () => {
    h = await startOtlp(`${HTTP}\nauth: { bearer_tokens: { s3cret-a: tenant-a, s3cret-b: tenant-b } }`, {
      pipelines: ['logs'],
    });
    const body = encode(LOGS_REQ, logsRequest([goodRecord('x')]));
    const none = await post('/v1/logs', body, PROTO);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    expect(decode(STATUS, none.body)).toMatchObject({
      code: 16,
      message: expect.stringMatching(/missing bearer token/),
    });
    expect((await post('/v1/logs', body, { ...PROTO, authorization: 'Bearer wrong' })).status).toBe(401);
    expect((await post('/v1/logs', body, { ...PROTO, authorization: 'Bearer s3cret-b' })).status).toBe(200);
    await expect.poll(() => h!.captured.logs.map((e) => e.tenant)).toEqual(['tenant-b']);
  });

  it('answers CORS preflights for allowed origins only', async () => {
    h = await startOtlp(
      `protocols:\n  http:\n    endpoint: 127.0.0.1:0\n    cors: { allowed_origins: ['https://*.example.com'], allowed_headers: [x-app], max_age: 10m }`,
      { pipelines: ['logs'] },
    );
    const pre = await fetch(h.httpUrl('/v1/logs'), {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(pre.headers.get('access-control-allow-headers')).toBe(
      'content-type, content-encoding, authorization, x-app',
    );
    expect(pre.headers.get('access-control-max-age')).toBe('600');
    const denied = await fetch(h.httpUrl('/v1/logs'), {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.test', 'access-control-request-method': 'POST' },
    });
    expect(denied.status).toBe(403);
    const res = await fetch(h.httpUrl('/v1/logs'), {
      method: 'POST',
      body: JSON.stringify(logsRequest([goodRecord('x')])),
      headers: { ...JSON_CT, origin: 'https://app.example.com' },
    });
    expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
  });
});
