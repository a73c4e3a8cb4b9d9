import { constants, gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VigilService } from '../../../src/service/service.ts';
import type { Captured } from '../../support/captureExporter.ts';
import { startCapturingLogs } from '../../support/captureService.ts';
import { postPieces } from '../../support/postPieces.ts';

// Bodies of 48 MiB of `{}` (the limit raised to take them; 200 KB of gzip) hold 16 M records:
// joined and counted whole, each held the event loop, and so every listener, for 0.4–1 s.
// Counted as they are inflated, they are refused within their first chunks.
const BODY_LIMIT = '64MiB';

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

/**
 * Sends the first quarter of `text` gzipped, declaring the whole, and leaves the request open:
 * an answer can only come from what arrived, so the body was refused as it streamed in, not once
 * whole. The quarter alone is checked to hold more than `atLeast` bytes of `text`.
 */
async function postFirstQuarter(
  path: string,
  text: string,
  contentType: string,
  atLeast: number,
): Promise<{ status: number; error: string }> {
  const body = gzipSync(text, { level: 1 });
  const quarter = body.subarray(0, body.length >> 2);
  expect(gunzipSync(quarter, { finishFlush: constants.Z_SYNC_FLUSH }).length).toBeGreaterThan(atLeast);
  const answer = await postPieces(
    `${httpBase}${path}`,
    [quarter],
    { 'content-type': contentType, 'content-encoding': 'gzip' },
    body.length,
  );
  return { status: answer.status, error: answer.body.toString() };
}

const REASON =
  /more than 10000 records in one request, over max_records_per_request; send smaller batches or raise receivers\.json\.max_records_per_request/;

describe('a JSON body far over its caps is refused as it arrives, before it is parsed', () => {
  it('an array and NDJSON of 16 M `{}`: 413 with the reason before the rest of the body is sent', async () => {
    for (const [contentType, text] of [
      ['application/json', `[${'{},'.repeat(16_000_000 - 1)}{}]`],
      ['application/x-ndjson', '{}\n'.repeat(16_000_000)],
    ] as const) {
      // 10,001 records are 30 KB of the 48 MiB.
      const answer = await postFirstQuarter('/v1/events', text, contentType, 30_003);
      expect(answer.status, contentType).toBe(413);
      expect(answer.error).toMatch(REASON);
    }
    expect(capturedLogs()).toHaveLength(0);
  });

  it('objects nested in few records, and OTLP/JSON records, are bounded before JSON.parse allocates them, before the rest of the body is sent', async () => {
    // One event holding 16 M objects passes any record count; OTLP/JSON records sit three
    // levels down and were counted only after the parse (four such bodies: 50 s, 966 MiB).
    const many = `${'{},'.repeat(16_000_000 - 1)}{}`;
    for (const [path, text] of [
      ['/v1/events', `[{"asset":"a","attributes":{"list":[${many}]}}]`],
      ['/v1/logs', `{"resourceLogs":[{"scopeLogs":[{"logRecords":[${many}]}]}]}`],
    ] as const) {
      // 1,000,001 objects are 3 MB of the 48 MiB.
      const answer = await postFirstQuarter(path, text, 'application/json', 3_000_003 + 50);
      expect(answer.status, path).toBe(413);
      expect(answer.error).toMatch(
        /more than 1000000 JSON objects and arrays in one request \(100 per record of max_records_per_request, 10000\); send smaller batches or raise receivers\.(json|otlp\.protocols\.http)\.max_records_per_request/,
      );
    }
    expect(capturedLogs()).toHaveLength(0);
  });

  it('a string left open on one line does not hide the objects of the lines after it, parsed one by one', async () => {
    // Valid JSON holds no raw newline inside a string, so a body that has one is parsed line by
    // line (NDJSON, or a JSON body that fails whole): an open quote ends with its line.
    const many = `${'{},'.repeat(16_000_000 - 1)}{}`;
    for (const contentType of ['application/x-ndjson', 'application/json']) {
      for (const open of ['"open', '"open\\']) {
        const text = `{"asset":"a","title":${open}\n{"asset":"b","attributes":{"list":[${many}]}}\n`;
        const answer = await postFirstQuarter('/v1/events', text, contentType, 3_000_003 + 80);
        expect(answer.status, `${contentType} ${open}`).toBe(413);
        expect(answer.error).toMatch(/more than 1000000 JSON objects and arrays in one request/);
      }
    }
    expect(capturedLogs()).toHaveLength(0);
  });
});
