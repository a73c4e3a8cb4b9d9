/**
 * OTTL conditions and the processor chain, in process on one core.
 * 1. Condition evaluations/s for realistic conditions, compiled by Vigil, next to a hand-written
 *    JavaScript closure computing the same answer (the ceiling a compiler to closures can reach).
 * 2. Events/s through extract → enrich (table) → tag → filter, next to one hand-written function
 *    doing the same work on the same events.
 * Run: `node bench/ottl.ts [--seconds 0.5]` (seconds per measurement; best of 3 rounds).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ConfigIssue } from '../src/config/schema.ts';
import { newEvent, type VigilEvent } from '../src/model/index.ts';
import { compileCondition } from '../src/ottl/index.ts';
import type { ProcessorFactory, Processor } from '../src/pipeline/component.ts';
import { enrichProcessorFactory } from '../src/processors/enrich/factory.ts';
import { extractProcessorFactory } from '../src/processors/extract/factory.ts';
import { filterProcessorFactory } from '../src/processors/filter/factory.ts';
import { tagProcessorFactory } from '../src/processors/tag/factory.ts';
import { createLogger } from '../src/telemetry/logger.ts';
import { SelfMetrics } from '../src/telemetry/selfMetrics.ts';
import { benchArgs, fmt, scratchDir, table } from './support.ts';

const { values } = benchArgs(import.meta.filename, { options: { seconds: { type: 'string', default: '0.4' } } });
const SECONDS = Number(values.seconds);
const ROUNDS = 5;

const BODIES = [
  'GET /cart 200',
  'Interface Gi0/1 link down',
  'GET /healthcheck 200',
  'disk /var 97% full on db-7',
  'Interface Gi0/2 link up',
  'payment declined',
];

function makeEvent(i: number): VigilEvent {
  return newEvent({
    source: 'bench',
    body: `%LINK-3-UPDOWN: ${BODIES[i % BODIES.length]!}`,
    asset: `host-${i % 500}`,
    service: i % 3 === 0 ? 'shop' : 'billing',
    severityNumber: [9, 13, 17, 18][i % 4]!,
    attributes: {
      'http.status_code': [200, 404, 500, 503][i % 4]!,
      'http.route': '/cart',
      code: String([200, 502][i % 2]),
      region: 'eu-west-1',
    },
    resource: { 'k8s.namespace.name': i % 2 ? 'prod' : 'dev', 'service.name': 'shop' },
  });
}

const events = Array.from({ length: 1000 }, (_, i) => makeEvent(i));

/**
 * This process's CPU time in ms. Rates are per CPU-second rather than per wall-second: on a
 * shared machine the wall clock measures the neighbours as much as the code.
 */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Calls `fn` over the events for SECONDS of CPU time; returns calls per CPU-second. */
function rate(fn: (e: VigilEvent) => boolean): { perSecond: number; hits: number } {
  // Counting hits keeps the calls from being optimised away.
  let calls = 0;
  let hits = 0;
  const started = cpuMs();
  let elapsed = 0;
  while (elapsed < SECONDS * 1000) {
    for (let i = 0; i < events.length; i++) if (fn(events[i]!)) hits++;
    calls += events.length;
    elapsed = cpuMs() - started;
  }
  return { perSecond: calls / (elapsed / 1000), hits };
}

const linkRe = /link (down|up)/;
const healthRe = /healthcheck/;

const conditions: { name: string; ottl: string; js: (e: VigilEvent) => boolean }[] = [
  {
    name: 'status ≥ 500 and namespace == prod',
    ottl: 'attributes["http.status_code"] >= 500 and resource.attributes["k8s.namespace.name"] == "prod"',
    js: (e) => {
      const s = e.attributes['http.status_code'];
      return typeof s === 'number' && s >= 500 && e.resource['k8s.namespace.name'] === 'prod';
    },
  },
  {
    name: 'IsMatch(body, "link (down|up)")',
    ottl: 'IsMatch(body, "link (down|up)")',
    js: (e) => typeof e.body === 'string' && linkRe.test(e.body),
  },
  {
    name: 'severity, asset/service, not IsMatch',
    ottl: 'severity_number >= SEVERITY_NUMBER_ERROR and (asset == "host-7" or service == "shop") and not IsMatch(body, "healthcheck")',
    js: (e) =>
      e.severityNumber >= 17 &&
      (e.asset === 'host-7' || e.service === 'shop') &&
      !(typeof e.body === 'string' && healthRe.test(e.body)),
  },
  {
    name: 'Int(attributes["code"]) >= 500',
    ottl: 'Int(attributes["code"]) >= 500',
    js: (e) => {
      const c = e.attributes.code;
      return typeof c === 'string' && /^\s*[-+]?\d+\s*$/.test(c) && Number(c) >= 500;
    },
  },
];

const conditionRows: (string | number)[][] = [];
for (const c of conditions) {
  const compiled = compileCondition(c.ottl, 'event');
  // Same events, same answers, or the comparison means nothing.
  const disagree = events.findIndex((e) => compiled(e) !== c.js(e));
  if (disagree !== -1) throw new Error(`${c.name}: OTTL and the hand-written closure disagree on event ${disagree}`);
  let bestOttl = 0;
  let bestJs = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const js = rate(c.js);
    const ottl = rate(compiled);
    bestJs = Math.max(bestJs, js.perSecond);
    bestOttl = Math.max(bestOttl, ottl.perSecond);
  }
  conditionRows.push([`\`${c.ottl}\``, fmt(bestOttl), fmt(bestJs), (bestOttl / bestJs).toFixed(2)]);
}

