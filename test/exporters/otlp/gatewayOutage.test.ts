import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readNdjson } from '../../support/ndjson.ts';
import { waitFor } from '../../support/waitFor.ts';
import { grpcPort, otlpToFilesConfig } from '../../receivers/otlp/sdkClients.ts';
import { agentConfig, Daemons, metricValue, postEvents, type Ports } from './agent.ts';

/**
 * What the OTLP exporter promises across a gateway outage: at least once. A batch the agent
 * acknowledged to its sender is on the agent's disk queue before the answer; it leaves the queue
 * only when the gateway has answered success, so nothing acknowledged is lost, and a batch the
 * gateway stored but whose answer never came back is sent again (a duplicate). Duplicates are
 * counted and reported, not forbidden.
 */
const OUTAGE_MS = 30_000;
const OUTAGE_ROUNDS = 5;

const gatewayConfig = (gw: Ports) => otlpToFilesConfig(`127.0.0.1:${gw.grpc}`, `127.0.0.1:${gw.http}`);

const daemons = new Daemons();
afterEach(() => daemons.stopAll());

/** How many times the gateway stored each body, for bodies sent by this test. */
function storedBodies(gatewayDir: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const e of readNdjson<{ body?: unknown }>(join(gatewayDir, 'events.ndjson'))) {
    if (typeof e.body !== 'string' || !/^(before|outage|after)\d*-\d+$/.test(e.body)) continue;
    m.set(e.body, (m.get(e.body) ?? 0) + 1);
  }
  return m;
}

describe.each(['otlp_grpc', 'otlp_http'] as const)('Vigil agent → %s → Vigil gateway stopped for 30 s', (kind) => {
  it(
    'every record the agent acknowledged is stored by the gateway once it returns on the same port',
    { timeout: 240_000 },
    async ({ annotate }) => {
      const first = await daemons.start(gatewayConfig({ grpc: 0, http: 0 }));
      const gw: Ports = { grpc: grpcPort(first), http: first.http[0]!.port };
      const gatewayDir = first.dataDir;
      const agent = await daemons.start(agentConfig(kind, gw));
      const acknowledged: string[] = [];
      const send = async (tag: string, n: number) => {
        await postEvents(agent, tag, n); // fails the test unless the agent answered 2xx
        for (let i = 0; i < n; i++) acknowledged.push(`${tag}-${i}`);
      };

      await send('before', 20);
      await waitFor(() => storedBodies(gatewayDir).size === 20, 'the first records at the gateway', 60_000);

      // The gateway goes away for 30 s and at least 5 rounds of records (a loaded machine may
      // take longer over them); the agent keeps receiving records all along.
      expect(await daemons.stop(first)).toBe(0);
      const stoppedAt = Date.now();
      let round = 0;
      while (Date.now() - stoppedAt < OUTAGE_MS || round < OUTAGE_ROUNDS) {
        await send(`outage${round++}`, 10);
        await new Promise((r) => setTimeout(r, 1_000)); // the pace of a sender, not a wait on the system
      }
      expect(storedBodies(gatewayDir).size).toBe(20);
      expect(await metricValue(agent, 'vigil_exporter_retries_total')).toBeGreaterThan(0);

      // Back on the same ports: everything acknowledged arrives, records sent meanwhile too.
      await daemons.start(gatewayConfig(gw), gatewayDir);
      const outageMs = Date.now() - stoppedAt;
      await send('after', 20);
      await waitFor(
        () => storedBodies(gatewayDir).size >= acknowledged.length,
        'every acknowledged record at the gateway',
        120_000,
      );

      const stored = storedBodies(gatewayDir);
      expect(acknowledged.filter((b) => !stored.has(b))).toEqual([]); // no loss
      expect([...stored.keys()].filter((b) => !acknowledged.includes(b))).toEqual([]); // nothing invented
      const duplicates = [...stored.values()].reduce((a, n) => a + n - 1, 0);
      const storedTotal = [...stored.values()].reduce((a, n) => a + n, 0);
      expect(storedTotal).toBe(acknowledged.length + duplicates);
      await annotate(
        `${kind}: ${acknowledged.length} records acknowledged by the agent, ${stored.size} distinct stored ` +
          `by the gateway, ${duplicates} duplicates (at least once), outage ${outageMs} ms with ${round} rounds`,
      );
      expect(await metricValue(agent, 'vigil_exporter_send_failed_records_total')).toBe(0);
    },
  );
});
