/**
 * A process holding one incident exporter, for restart tests: starts the exporter named in
 * argv on the data dir (under the `routing:` section given as JSON, if any), hands it the
 * incident changes given as JSON, prints `accepted` once consumeIncidents() resolved, and then
 * keeps delivering until killed.
 */
import { exporterFactories } from '../../../src/components.ts';
import { RoutingTree, routingSchema } from '../../../src/exporters/tickets/routingTree.ts';
import type { Host } from '../../../src/pipeline/host.ts';
import type { IncidentChange } from '../../../src/model/incident.ts';
import { createLogger } from '../../../src/telemetry/logger.ts';
import { SelfMetrics } from '../../../src/telemetry/selfMetrics.ts';

const [type, dataDir, configJson, changesJson, routingJson] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string | undefined,
];
const factory = exporterFactories.find((f) => f.type === type)!;
const issues: { path: string; message: string }[] = [];
const config = factory.configSchema.parse(JSON.parse(configJson), `exporters.${type}`, issues);
if (issues.length) throw new Error(JSON.stringify(issues));
await factory.load?.();
const exporter = factory.create(
  { id: type, logger: createLogger('silent'), metrics: new SelfMetrics(), dataDir },
  config,
);
const routing = routingJson && routingSchema.parse(JSON.parse(routingJson), 'routing', issues);
const routingTree = routing ? RoutingTree.compile(routing, 'routing', new Set([type]), issues) : undefined;
if (issues.length) throw new Error(JSON.stringify(issues));
await exporter.start((routingTree ? { routingTree } : {}) as Host);
await exporter.consumeIncidents!(JSON.parse(changesJson) as IncidentChange[]);
process.stdout.write('accepted\n');
setInterval(() => {}, 1 << 30);
