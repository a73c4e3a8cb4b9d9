import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { registry } from '../../src/components.ts';
import { obj } from '../../src/config/schema.ts';
import { newEvent, type VigilEvent } from '../../src/model/event.ts';
import { eventToJson } from '../../src/model/eventJson.ts';
import type { ReceiverFactory } from '../../src/pipeline/component.ts';
import type { Consumer } from '../../src/pipeline/signals.ts';
import { parseConfig } from '../../src/service/config/load.ts';
import { VigilService } from '../../src/service/service.ts';
import { createLogger } from '../../src/telemetry/logger.ts';

/** A receiver that keeps the logs consumer the service gave it. */
function probeReceiver() {
  const got: { logs?: Consumer<VigilEvent> } = {};
  const factory: ReceiverFactory = {
    kind: 'receiver',
    type: 'probe',
    signals: ['logs'],
    description: 'test',
    configSchema: obj({}),
    create: (_settings, _config, consumers) => {
      got.logs = consumers.logs;
      return { start: async () => {}, shutdown: async () => {} };
    },
  };
  return { factory, got };
}

let service: VigilService | undefined;
const dirs: string[] = [];
afterEach(async () => {
  await service?.shutdown();
  service = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function start(pipelines: string): Promise<{ logs: Consumer<VigilEvent>; dir: string }> {
  const probe = probeReceiver();
  const reg = { ...registry, receivers: [...registry.receivers, probe.factory] };
  const dir = mkdtempSync(join(tmpdir(), 'vigil-lines-'));
  dirs.push(dir);
  const cfg = parseConfig(
    `
receivers: { probe: {} }
processors: { filter: { logs: ['severity_number < 5'] } }
exporters: { file: { path: out.ndjson }, file/other: { path: other.ndjson }, debug: { verbosity: basic } }
service:
  pipelines: ${pipelines}
  telemetry: { metrics: { endpoint: 127.0.0.1:0 }, logs: { level: silent } }
`,
    reg,
    {},
  );
  service = new VigilService(cfg, { dataDir: dir, registry: reg, logger: createLogger('silent') });
  await service.start();
  return { logs: probe.got.logs!, dir };
}

describe('a receiver told whether its pipelines take JSON lines', () => {
  it('is offered lines when every pipeline it feeds only writes files, with no processor', async () => {
    const { logs } = await start(
      '{ logs: { receivers: [probe], exporters: [file, file/other] }, logs/b: { receivers: [probe], exporters: [file] } }',
    );
    expect(logs.consumeLines).toBeTypeOf('function');
  });

  it('is not offered lines when a pipeline has a processor, or an exporter that reads events', async () => {
    for (const pipelines of [
      '{ logs: { receivers: [probe], processors: [filter], exporters: [file] } }',
      '{ logs: { receivers: [probe], exporters: [file, debug] } }',
      '{ logs: { receivers: [probe], exporters: [file] }, logs/b: { receivers: [probe], exporters: [debug] } }',
    ]) {
      const { logs } = await start(pipelines);
      expect(logs.consumeLines, pipelines).toBeUndefined();
      await service!.shutdown();
      service = undefined;
    }
  });

  it('writes lines and events handed to one pipeline in the order they came, as their JSON lines', async () => {
    const { logs, dir } = await start('{ logs: { receivers: [probe], exporters: [file] } }');
    const events = [0, 1, 2, 3].map((i) => newEvent({ source: 'probe', body: `event ${i}` }));
    const line = (e: VigilEvent) => Buffer.from(eventToJson(e) + '\n');
    // Two lines that follow each other in one buffer, as a receiver makes them, then an event, then a line.
    const shared = Buffer.concat([line(events[0]!), line(events[1]!)]);
    const first = line(events[0]!).length;
    await logs.consumeLines!([shared.subarray(0, first), shared.subarray(first)]);
    await logs.consume([events[2]!]);
    await logs.consumeLines!([line(events[3]!)]);
    await service!.shutdown();
    service = undefined;
    expect(readFileSync(join(dir, 'out.ndjson'), 'utf8')).toBe(events.map((e) => eventToJson(e) + '\n').join(''));
  });
});