// ---- processor chain ----

const dataDir = scratchDir();
writeFileSync(
  join(dataDir, 'cmdb.csv'),
  [
    'host,owner,site,criticality,parent',
    ...Array.from({ length: 500 }, (_, i) => `host-${i},team-${i % 7},site-${i % 3},high,sw-${i % 20}`),
  ].join('\n'),
);

function create<C>(factory: ProcessorFactory<C>, raw: unknown): Processor<VigilEvent> {
  const issues: ConfigIssue[] = [];
  const config = factory.configSchema.parse(raw, factory.type, issues);
  if (issues.length) throw new Error(JSON.stringify(issues));
  const settings = {
    id: factory.type,
    logger: createLogger('silent'),
    metrics: new SelfMetrics(),
    dataDir,
    signal: 'logs' as const,
    pipeline: 'logs',
  };
  return factory.create(settings, config!) as Processor<VigilEvent>;
}

const chain = [
  create(extractProcessorFactory, {
    rules: [
      {
        regex: { pattern: String.raw`Interface (?<interface>\S+) link (?<state>down|up)` },
        set: { title: '{{ attributes.interface }} {{ attributes.state }} on {{ asset }}' },
      },
    ],
  }),
  create(enrichProcessorFactory, { table: { path: 'cmdb.csv', key_field: 'host' } }),
  create(tagProcessorFactory, {
    rules: [
      { where: 'attributes["state"] == "down"', type: 'down', severity: 'critical' },
      { where: 'attributes["state"] == "up"', type: 'up', severity: 'info' },
    ],
  }),
  create(filterProcessorFactory, {
    logs: ['IsMatch(body, "healthcheck")', 'severity_number < SEVERITY_NUMBER_WARN and type == "neutral"'],
  }),
];
for (const p of chain) await p.start?.({} as never);

const cmdb = new Map<string, Record<string, string>>();
for (let i = 0; i < 500; i++)
  cmdb.set(`host-${i}`, { owner: `team-${i % 7}`, site: `site-${i % 3}`, criticality: 'high', parent: `sw-${i % 20}` });
const ifaceRe = /Interface (?<interface>\S+) link (?<state>down|up)/;

/** The same four steps written by hand for these events: the baseline. */
function handWritten(batch: VigilEvent[]): VigilEvent[] {
  const out: VigilEvent[] = [];
  for (const e of batch) {
    const m = typeof e.body === 'string' ? ifaceRe.exec(e.body) : null;
    if (m) {
      e.attributes.interface = m.groups!.interface!;
      e.attributes.state = m.groups!.state!;
      e.title = `${m.groups!.interface} ${m.groups!.state} on ${e.asset}`;
    }
    const row = cmdb.get(e.asset);
    if (row) for (const k in row) if (!Object.hasOwn(e.attributes, k)) e.attributes[k] = row[k]!;
    const state = e.attributes.state;
    if (state === 'down') {
      e.type = 'down';
      e.severityNumber = 18;
      e.severityText = 'critical';
    } else if (state === 'up') {
      e.type = 'up';
      e.severityNumber = 9;
      e.severityText = 'info';
    }
    if (typeof e.body === 'string' && healthRe.test(e.body)) continue;
    if (e.severityNumber < 13 && e.type === 'neutral') continue;
    out.push(e);
  }
  return out;
}

async function vigilChain(batch: VigilEvent[]): Promise<VigilEvent[]> {
  let b = batch;
  for (const p of chain) b = await p.process(b);
  return b;
}

/** Fresh events per batch (processors change them), made outside the timed part. */
async function chainRate(
  run: (b: VigilEvent[]) => VigilEvent[] | Promise<VigilEvent[]>,
): Promise<{ perSecond: number; kept: number }> {
  let timed = 0;
  let processed = 0;
  let kept = 0;
  while (timed < SECONDS * 1000) {
    const batch = Array.from({ length: 1000 }, (_, i) => makeEvent(i));
    const t0 = cpuMs();
    kept += (await run(batch)).length;
    timed += cpuMs() - t0;
    processed += batch.length;
  }
  return { perSecond: processed / (timed / 1000), kept: kept / processed };
}

let bestChain = 0;
let bestHand = 0;
for (let round = 0; round < ROUNDS; round++) {
  const hand = await chainRate(handWritten);
  const vigil = await chainRate(vigilChain);
  if (Math.abs(hand.kept - vigil.kept) > 1e-9)
    throw new Error(`the chain and the baseline keep different shares (${vigil.kept} vs ${hand.kept})`);
  bestHand = Math.max(bestHand, hand.perSecond);
  bestChain = Math.max(bestChain, vigil.perSecond);
}
for (const p of chain) await p.shutdown?.();

process.stdout.write(`Node ${process.version}, per CPU-second, best of ${ROUNDS} rounds of ${SECONDS} CPU-s each.\n\n`);
process.stdout.write(`${table(['condition', 'OTTL evaluations/s', 'hand-written JS/s', 'ratio'], conditionRows)}\n\n`);
process.stdout.write(
  `${table(['chain (batches of 1000 events)', 'events/s', 'hand-written JS events/s', 'ratio'], [['extract → enrich (500-row table) → tag → filter', fmt(bestChain), fmt(bestHand), (bestChain / bestHand).toFixed(2)]])}\n`,
);
