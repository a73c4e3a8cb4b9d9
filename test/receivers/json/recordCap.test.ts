import { monitorEventLoopDelay } from 'node:perf_hooks';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registry } from '../../../src/components.ts';
import { parseConfig } from '../../../src/service/config/load.ts';
import { VigilService } from '../../../src/service/service.ts';
import { createLogger } from '../../../src/telemetry/logger.ts';
import { captureExporter, type Captured } from '../../support/captureExporter.ts';

// Bodies of 48 MiB of `{}` (the limit raised to take them; 200 KB of gzip) hold 16 M records:
// joined and counted whole, each held the event loop, and so every listener, for 0.4–1 s.
const BODY_LIMIT = '64MiB';
// Counted as they are inflated, such bodies are refused within their first chunks; the longest
// block left is a chunk's work, far below this even on a loaded machine.
const MAX_BLOCK_MS = 250;

const captured: Captured = { logs: [], metrics: [], traces: [] };
let service: VigilService;
let httpBase: string;

beforeAll(async () => {
  const reg = { ...registry, exporters: [...registry.exporters, captureExporter(captured, { wait: undefined })] };
  const cfg = parseConfig(
    `
receivers:
  json: { endpoint: 127.0.0.1:0, max_request_body_size: ${BODY_LIMIT} }
exporters: { capture: {} }
service:
  pipelines:
    logs: { receivers: [json], exporters: [capture] }
  telemetry: { metrics: { endpoint: 127.0.0.1:0 }, logs: { level: silent } }
`,
    reg,
    {},
  );
  service = new VigilService(cfg, { dataDir: '/nonexistent', registry: reg, logger: createLogger('silent') });
  await service.start();
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

describe('a JSON body far over max_records_per_request is refused as it arrives', () => {
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
    expect(captured.logs).toHaveLength(0);
  });
});
