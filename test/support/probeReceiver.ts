import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registry } from '../../src/components.ts';
import { obj } from '../../src/config/schema.ts';
import type { VigilEvent } from '../../src/model/event.ts';
import type { ExporterFactory, ReceiverFactory } from '../../src/pipeline/component.ts';
import type { Consumer } from '../../src/pipeline/signals.ts';
import { parseConfig } from '../../src/service/config/load.ts';
import { VigilService } from '../../src/service/service.ts';
import { createLogger } from '../../src/telemetry/logger.ts';

/** A receiver (type `probe`, logs) that keeps the logs consumer the service gave it, for a test to feed. */
export function probeReceiver(): { factory: ReceiverFactory; got: { logs?: Consumer<VigilEvent> } } {
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

/** What `startProbed` started and has not stopped yet, and the directories it made. */
const running: VigilService[] = [];
const dirs: string[] = [];

/**
 * An in-process Vigil in a directory of its own, fed by a `probe` receiver: `components` is the
 * YAML of its receivers, processors and exporters sections (`probe` among the receivers),
 * `pipelines` that of `service.pipelines`. `exporters` adds exporter factories to the registry.
 */
export async function startProbed(
  components: string,
  pipelines: string,
  exporters: ExporterFactory[] = [],
): Promise<{ logs: Consumer<VigilEvent>; dir: string }> {
  const probe = probeReceiver();
  const reg = {
    ...registry,
    receivers: [...registry.receivers, probe.factory],
    exporters: [...registry.exporters, ...exporters],
  };
  const dir = mkdtempSync(join(tmpdir(), 'vigil-probed-'));
  const cfg = parseConfig(
    `${components}
service:
  pipelines: ${pipelines}
  telemetry: { metrics: { endpoint: 127.0.0.1:0 }, logs: { level: silent } }
`,
    reg,
    {},
  );
  const service = new VigilService(cfg, { dataDir: dir, registry: reg, logger: createLogger('silent') });
  running.push(service);
  dirs.push(dir);
  await service.start();
  return { logs: probe.got.logs!, dir };
}

/** Shuts down what `startProbed` started, its queues drained: its files then hold what went in. */
export async function stopProbed(): Promise<void> {
  for (const service of running.splice(0)) await service.shutdown();
}

/** `stopProbed`, and removes the directories (for `afterEach`). */
export async function cleanUpProbed(): Promise<void> {
  await stopProbed();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}
