import { registry } from '../../src/components.ts';
import { parseConfig } from '../../src/service/config/load.ts';
import { VigilService } from '../../src/service/service.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { captureExporter, type Captured } from './captureExporter.ts';

/**
 * An in-process Vigil, started: `receiversYaml` is the body of `receivers:` (two spaces in),
 * and every receiver it names feeds one logs pipeline into a capturing exporter. `serviceYaml`
 * adds keys under `service:` (four spaces in).
 */
export async function startCapturingLogs(
  receiversYaml: string,
  receivers: string[],
  serviceYaml = '',
): Promise<{ service: VigilService; captured: Captured }> {
  const captured: Captured = { logs: [], metrics: [], traces: [] };
  const reg = { ...registry, exporters: [...registry.exporters, captureExporter(captured, { wait: undefined })] };
  const cfg = parseConfig(
    `
receivers:
${receiversYaml}
exporters: { capture: {} }
service:
  pipelines:
    logs: { receivers: [${receivers.join(', ')}], exporters: [capture] }
  telemetry: { metrics: { endpoint: 127.0.0.1:0 }, logs: { level: silent } }
${serviceYaml}`,
    reg,
    {},
  );
  const service = new VigilService(cfg, { dataDir: '/nonexistent', registry: reg, logger: createLogger('silent') });
  await service.start();
  return { service, captured };
}
