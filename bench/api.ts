/**
 * The operators' API over 100,000 incidents held by the correlation core (memory store), in
 * process: list pages of 100 under several filters, following cursors, and actions per second.
 * Latency is measured at the client (fetch over keep-alive HTTP on loopback), so it includes the
 * client's own share of the CPU; the goal is p99 ≤ 50 ms for a page of 100. The baseline, timed
 * the same way in the same run, is a bare fastify route answering a ready-made page of 100: the
 * cost of serving a page at all, against which the API's own work (scan, filter, sort) shows.
 * Run: `node bench/api.ts [--incidents 100000] [--requests 300]`.
 */
import Fastify from 'fastify';
import { parse } from 'yaml';
import { apiSchema } from '../src/api/config.ts';
import { ApiServer } from '../src/api/server.ts';
import { compileRuleSet } from '../src/correlation/compile.ts';
import { correlationSchema } from '../src/correlation/config.ts';
import { CorrelationEngine } from '../src/correlation/engine.ts';
import type { IncidentDesk } from '../src/correlation/incidentActions.ts';
import { newEvent } from '../src/model/event.ts';
import { compileCondition } from '../src/ottl/index.ts';
import { MemoryStateStore } from '../src/state/memoryStore.ts';
import { benchArgs, fmt, table } from './support.ts';

const { values } = benchArgs(import.meta.filename, {
  options: { incidents: { type: 'string', default: '100000' }, requests: { type: 'string', default: '300' } },
});
const INCIDENTS = Number(values.incidents);
const REQUESTS = Number(values.requests);
const T0 = Date.parse('2026-12-01T00:00:00Z');

const cfg = correlationSchema.parse(
  parse(
    'defaults: { group_wait: 0s, allowed_lateness: 30d, max_open_incidents: 0 }\nrules:\n  - { kind: pair, name: asset_down, group_by: [tenant, asset] }\n',
  ),
  'correlation',
  [],
)!;
const engine = new CorrelationEngine(
  compileRuleSet(cfg, (s, c) => compileCondition(s, c) as (item: never) => boolean).set,
  new MemoryStateStore(),
);
let clock = T0 + 30 * 86_400_000;

const built = performance.now();
const BATCH = 1000;
for (let i = 0; i < INCIDENTS; i += BATCH) {
  const batch = [];
  for (let j = i; j < Math.min(INCIDENTS, i + BATCH); j++) {
    const t = T0 + j * 20_000;
    batch.push(
      newEvent({
        source: 'bench',
        id: `e${j}`,
        timeUnixNano: BigInt(t) * 1_000_000n,
        observedTimeUnixNano: BigInt(t) * 1_000_000n,
        type: 'down',
        asset: `host-${j}`,
        service: `svc-${j % 50}`,
        tenant: `tenant-${j % 10}`,
        severityNumber: [13, 17, 21][j % 3]!,
        title: `host-${j} unreachable`,
      }),
    );
  }
  engine.process(batch, T0 + (i + BATCH) * 20_000);
}
// A fifth resolved by their up event, so the state filter has something to leave out.
for (let i = 0; i < INCIDENTS; i += 5 * BATCH) {
  const batch = [];
  for (let j = i; j < Math.min(INCIDENTS, i + 5 * BATCH); j += 5) {
    const t = T0 + j * 20_000 + 10_000;
    batch.push(
      newEvent({
        source: 'bench',
        id: `u${j}`,
        timeUnixNano: BigInt(t) * 1_000_000n,
        observedTimeUnixNano: BigInt(t) * 1_000_000n,
        type: 'up',
        asset: `host-${j}`,
        tenant: `tenant-${j % 10}`,
      }),
    );
  }
  engine.process(batch, clock);
}
const buildMs = performance.now() - built;

