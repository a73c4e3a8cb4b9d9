import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GrpcCode } from '../../../src/receivers/otlp/status.ts';
import { postPieces } from '../../support/postPieces.ts';
import {
  decode,
  emptyLogRecords,
  encode,
  LOGS_REQ,
  logsRequest,
  prefixed,
  rawCall,
  startOtlp,
  type OtlpHarness,
} from './harness.ts';

const CAP = 100;
const STATUS = 'google.rpc.Status';
const REASON = (protocol: string) =>
  new RegExp(
    `^more than ${CAP} records in one request, over max_records_per_request; send smaller batches or raise receivers\\.otlp\\.protocols\\.${protocol}\\.max_records_per_request$`,
  );

let h: OtlpHarness;

beforeAll(async () => {
  h = await startOtlp(
    `protocols:
  grpc: { endpoint: 127.0.0.1:0, max_records_per_request: ${CAP} }
  http: { endpoint: 127.0.0.1:0, max_records_per_request: ${CAP} }`,
    { pipelines: ['logs'] },
  );
});

afterAll(async () => {
  await h?.stop();
});

/**
 * `n` log records over three resource blocks, the records of 1- and 2-byte length prefixes,
 * each named so a test can tell which arrived.
 */
function records(n: number, tag: string): Buffer {
  const thirds = [0, Math.floor(n / 3), Math.floor((2 * n) / 3), n];
  return Buffer.concat(
    [0, 1, 2].map((b) =>
      encode(
        LOGS_REQ,
        logsRequest(
          Array.from({ length: thirds[b + 1]! - thirds[b]! }, (_, i) => ({
            body: { stringValue: `${tag} ${thirds[b]! + i} ${'x'.repeat(i % 2 ? 150 : 3)}` },
          })),
        ),
      ),
    ),
  );
}

/** Splits `body` into pieces of 1 to 13 bytes, so that tags, lengths and varints fall across them. */
function awkwardPieces(body: Buffer): Buffer[] {
  const pieces: Buffer[] = [];
  for (let at = 0, step = 1; at < body.length; at += step, step = (step % 13) + 1)
    pieces.push(body.subarray(at, at + step));
  return pieces;
}

/** Posts protobuf `pieces` to /v1/logs: see postPieces. */
const postLogPieces = (pieces: Buffer[], headers: Record<string, string>, declared?: number) =>
  postPieces(h.httpUrl('/v1/logs'), pieces, { 'content-type': 'application/x-protobuf', ...headers }, declared);

const stored = (tag: string) => h.captured.logs.filter((e) => String(e.body).startsWith(`${tag} `)).length;

describe('OTLP protobuf records counted while the body streams in', () => {
  it('OTLP/HTTP takes exactly max_records_per_request and refuses one more (413 with the reason), plain and gzip, cut anywhere', async () => {
    for (const gzip of [false, true]) {
      const encoding: Record<string, string> = gzip ? { 'content-encoding': 'gzip' } : {};
      const pack = (b: Buffer) => awkwardPieces(gzip ? gzipSync(b) : b);
      const at = await postLogPieces(pack(records(CAP, `http-at-${gzip}`)), encoding);
      expect(at.status, `gzip ${gzip}`).toBe(200);
      await expect.poll(() => stored(`http-at-${gzip}`)).toBe(CAP);

      const over = await postLogPieces(pack(records(CAP + 1, `http-over-${gzip}`)), encoding);
      expect(over.status, `gzip ${gzip}`).toBe(413);
      expect(decode(STATUS, over.body).message).toMatch(REASON('http'));
    }
    expect(stored('http-over-false') + stored('http-over-true')).toBe(0);
  });

  it('OTLP/gRPC does the same (RESOURCE_EXHAUSTED), plain and gzip, cut anywhere', async () => {
    for (const gzip of [false, true]) {
      const call = (tag: string, n: number) =>
        rawCall(
          h.grpcAddress,
          awkwardPieces(gzip ? prefixed(gzipSync(records(n, tag)), 1) : prefixed(records(n, tag))),
          gzip ? { 'grpc-encoding': 'gzip' } : {},
        );
      const at = await call(`grpc-at-${gzip}`, CAP);
      expect(at.grpcStatus, at.grpcMessage).toBe(GrpcCode.OK);
      await expect.poll(() => stored(`grpc-at-${gzip}`)).toBe(CAP);

      const over = await call(`grpc-over-${gzip}`, CAP + 1);
      expect(over.grpcStatus, `gzip ${gzip}`).toBe(GrpcCode.RESOURCE_EXHAUSTED);
      expect(over.grpcMessage).toMatch(REASON('grpc'));
    }
    expect(stored('grpc-over-false') + stored('grpc-over-true')).toBe(0);
  });

  it('answers a body past the cap before the rest of it is sent (HTTP plain and gzip, gRPC plain)', async () => {
    // 2 M empty records: 4 MB plain, 4 KB of gzip; only the first part is sent and the
    // request is left open, so the answer can only come from counting what arrived.
    const body = emptyLogRecords(2_000_000);
    const plain = await postLogPieces([body.subarray(0, 16 * 1024)], {}, body.length);
    expect(plain.status).toBe(413);
    expect(decode(STATUS, plain.body).message).toMatch(REASON('http'));

    const gz = gzipSync(body);
    const gzip = await postLogPieces([gz.subarray(0, gz.length >> 1)], { 'content-encoding': 'gzip' }, gz.length);
    expect(gzip.status).toBe(413);
    expect(decode(STATUS, gzip.body).message).toMatch(REASON('http'));

    const grpc = await rawCall(h.grpcAddress, [prefixed(body).subarray(0, 16 * 1024)], {}, false);
    expect(grpc.grpcStatus).toBe(GrpcCode.RESOURCE_EXHAUSTED);
    expect(grpc.grpcMessage).toMatch(REASON('grpc'));
  });

  it('refuses a body that lies about a length as soon as the lie is read, with the offset', async () => {
    // A resource block of 4 bytes holding a record that claims 5.
    const lie = Buffer.from([0x0a, 0x04, 0x12, 0x02, 0x12, 0x05]);
    const http = await postLogPieces([lie, Buffer.alloc(1024)], {}, 4096);
    expect(http.status).toBe(400);
    expect(decode(STATUS, http.body).message).toMatch(/field length 5 at offset 6 runs past its enclosing message/);
    const grpc = await rawCall(h.grpcAddress, [prefixed(lie, 0, 4096).subarray(0, 11)], {}, false);
    expect(grpc.grpcStatus).toBe(GrpcCode.INVALID_ARGUMENT);
    expect(grpc.grpcMessage).toMatch(/field length 5 at offset 6/);
  });
});
