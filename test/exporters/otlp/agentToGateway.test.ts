import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunningDaemon } from '../../support/daemon.ts';
import { readNdjson } from '../../support/ndjson.ts';
import { waitFor } from '../../support/waitFor.ts';
import { grpcPort, otlpToFilesConfig, sendEverything } from '../../receivers/otlp/sdkClients.ts';
import { agentConfig, agentEndpoints, Daemons, metricValue, postEvents, type Ports } from './agent.ts';

type Rec = Record<string, unknown>;

const gatewayConfig = (grpc: number, http: number) => otlpToFilesConfig(`127.0.0.1:${grpc}`, `127.0.0.1:${http}`);

const daemons = new Daemons();
afterEach(() => daemons.stopAll());

/** What identifies a record across the hop: the fields OTLP carries, not Vigil's per-hop id. */
const eventKey = (e: Rec) =>
  JSON.stringify([
    e.body,
    e.timeUnixNano,
    e.traceId,
    e.spanId,
    e.severityNumber,
    (e.resource as Rec)['service.name'] ?? '',
    e.attributes,
  ]);
const metricKey = (p: Rec) =>
  JSON.stringify([p.name, p.kind, p.timeUnixNano, p.attributes, (p.resource as Rec)['service.name']]);
const spanKey = (s: Rec) => `${s.traceId as string}/${s.spanId as string}`;

function multiset(keys: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const k of keys) m.set(k, (m.get(k) ?? 0) + 1);
  return m;
}

interface Snapshot {
  events: Map<string, number>;
  metrics: Map<string, number>;
  spans: Map<string, number>;
}

function read(d: RunningDaemon | string): { events: Rec[]; metrics: Rec[]; spans: Rec[] } {
  const dir = typeof d === 'string' ? d : d.dataDir;
  return {
    events: readNdjson(join(dir, 'events.ndjson')),
    metrics: readNdjson(join(dir, 'metrics.ndjson')),
    spans: readNdjson(join(dir, 'spans.ndjson')),
  };
}

/**
 * What the gateway must hold for what the agent accepted: the same records, each once; plus,
 * since the gateway's OTLP receiver turns every span with status ERROR into an event as the
 * agent's did, one more event for each such span (identical to the agent's own).
 */
function expectedAtGateway(agentDir: string): Snapshot {
  const a = read(agentDir);
  const errorSpanEvents = a.events.filter(
    (e) => e.source === 'otlp' && (e.attributes as Rec)['span.name'] !== undefined,
  );
  return {
    events: multiset([...a.events, ...errorSpanEvents].map(eventKey)),
    metrics: multiset(a.metrics.map(metricKey)),
    spans: multiset(a.spans.map(spanKey)),
  };
}

function atGateway(gatewayDir: string): Snapshot {
  const g = read(gatewayDir);
  return {
    events: multiset(g.events.map(eventKey)),
    metrics: multiset(g.metrics.map(metricKey)),
    spans: multiset(g.spans.map(spanKey)),
  };
}

const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);

describe.each(['otlp_grpc', 'otlp_http'] as const)('Vigil agent → %s → Vigil gateway', (kind) => {
  it(
    'delivers JSON events and SDK logs, metrics and spans; a gateway outage and an agent restart lose and duplicate nothing',
    { timeout: 180_000 },
    async () => {
      const gateway = await daemons.start(gatewayConfig(0, 0));
      const gw: Ports = { grpc: grpcPort(gateway), http: gateway.http[0]!.port };
      const gatewayDir = gateway.dataDir;
      let agent = await daemons.start(agentConfig(kind, gw));
      const agentDir = agent.dataDir;

      // 1. Both up: everything the agent accepted reaches the gateway.
      await postEvents(agent, 'up', 50);
      await sendEverything('grpc', agentEndpoints(agent), 'svc-up-grpc');
      await sendEverything('http/protobuf', agentEndpoints(agent), 'svc-up-proto', 'gzip');
      await waitFor(
        () =>
          total(atGateway(gatewayDir).events) >= total(expectedAtGateway(agentDir).events) &&
          total(atGateway(gatewayDir).spans) >= total(expectedAtGateway(agentDir).spans),
        'the first records at the gateway',
        30_000,
      );
      await waitFor(
        () => total(atGateway(gatewayDir).metrics) >= total(expectedAtGateway(agentDir).metrics),
        'the first metrics at the gateway',
        30_000,
      );
      expect(atGateway(gatewayDir)).toEqual(expectedAtGateway(agentDir));
      expect(total(atGateway(gatewayDir).events)).toBeGreaterThan(50);

      // 2. The gateway goes away; the agent keeps accepting, retries, and is itself restarted meanwhile.
      expect(await daemons.stop(gateway)).toBe(0);
      await postEvents(agent, 'outage-a', 40);
      await sendEverything('http/protobuf', agentEndpoints(agent), 'svc-outage-a');
      const retriesBefore = await metricValue(agent, 'vigil_exporter_retries_total');
      await waitFor(
        async () => (await metricValue(agent, 'vigil_exporter_retries_total')) >= retriesBefore + 4,
        'several retry rounds while the gateway is away',
        30_000,
      );
      expect(await daemons.stop(agent)).toBe(0);
      agent = await daemons.start(agentConfig(kind, gw), agentDir);
      await postEvents(agent, 'outage-b', 30);
      await sendEverything('grpc', agentEndpoints(agent), 'svc-outage-b');
      await waitFor(
        async () => (await metricValue(agent, 'vigil_exporter_retries_total')) >= 3,
        'the restarted agent retrying too',
        30_000,
      );
      expect(total(atGateway(gatewayDir).events)).toBeLessThan(total(expectedAtGateway(agentDir).events));
      const ready = (await (await fetch(agent.adminUrl('/readyz'))).json()) as {
        components: Record<string, { status: string; reason?: string }>;
      };
      const health = Object.entries(ready.components).find(([id]) => id.includes(`${kind}/gateway`))?.[1];
      expect(health?.status).toMatch(/degraded|failing/);
      expect(health?.reason).toContain('batches wait on disk');

      // 3. The gateway returns on the same ports: every record arrives, exactly once.
      await daemons.start(gatewayConfig(gw.grpc, gw.http), gatewayDir);
      const want = expectedAtGateway(agentDir);
      await waitFor(
        () => {
          const got = atGateway(gatewayDir);
          return (
            total(got.events) >= total(want.events) &&
            total(got.metrics) >= total(want.metrics) &&
            total(got.spans) >= total(want.spans)
          );
        },
        'the queued records at the gateway',
        60_000,
      );
      const got = atGateway(gatewayDir);
      expect(got).toEqual(want);
      expect([...got.events.keys()].filter((k) => k.includes('outage-a-'))).toHaveLength(40);
      expect([...got.events.keys()].filter((k) => k.includes('outage-b-'))).toHaveLength(30);
      expect(await metricValue(agent, 'vigil_exporter_send_failed_records_total')).toBe(0);
    },
  );
});
