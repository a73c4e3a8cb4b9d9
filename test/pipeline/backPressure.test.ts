import { afterEach, describe, expect, it } from 'vitest';
import { registry } from '../../src/components.ts';
import { parseConfig } from '../../src/service/config/load.ts';
import { obj } from '../../src/config/schema.ts';
import type { ExporterFactory } from '../../src/pipeline/component.ts';
import { VigilService } from '../../src/service/service.ts';
import { createLogger } from '../../src/telemetry/logger.ts';

/** An exporter that holds every batch until released, to fill the pipeline queue on purpose. */
function gatedExporter(failWith?: Error) {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const received: unknown[] = [];
  const batchSizes: number[] = [];
  let entered!: () => void;
  const reached = new Promise<void>((r) => (entered = r));
  const factory: ExporterFactory = {
    kind: 'exporter',
    type: 'gated',
    signals: ['logs'],
    description: 'test',
    configSchema: obj({}),
    create: () => ({
      start: async () => {},
      shutdown: async () => {},
      consumeLogs: async (batch) => {
        entered();
        await gate;
        if (failWith) throw failWith;
        received.push(...batch);
        batchSizes.push(batch.length);
      },
    }),
  };
  return { factory, release, received, reached, batchSizes };
}

let service: VigilService | undefined;
afterEach(async () => {
  await service?.shutdown();
  service = undefined;
});

