/**
 * A process holding one incident exporter, for restart tests: starts the exporter named in
 * argv on the data dir, hands it the incident changes given as JSON, prints `accepted` once
 * consumeIncidents() resolved, and then keeps delivering until killed.
 */
import { exporterFactories } from '../../../src/components.ts';
import type { IncidentChange } from '../../../src/model/incident.ts';
import { createLogger } from '../../../src/telemetry/logger.ts';
import { SelfMetrics } from '../../../src/telemetry/selfMetrics.ts';

const [type, dataDir, configJson, changesJson] = process.argv.slice(2) as [string, string, string, string];
const factory = exporterFactories.find((f) => f.type === type)!;
const issues: { path: string; message: string }[] = [];
const config = factory.configSchema.parse(JSON.parse(configJson), `exporters.${type}`, issues);
if (issues.length) throw new Error(JSON.stringify(issues));
await factory.load?.();
const exporter = factory.create(
  { id: type, logger: createLogger('silent'), metrics: new SelfMetrics(), dataDir },
  config,
);
await exporter.start({} as never);
await exporter.consumeIncidents!(JSON.parse(changesJson) as IncidentChange[]);
process.stdout.write('accepted\n');
setInterval(() => {}, 1 << 30);
