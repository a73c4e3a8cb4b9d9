import { monitorEventLoopDelay } from 'node:perf_hooks';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VigilService } from '../../../src/service/service.ts';
import type { Captured } from '../../support/captureExporter.ts';
import { startCapturingLogs } from '../../support/captureService.ts';

// Bodies of 48 MiB of `{}` (the limit raised to take them; 200 KB of gzip) hold 16 M records:
// joined and counted whole, each held the event loop, and so every listener, for 0.4–1 s.
const BODY_LIMIT = '64MiB';
// Counted as they are inflated, such bodies are refused within their first chunks; the longest
// block left is a chunk's work, far below this even on a loaded machine.
const MAX_BLOCK_MS = 250;

let service: VigilService;
let capturedLogs: () => unknown[];
let httpBase: string;

beforeAll(async () => {
  let captured: Captured;
  ({ service, captured } = await startCapturingLogs(
    `  json: { endpoint: 127.0.0.1:0, max_request_body_size: ${BODY_LIMIT} }
  otlp: { protocols: { http: { endpoint: 127.0.0.1:0, max_request_body_size: ${BODY_LIMIT} } } }`,
    ['json', 'otlp'],
  ));
  capturedLogs = () => captured.logs;
  // Both receivers name the same endpoint, so they share one listener.
  httpBase = `http://127.0.0.1:${service.httpAddresses[0]!.port}`;
});

afterAll(async () => {
  await service?.shutdown();
});

/** Runs `send` and returns what it answered and the longest the event loop was held meanwhile. */
async function longestBlockDuring<T>(send: () => Promise<T>): Promise<{ answer: T; longestMs: number }> {
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  try {
    const answer = await send();
    return { answer, longestMs: h.max / 1e6 };
  } finally {
    h.disable();
  }
}

async function post(path: string, body: Buffer, contentType: string): Promise<{ status: number; error: string }> {
  const res = await fetch(`${httpBase}${path}`, {
    method: 'POST',
    body,
    headers: { 'content-type': contentType, 'content-encoding': 'gzip' },
  });
  const text = await res.text();
  return { status: res.status, error: text };
}

const REASON =
  /more than 10000 records in one request, over max_records_per_request; send smaller batches or raise receivers\.json\.max_records_per_request/;

describe('a JSON body far over its caps is refused as it arrives, before it is parsed', () => {
  it('an array and NDJSON of 16 M `{}`: 413 with the reason, and the event loop never held for long', async () => {
    for (const [contentType, text] of [
      ['application/json', `[${'{},'.repeat(16_000_000 - 1)}{}]`],
      ['application/x-ndjson', '{}\n'.repeat(16_000_000)],
    ] as const) {
      const body = gzipSync(text, { level: 1 });
      const { answer, longestMs } = await longestBlockDuring(() => post('/v1/events', body, contentType));
      expect(answer.status, contentType).toBe(413);
      expect(longestMs, contentType).toBeLessThan(MAX_BLOCK_MS);
      expect(answer.error).toMatch(REASON);
    }
    expect(capturedLogs()).toHaveLength(0);
  });

  it('objects nested in few records, and OTLP/JSON records, are bounded before JSON.parse allocates them', async () => {
    // One event holding 16 M objects passes any record count; OTLP/JSON records sit three
    // levels down and were counted only after the parse (four such bodies: 50 s, 966 MiB).
    const many = `${'{},'.repeat(16_000_000 - 1)}{}`;
    for (const [path, text] of [
      ['/v1/events', `[{"asset":"a","attributes":{"list":[${many}]}}]`],
      ['/v1/logs', `{"resourceLogs":[{"scopeLogs":[{"logRecords":[${many}]}]}]}`],
    ] as const) {
      const body = gzipSync(text, { level: 1 });
      const { answer, longestMs } = await longestBlockDuring(() => post(path, body, 'application/json'));
      expect(answer.status, path).toBe(413);
      expect(longestMs, path).toBeLessThan(MAX_BLOCK_MS);
      expect(answer.error).toMatch(
        /more than 1000000 JSON objects and arrays in one request \(100 per record of max_records_per_request, 10000\); send smaller batches or raise receivers\.(json|otlp\.protocols\.http)\.max_records_per_request/,
      );
    }
    expect(capturedLogs()).toHaveLength(0);
  });
});