describe('back-pressure', () => {
  it('answers 429 with Retry-After when the pipeline queue is full, then recovers', async () => {
    const gated = gatedExporter();
    const reg = { ...registry, exporters: [...registry.exporters, gated.factory] };
    const cfg = parseConfig(
      `
receivers: { json: { endpoint: 127.0.0.1:0 } }
exporters: { gated: {} }
service:
  pipelines: { logs: { receivers: [json], exporters: [gated], queue_size: 10, acknowledge: queued } }
  telemetry: { metrics: { endpoint: 127.0.0.1:0 }, logs: { level: silent } }
`,
      reg,
      {},
    );
    service = new VigilService(cfg, { dataDir: '/nonexistent', registry: reg, logger: createLogger('silent') });
    await service.start();
    const url = `http://127.0.0.1:${service.httpAddresses[0]!.port}/v1/events`;
    const send = (n: number) =>
      fetch(url, {
        method: 'POST',
        body: JSON.stringify(Array.from({ length: n }, (_, i) => ({ asset: `a${i}` }))),
        headers: { 'content-type': 'application/json' },
      });

    expect((await send(6)).status).toBe(200); // taken by the worker, held at the gate
    expect((await send(6)).status).toBe(200); // queued: 6 of 10
    const refused = await send(6); // 12 > 10
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(await refused.json()).toMatchObject({ code: 'VIGIL_QUEUE_FULL' });
    const metrics = await service.metrics.metrics();
    expect(metrics).toMatch(/vigil_receiver_refused_records_total\{receiver="json",signal="logs",transport="http"\} 6/);

    // Larger than the whole queue: refused for good (no Retry-After), even into an empty queue.
    const tooBig = await send(11);
    expect(tooBig.status).toBe(413);
    expect(tooBig.headers.get('retry-after')).toBeNull();
    expect(await tooBig.json()).toMatchObject({
      code: 'VIGIL_TOO_MANY_RECORDS',
      error:
        '11 records in one request, over the queue_size (10) of pipeline "logs"; send smaller batches or raise service.pipelines.logs.queue_size',
    });

    gated.release();
    await new Promise((r) => setImmediate(r));
    expect((await send(6)).status).toBe(200);
    expect((await send(11)).status).toBe(413);
    await service.shutdown();
    service = undefined;
    expect(gated.received).toHaveLength(18);
  });

  it('with acknowledge: exported, answers only once the exporter took the batch, and 503 when it failed', async () => {
    const config = (exporter: string) => `
receivers: { json: { endpoint: 127.0.0.1:0 } }
exporters: { ${exporter}: {} }
service:
  pipelines: { logs: { receivers: [json], exporters: [${exporter}] } }
  telemetry: { metrics: { endpoint: 127.0.0.1:0 }, logs: { level: silent } }
`;
    const gated = gatedExporter();
    let reg = { ...registry, exporters: [...registry.exporters, gated.factory] };
    service = new VigilService(parseConfig(config('gated'), reg, {}), {
      dataDir: '/nonexistent',
      registry: reg,
      logger: createLogger('silent'),
    });
    await service.start();
    let answered = false;
    const pending = fetch(`http://127.0.0.1:${service.httpAddresses[0]!.port}/v1/events`, {
      method: 'POST',
      body: '[{"asset":"a"},{"asset":"b"}]',
      headers: { 'content-type': 'application/json' },
    }).then((r) => {
      answered = true;
      return r;
    });
    // The batch is in the exporter, held at the gate: the sender has no answer yet.
    await gated.reached;
    await new Promise((r) => setImmediate(r));
    expect(answered).toBe(false);
    gated.release();
    expect((await pending).status).toBe(200);
    expect(gated.received).toHaveLength(2);
    await service.shutdown();

    const failing = gatedExporter(new Error('disk full'));
    failing.release();
    reg = { ...registry, exporters: [...registry.exporters, failing.factory] };
    service = new VigilService(parseConfig(config('gated'), reg, {}), {
      dataDir: '/nonexistent',
      registry: reg,
      logger: createLogger('silent'),
    });
    await service.start();
    const res = await fetch(`http://127.0.0.1:${service.httpAddresses[0]!.port}/v1/events`, {
      method: 'POST',
      body: '{"asset":"a"}',
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(await res.json()).toMatchObject({
      code: 'VIGIL_EXPORT_FAILED',
      error: expect.stringContaining('disk full'),
    });
  });

  it('hands the exporter the batches that queued up behind a busy one as one batch, and answers every sender', async () => {
    const gated = gatedExporter();
    const reg = { ...registry, exporters: [...registry.exporters, gated.factory] };
    const cfg = parseConfig(
      `
receivers: { json: { endpoint: 127.0.0.1:0 } }
exporters: { gated: {} }
service:
  pipelines: { logs: { receivers: [json], exporters: [gated] } }
  telemetry: { metrics: { endpoint: 127.0.0.1:0 }, logs: { level: silent } }
`,
      reg,
      {},
    );
    service = new VigilService(cfg, { dataDir: '/nonexistent', registry: reg, logger: createLogger('silent') });
    await service.start();
    const url = `http://127.0.0.1:${service.httpAddresses[0]!.port}/v1/events`;
    const send = (asset: string) =>
      fetch(url, { method: 'POST', body: JSON.stringify({ asset }), headers: { 'content-type': 'application/json' } });
    const first = send('first');
    await gated.reached; // the worker holds "first" at the gate
    const queued = ['a', 'b', 'c', 'd'].map(send);
    while (!/vigil_pipeline_queue_size\{pipeline="logs"\} 4\b/.test(await service.metrics.metrics()))
      await new Promise((r) => setImmediate(r));
    gated.release();
    const answers = await Promise.all([first, ...queued]);
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(gated.batchSizes).toEqual([1, 4]);
    const assets = (gated.received as { asset: string }[]).map((e) => e.asset);
    expect(assets[0]).toBe('first');
    expect(assets.slice(1).sort()).toEqual(['a', 'b', 'c', 'd']);
  });

  it('refuses with 429 while memory is above the soft limit', async () => {
    const cfg = parseConfig(
      `
receivers: { json: { endpoint: 127.0.0.1:0 } }
exporters: { debug: {} }
service:
  pipelines: { logs: { receivers: [json], exporters: [debug] } }
  telemetry: { metrics: { endpoint: 127.0.0.1:0 }, logs: { level: silent } }
  memory_limiter: { limit_mib: 1, spike_limit_mib: 0, check_interval: 0 }
`,
      registry,
      {},
    );
    service = new VigilService(cfg, { dataDir: '/nonexistent', registry, logger: createLogger('silent') });
    await service.start();
    service.memory.check(); // any real heap is above a 1 MiB limit
    const res = await fetch(`http://127.0.0.1:${service.httpAddresses[0]!.port}/v1/events`, {
      method: 'POST',
      body: '{"asset":"x"}',
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(await res.json()).toMatchObject({ code: 'VIGIL_MEMORY_LIMIT' });
  });
});
