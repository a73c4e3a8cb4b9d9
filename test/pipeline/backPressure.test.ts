import { afterEach, describe, expect, it } from 'vitest';
import { registry } from '../../src/components.ts';
import { parseConfig } from '../../src/config/load.ts';
import { obj } from '../../src/config/schema.ts';
import type { ExporterFactory } from '../../src/pipeline/component.ts';
import { VigilService } from '../../src/service/service.ts';
import { createLogger } from '../../src/telemetry/logger.ts';

/** An exporter that holds every batch until released, to fill the pipeline queue on purpose. */
function gatedExporter() {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const received: unknown[] = [];
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
        await gate;
        received.push(...batch);
      },
    }),
  };
  return { factory, release, received };
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
  pipelines: { logs: { receivers: [json], exporters: [gated], queue_size: 10 } }
  telemetry: { metrics: { endpoint: 127.0.0.1:0 }, logs: { level: silent } }
`,
      reg,
      {},
    );
    service = new VigilService(cfg, { dataDir: '/nonexistent', registry: reg, logger: createLogger('silent') });
    await service.start();
    const url = `http://127.0.0.1:${service.httpAddresses[0]!.port}/v1/events`;
    const send = (n: number) => fetch(url, { method: 'POST', body: JSON.stringify(Array.from({ length: n }, (_, i) => ({ asset: `a${i}` }))) });

    expect((await send(6)).status).toBe(200); // taken by the worker, held at the gate
    expect((await send(6)).status).toBe(200); // queued: 6 of 10
    const refused = await send(6); // 12 > 10
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(await refused.json()).toMatchObject({ code: 'VIGIL_QUEUE_FULL' });
    const metrics = await service.metrics.metrics();
    expect(metrics).toMatch(/vigil_receiver_refused_records_total\{receiver="json",signal="logs"\} 6/);

    gated.release();
    await new Promise((r) => setImmediate(r));
    expect((await send(6)).status).toBe(200);
    await service.shutdown();
    service = undefined;
    expect(gated.received).toHaveLength(18);
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
    const res = await fetch(`http://127.0.0.1:${service.httpAddresses[0]!.port}/v1/events`, { method: 'POST', body: '{"asset":"x"}' });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(await res.json()).toMatchObject({ code: 'VIGIL_MEMORY_LIMIT' });
  });
});
