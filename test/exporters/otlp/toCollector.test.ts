import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  collectorBinary,
  collectorCounts,
  collectorLogBodies,
  startCollector,
  type RunningCollector,
} from '../../support/collector.ts';
import { readNdjson } from '../../support/ndjson.ts';
import { freePort } from '../../support/redis.ts';
import { waitFor } from '../../support/waitFor.ts';
import { sendEverything } from '../../receivers/otlp/sdkClients.ts';
import {
  agentConfig,
  agentEndpoints,
  Daemons,
  metricValue,
  postEvents,
  type ExporterKind,
  type Ports,
} from './agent.ts';

let binary = '';
beforeAll(() => {
  binary = collectorBinary();
}, 900_000);

const daemons = new Daemons();
let collectors: RunningCollector[] = [];
afterEach(async () => {
  await daemons.stopAll();
  await Promise.all(collectors.map((c) => c.stop('SIGKILL')));
  collectors = [];
});

async function collector(gw: Ports): Promise<RunningCollector> {
  const c = await startCollector(binary, gw.grpc, gw.http);
  collectors.push(c);
  return c;
}

/** What the agent accepted, by signal, from its own files. */
function accepted(agentDir: string): { logs: number; dataPoints: number; spans: number; bodies: string[] } {
  const events = readNdjson(join(agentDir, 'events.ndjson'));
  return {
    logs: events.length,
    dataPoints: readNdjson(join(agentDir, 'metrics.ndjson')).length,
    spans: readNdjson(join(agentDir, 'spans.ndjson')).length,
    bodies: events.map((e) => e.body).filter((b): b is string => typeof b === 'string'),
  };
}

describe.each(['otlp_grpc', 'otlp_http'] as const)(
  'Vigil agent → %s → OpenTelemetry Collector',
  (kind: ExporterKind) => {
    it(
      'delivers every record the agent accepted, through a Collector restart, each once',
      { timeout: 180_000 },
      async () => {
        const gw: Ports = { grpc: await freePort(), http: await freePort() };
        const first = await collector(gw);
        const agent = await daemons.start(agentConfig(kind, gw));

        await postEvents(agent, 'up', 40);
        await sendEverything('http/protobuf', agentEndpoints(agent), 'svc-up');
        const sum = () => collectorCounts(first.output());
        await waitFor(
          () => {
            const want = accepted(agent.dataDir);
            const got = sum();
            return got.logs >= want.logs && got.dataPoints >= want.dataPoints && got.spans >= want.spans;
          },
          'the Collector to report what the agent accepted',
          30_000,
        );
        const before = accepted(agent.dataDir);
        expect(sum()).toEqual({ logs: before.logs, dataPoints: before.dataPoints, spans: before.spans });
        expect(before.logs).toBeGreaterThan(40);
        expect(before.dataPoints).toBeGreaterThan(0);
        expect(before.spans).toBe(2);

        // The Collector goes away for several retry rounds while the agent keeps accepting.
        await first.stop();
        await postEvents(agent, 'outage', 25);
        await sendEverything('grpc', agentEndpoints(agent), 'svc-outage');
        const retries = await metricValue(agent, 'vigil_exporter_retries_total');
        await waitFor(
          async () => (await metricValue(agent, 'vigil_exporter_retries_total')) >= retries + 4,
          'several retry rounds while the Collector is away',
          30_000,
        );

        const second = await collector(gw);
        const all = () => {
          const a = collectorCounts(first.output());
          const b = collectorCounts(second.output());
          return { logs: a.logs + b.logs, dataPoints: a.dataPoints + b.dataPoints, spans: a.spans + b.spans };
        };
        const want = accepted(agent.dataDir);
        await waitFor(
          () => {
            const got = all();
            return got.logs >= want.logs && got.dataPoints >= want.dataPoints && got.spans >= want.spans;
          },
          'the queued records at the restarted Collector',
          60_000,
        );
        expect(all()).toEqual({ logs: want.logs, dataPoints: want.dataPoints, spans: want.spans });
        const bodies = [...collectorLogBodies(first.output()), ...collectorLogBodies(second.output())].sort();
        expect(bodies).toEqual([...want.bodies].sort());
        expect(bodies.filter((b) => b.startsWith('outage-'))).toHaveLength(25);
        expect(await metricValue(agent, 'vigil_exporter_send_failed_records_total')).toBe(0);
      },
    );
  },
);
