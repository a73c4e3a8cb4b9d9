import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import {
  encode,
  grpcCall,
  LOGS_EXPORT,
  LOGS_REQ,
  logsRequest,
  METRICS_REQ,
  startOtlp,
  type OtlpHarness,
} from './harness.ts';

let h: OtlpHarness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

/** mulberry32: a seeded generator so that a failing case can be replayed. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mutate(src: Buffer, rand: () => number): Buffer {
  const b = Buffer.from(src);
  switch (Math.floor(rand() * 4)) {
    case 0: // flip a few bytes
      for (let i = 0; i < 1 + rand() * 4; i++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
      return b;
    case 1: // truncate
      return b.subarray(0, Math.floor(rand() * b.length));
    case 2: // splice in random bytes
      return Buffer.concat([
        b.subarray(0, Math.floor(rand() * b.length)),
        Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 16) }, () => Math.floor(rand() * 256))),
        b.subarray(Math.floor(rand() * b.length)),
      ]);
    default: // pure noise
      return Buffer.from(Array.from({ length: Math.floor(rand() * 64) }, () => Math.floor(rand() * 256)));
  }
}

const kv = (key: string, value: Record<string, unknown>) => ({ key, value });
const sampleLogs = logsRequest([
  {
    timeUnixNano: '1763892000123456789',
    severityNumber: 17,
    body: { kvlistValue: { values: [kv('a', { arrayValue: { values: [{ intValue: 1 }, { bytesValue: 'AQI=' }] } })] } },
    traceId: '5b8efff798038103d269b633813fc60c',
    spanId: 'eee19b7ec3c1b174',
    attributes: [kv('k', { doubleValue: 1.5 })],
  },
]);
const sampleMetrics = {
  resourceMetrics: [
    {
      scopeMetrics: [
        {
          metrics: [
            {
              name: 'h',
              histogram: {
                aggregationTemporality: 2,
                dataPoints: [{ count: 2, sum: 3, bucketCounts: [1, 1], explicitBounds: [1] }],
              },
            },
          ],
        },
      ],
    },
  ],
};

describe('fuzzing both listeners', () => {
  it(
    'answers random and mutated payloads with success or a 400 / INVALID_ARGUMENT, and keeps serving',
    { timeout: 60_000 },
    async () => {
      h = await startOtlp('protocols: { grpc: { endpoint: 127.0.0.1:0 }, http: { endpoint: 127.0.0.1:0 } }');
      const rand = rng(20261123);
      const seeds: [string, string, Buffer][] = [
        ['/v1/logs', 'application/x-protobuf', encode(LOGS_REQ, sampleLogs)],
        ['/v1/metrics', 'application/x-protobuf', encode(METRICS_REQ, sampleMetrics)],
        ['/v1/logs', 'application/json', Buffer.from(JSON.stringify(sampleLogs))],
        ['/v1/metrics', 'application/json', Buffer.from(JSON.stringify(sampleMetrics))],
      ];
      const statuses = new Map<number, number>();
      for (let i = 0; i < 300; i++) {
        const [path, type, seed] = seeds[i % seeds.length]!;
        const body = mutate(seed, rand);
        const res = await fetch(h.httpUrl(path), { method: 'POST', body, headers: { 'content-type': type } });
        await res.arrayBuffer();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        expect([200, 400], `${type} case ${i}: ${body.toString('hex')}`).toContain(res.status);
      }
      expect(statuses.get(400)).toBeGreaterThan(0);

      const grpcSeed = encode(LOGS_REQ, sampleLogs);
      for (let i = 0; i < 100; i++) {
        const body = mutate(grpcSeed, rand);
        const res = await grpcCall(h.grpcAddress, LOGS_EXPORT, body);
        expect([undefined, grpc.status.INVALID_ARGUMENT], `grpc case ${i}: ${body.toString('hex')}`).toContain(
          res.error?.code,
        );
      }

      const after = encode(LOGS_REQ, logsRequest([{ body: { stringValue: 'after fuzzing' } }], 'after-fuzz'));
      expect((await grpcCall(h.grpcAddress, LOGS_EXPORT, after)).error).toBeNull();
      expect(
        (
          await fetch(h.httpUrl('/v1/logs'), {
            method: 'POST',
            body: after,
            headers: { 'content-type': 'application/x-protobuf' },
          })
        ).status,
      ).toBe(200);
      await h.stop();
      expect(h.captured.logs.filter((e) => e.service === 'after-fuzz')).toHaveLength(2);
    },
  );
});