const desk: IncidentDesk = {
  *incidents() {
    for (const rec of engine.eachIncident(false)) yield rec.incident;
  },
  watchIncidents: () => engine.watchIncidents(),
  current: (key) => engine.book.get(key)?.incident,
  incident: (id) => engine.incidentById(id)?.incident,
  act: async (id, actor, action) => engine.act(id, actor, action, (clock += 1)),
  nowMs: () => clock,
  silences: () => engine.silences.list(),
  silence: (id) => engine.silences.get(id),
  putSilence: async (s) => void engine.putSilence(s, clock),
};
const server = new ApiServer({
  config: apiSchema.parse({ endpoint: '127.0.0.1:0', anonymous_role: 'operator' }, 'api', [])!,
  desk: () => desk,
});
await server.start();
const base = `http://127.0.0.1:${server.address!.port}`;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Times REQUESTS list requests of `query`, each following the previous page's cursor (back to page 1 at the end). */
async function measureList(
  query: string,
  at = `${base}/api/v1/incidents`,
): Promise<{ p50: number; p99: number; items: number }> {
  const times: number[] = [];
  let cursor: string | null = null;
  let items = 0;
  for (let i = 0; i < REQUESTS + 20; i++) {
    const started = performance.now();
    const res = await fetch(`${at}?${query}${cursor ? `&cursor=${cursor}` : ''}`);
    const body = (await res.json()) as { items: unknown[]; next_cursor: string | null };
    if (res.status !== 200) throw new Error(`${query}: ${res.status} ${JSON.stringify(body)}`);
    // The first requests warm the JIT up.
    if (i >= 20) times.push(performance.now() - started);
    items = Math.max(items, body.items.length);
    cursor = body.next_cursor;
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99), items };
}

const queries = [
  'limit=100',
  'limit=100&state=open&severity=error',
  'limit=100&sort=-severity&tenant=tenant-3',
  'limit=100&label=tenant=tenant-7&state=open,acknowledged',
  'limit=100&q=host-9&sort=updated_at',
  'limit=100&rule=asset_down&since=2026-12-10T00:00:00Z&until=2026-12-20T00:00:00Z',
];
const firstPage = await (await fetch(`${base}/api/v1/incidents?limit=100`)).text();
const bare = Fastify({ logger: false });
bare.get('/page', async (_req, reply) => reply.type('application/json').send(firstPage));
await bare.listen({ host: '127.0.0.1', port: 0 });
const floor = await measureList(
  'limit=100',
  `http://127.0.0.1:${(bare.server.address() as { port: number }).port}/page`,
);
await bare.close();
const rows: (string | number)[][] = [
  ['baseline: a ready-made page of 100', floor.items, floor.p50.toFixed(1), floor.p99.toFixed(1), '1.0'],
];
for (const q of queries) {
  const r = await measureList(q);
  rows.push([`\`${q}\``, r.items, r.p50.toFixed(1), r.p99.toFixed(1), (r.p50 / floor.p50).toFixed(1)]);
}

// Actions: acknowledgements of distinct open incidents, one at a time.
// Spread over the whole set: finding one by id scans the records in store order.
const openIds = engine.openIncidents().map((r) => r.incident.id);
const open = Array.from({ length: 50 }, (_, i) => openIds[Math.floor((i * openIds.length) / 50)]!);
const actStarted = performance.now();
for (const id of open) {
  const res = await fetch(`${base}/api/v1/incidents/${id}/acknowledge`, { method: 'POST' });
  if (res.status !== 200) throw new Error(`acknowledge: ${res.status}`);
  await res.arrayBuffer();
}
const actionsPerSecond = open.length / ((performance.now() - actStarted) / 1000);
await server.stop();

console.log(
  `${fmt(INCIDENTS)} incidents built through the engine in ${fmt(buildMs)} ms; ${REQUESTS} requests per query, following cursors.\n`,
);
console.log(table(['query', 'page', 'p50 ms', 'p99 ms', 'p50 / baseline'], rows));
console.log(
  `\nacknowledge: ${fmt(actionsPerSecond)} actions/s (one at a time; each finds its incident by id among ${fmt(INCIDENTS)})`,
);
