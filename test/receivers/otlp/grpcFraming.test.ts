import { connect, constants, createServer, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { deflateSync, gzipSync, zstdCompressSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { percentEncode, readUnaryMessage } from '../../../src/receivers/otlp/grpcFraming.ts';
import { GrpcCode } from '../../../src/receivers/otlp/status.ts';
import {
  decode,
  encode,
  grpcCall,
  LOGS_EXPORT,
  LOGS_REQ,
  LOGS_RES,
  logsRequest,
  prefixed,
  rawCall,
  startOtlp,
  type OtlpHarness,
} from './harness.ts';

let h: OtlpHarness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

const GRPC = 'protocols: { grpc: { endpoint: 127.0.0.1:0, max_recv_msg_size: 64KiB } }';
const logs = (body: string) =>
  encode(LOGS_REQ, logsRequest([{ timeUnixNano: '1763892000123456789', body: { stringValue: body } }]));

describe('OTLP/gRPC message framing and encodings', () => {
  it('decompresses zstd, gzip and deflate messages and says so in grpc-accept-encoding', async () => {
    h = await startOtlp(GRPC, { pipelines: ['logs'] });
    const encodings: [string, (b: Buffer) => Buffer][] = [
      ['zstd', zstdCompressSync],
      ['gzip', gzipSync],
      ['deflate', deflateSync],
    ];
    for (const [name, compress] of encodings) {
      const res = await rawCall(h.grpcAddress, prefixed(compress(logs(`via ${name}`)), 1), { 'grpc-encoding': name });
      expect(res.grpcStatus, res.grpcMessage).toBe(GrpcCode.OK);
      expect(res.headers['grpc-accept-encoding']).toMatch(/zstd/);
      // An empty response message: five prefix bytes with flag 0 and length 0.
      expect(res.body).toEqual(prefixed(Buffer.alloc(0)));
    }
    await expect.poll(() => h!.captured.logs.map((e) => e.body)).toEqual(['via zstd', 'via gzip', 'via deflate']);
  });

  it('refuses a compressed message that inflates past max_recv_msg_size', async () => {
    h = await startOtlp(GRPC, { pipelines: ['logs'] });
    const bomb = zstdCompressSync(logs('x'.repeat(200 * 1024)));
    expect(bomb.length).toBeLessThan(64 * 1024);
    const res = await rawCall(h.grpcAddress, prefixed(bomb, 1), { 'grpc-encoding': 'zstd' });
    expect(res.grpcStatus).toBe(GrpcCode.RESOURCE_EXHAUSTED);
    expect(res.grpcMessage).toMatch(/limit of 65536 bytes/);
    expect(h.captured.logs).toEqual([]);
  });

  it('answers malformed frames INVALID_ARGUMENT with the fault, never INTERNAL, and keeps serving the connection and the next calls', async () => {
    h = await startOtlp(GRPC, { pipelines: ['logs'] });
    const good = logs('good');
    const cases: [string, Buffer, OutgoingHttpHeaders, number, RegExp][] = [
      [
        'truncated prefix',
        Buffer.from([0, 0, 0]),
        {},
        GrpcCode.INVALID_ARGUMENT,
        /ended inside a message \(3 of 5 bytes\)/,
      ],
      ['truncated message', prefixed(good).subarray(0, 20), {}, GrpcCode.INVALID_ARGUMENT, /ended inside a message/],
      ['no message at all', Buffer.alloc(0), {}, GrpcCode.INVALID_ARGUMENT, /no message/],
      ['length past the maximum', prefixed(good, 0, 1 << 30), {}, GrpcCode.RESOURCE_EXHAUSTED, /limit of 65536 bytes/],
      ['bad compressed flag', prefixed(good, 2), {}, GrpcCode.INVALID_ARGUMENT, /compressed flag 2/],
      [
        'compressed flag without grpc-encoding',
        prefixed(good, 1),
        {},
        GrpcCode.INVALID_ARGUMENT,
        /without a grpc-encoding/,
      ],
      [
        'corrupt zstd',
        prefixed(good, 1),
        { 'grpc-encoding': 'zstd' },
        GrpcCode.INVALID_ARGUMENT,
        /could not be decompressed/,
      ],
      [
        'two messages in a unary call',
        Buffer.concat([prefixed(good), prefixed(good)]),
        {},
        GrpcCode.INVALID_ARGUMENT,
        /more than one request message/,
      ],
      // resource_logs (field 1) claiming 127 bytes when 1 follows: a message cut short inside.
      ['malformed protobuf', prefixed(Buffer.from([0x0a, 0x7f, 0x00])), {}, GrpcCode.INVALID_ARGUMENT, /./],
      [
        'unknown grpc-encoding',
        prefixed(good),
        { 'grpc-encoding': 'br' },
        GrpcCode.UNIMPLEMENTED,
        /"br" is not supported/,
      ],
      [
        'unknown method',
        prefixed(good),
        { ':path': '/opentelemetry.proto.collector.logs.v1.LogsService/Nope' },
        GrpcCode.UNIMPLEMENTED,
        /unknown method/,
      ],
    ];
    for (const [name, body, headers, code, message] of cases) {
      const res = await rawCall(h.grpcAddress, body, headers);
      expect(res.grpcStatus, name).toBe(code);
      expect(res.grpcMessage, name).toMatch(message);
    }
    expect(h.captured.logs).toEqual([]);

    // A client that cancels halfway through its message.
    const session = connect(`http://${h.grpcAddress}`);
    const cancelled = session.request({ ':method': 'POST', ':path': LOGS_EXPORT, 'content-type': 'application/grpc' });
    cancelled.write(prefixed(good).subarray(0, 10));
    await new Promise<void>((resolve) => {
      cancelled.on('close', () => resolve());
      cancelled.close(constants.NGHTTP2_CANCEL);
    });
    session.close();

    const notGrpc = await rawCall(h.grpcAddress, prefixed(good), { 'content-type': 'application/json' });
    expect(notGrpc.httpStatus).toBe(415);
    expect(notGrpc.grpcStatus).toBe(GrpcCode.INTERNAL);

    const after = await grpcCall(h.grpcAddress, LOGS_EXPORT, good);
    expect(after.error).toBeNull();
    expect(decode(LOGS_RES, after.response!)).toEqual({});
    await expect.poll(() => h!.captured.logs.map((e) => e.body)).toEqual(['good']);
  });

  it('takes its listeners off the stream once the message is read or refused', async () => {
    // A finished HTTP/2 stream outlives its call until a full collection; what its listeners
    // reach (chunks, lease, record counter) must not go with it.
    const events = ['data', 'end', 'error', 'close'] as const;
    const listeners = (s: ServerHttp2Stream) => events.flatMap((e) => s.listeners(e));
    const seen: { left: number; outcome: string }[] = [];
    const server = createServer();
    server.on('stream', (stream) => {
      stream.on('error', () => {});
      const before = new Set(listeners(stream));
      const read = readUnaryMessage(stream, 64, { timeoutMs: 5000, minBytesPerSecond: 1 });
      const added = listeners(stream).filter((l) => !before.has(l));
      expect(added.length).toBeGreaterThan(0);
      const left = () => listeners(stream).filter((l) => added.includes(l)).length;
      read.then(
        (m) => seen.push({ left: left(), outcome: `${m.payload.length} bytes` }),
        (err: Error) => seen.push({ left: left(), outcome: err.message }),
      );
      stream.respond({ ':status': 200 });
      stream.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const client = connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    try {
      for (const body of [prefixed(Buffer.alloc(10)), prefixed(Buffer.alloc(100))]) {
        const req = client.request({ ':method': 'POST', ':path': '/x' });
        req.end(body);
        req.resume();
        await new Promise((r) => req.on('close', r));
      }
      await expect.poll(() => seen.length).toBe(2);
    } finally {
      client.close();
      await new Promise((r) => server.close(r));
    }
    expect(seen.map((s) => s.outcome)).toEqual(['10 bytes', expect.stringMatching(/limit of 64 bytes/)]);
    expect(seen.map((s) => s.left)).toEqual([0, 0]);
  });

  it('percent-encodes grpc-message outside printable ASCII', () => {
    expect(percentEncode('100% sûr\n')).toBe('100%25 s%C3%BBr%0A');
  });
});
