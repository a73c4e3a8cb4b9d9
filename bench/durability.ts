/**
 * What durable correlation state costs: events/s through the engine on the in-memory store
 * against the same engine on the durable store (50 rules, 100,000 groups, the workload of
 * bench/correlation.ts), committing after every batch of 1000 as the daemon does before it
 * acknowledges a batch, awaited one by one (one pipeline consumer) and pipelined (group commit);
 * then what a restart costs: ms to load the state of those 100,000 groups (from the log, and
 * from a snapshot), bytes on disk per group, and a real `vigil run` from start to ready with
 * 100,000 open incidents restored, next to the same daemon on an empty data dir.
 * Run: `node bench/durability.ts [--passes 8]`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Registry } from 'prom-client';
import { parse } from 'yaml';
import { compileRuleSet } from '../src/correlation/compile.ts';
import { correlationSchema } from '../src/correlation/config.ts';
import { ottlConditions } from '../src/correlation/configSection.ts';
import { CorrelationEngine } from '../src/correlation/engine.ts';
import { newEvent } from '../src/model/event.ts';
import { DurableStateStore } from '../src/state/durableStore.ts';
import { MemoryStateStore } from '../src/state/memoryStore.ts';
import type { StateStore } from '../src/correlation/stateStore.ts';
import { createLogger } from '../src/telemetry/logger.ts';
import { BASE_MS, buildEngine, GROUPS, makeEvents, RULES } from './correlationWorkload.ts';
import { fmt, pin, spawnUntil, table } from './support.ts';

const { values } = parseArgs({ options: { passes: { type: 'string', default: '8' } } });
const PASSES = Number(values.passes);
const BATCH = 1000;
const events = makeEvents();
const nowMs = BASE_MS + 61_000;
const root = mkdtempSync(join(tmpdir(), 'vigil-bench-durable-'));

const durable = (dir: string) => new DurableStateStore({ dir, logger: createLogger('silent'), registry: new Registry() });

type Commit = 'none' | 'awaited' | 'pipelined';

async function rate(store: StateStore & { commit?: () => Promise<void> }, commit: Commit): Promise<number> {
  const engine = buildEngine(store);
  const pass = async () => {
    for (let i = 0; i < events.length; i += BATCH) {
      engine.process(events.slice(i, i + BATCH), nowMs);
      if (commit === 'awaited') await store.commit!();
      else if (commit === 'pipelined') void store.commit!();
    }
    await store.commit?.();
  };
  await pass(); // fills the 100,000 groups, warms the JIT
  const start = performance.now();
  for (let p = 0; p < PASSES; p++) await pass();
  return (events.length * PASSES) / ((performance.now() - start) / 1000);
}

const memRate = await rate(new MemoryStateStore(), 'none');
const awaitedStore = durable(join(root, 'awaited'));
await awaitedStore.open();
const awaitedRate = await rate(awaitedStore, 'awaited');
const logBytes = awaitedStore.diskBytes();
await awaitedStore.close();
const pipelinedStore = durable(join(root, 'pipelined'));
await pipelinedStore.open();
const pipelinedRate = await rate(pipelinedStore, 'pipelined');
await pipelinedStore.close();

process.stdout.write(
  table(
    ['run', 'events/s', 'vs memory'],
    [
      [`memory store: ${RULES} rules, ${fmt(GROUPS)} groups`, fmt(memRate), '1.00'],
      ['durable store, commit (fdatasync) awaited after each batch of 1000', fmt(awaitedRate), (awaitedRate / memRate).toFixed(2)],
      ['durable store, commits pipelined (group commit)', fmt(pipelinedRate), (pipelinedRate / memRate).toFixed(2)],
    ],
  ) + '\n',
);

async function timedOpen(dir: string): Promise<{ ms: number; entries: number }> {
  const start = performance.now();
  const store = durable(dir);
  const report = await store.open();
  store.sweep(nowMs);
  const ms = performance.now() - start;
  await store.close();
  return { ms, entries: report.entries };
}

const fromLog = await timedOpen(join(root, 'awaited'));
const compacting = durable(join(root, 'awaited'));
await compacting.open();
await compacting.snapshotNow();
const snapshotBytes = compacting.diskBytes();
await compacting.close();
const fromSnapshot = await timedOpen(join(root, 'awaited'));

/** 100,000 open incidents of a pair rule, written through the engine into a daemon's data dir. */
const PAIR_RULES = `
  defaults: { group_wait: 0s, allowed_lateness: 1h }
  rules:
    - { kind: pair, name: asset_down, group_by: [asset] }
`;
async function openIncidents(dataDir: string): Promise<number> {
  const cfg = correlationSchema.parse(parse(PAIR_RULES), 'correlation', [])!;
  const store = durable(join(dataDir, 'correlation'));
  await store.open();
  const engine = new CorrelationEngine(compileRuleSet(cfg, ottlConditions).set, store);
  const now = Date.now();
  for (let i = 0; i < GROUPS; i += BATCH) {
    const batch = [];
    for (let g = i; g < i + BATCH; g++) {
      const t = BigInt(now - 60_000 + (g % 60_000)) * 1_000_000n;
      batch.push(newEvent({ source: 'bench', asset: `host-${g}`, type: 'down', title: 'down', timeUnixNano: t, observedTimeUnixNano: t }));
    }
    engine.process(batch, now);
    await store.commit();
  }
  await store.snapshotNow();
  const bytes = store.diskBytes();
  await store.close();
  return bytes;
}

const CLI = resolve(import.meta.dirname, '../cmd/vigil.ts');
async function daemonReadyMs(dataDir: string): Promise<number> {
  const configFile = join(dataDir, 'vigil.yaml');
  writeFileSync(configFile, `receivers:\n  json: { endpoint: 127.0.0.1:0 }\nexporters:\n  correlation: {}\ncorrelation:${PAIR_RULES}service:\n  pipelines:\n    logs: { receivers: [json], exporters: [correlation] }\n  telemetry:\n    metrics: { endpoint: 127.0.0.1:0 }\n`);
  const [cmd, args] = pin(0, [process.execPath, CLI, 'run', '--config', configFile, '--data-dir', dataDir]);
  const start = performance.now();
  const { proc } = await spawnUntil(cmd, args, /"msg":"Vigil started"/);
  const ms = performance.now() - start;
  proc.kill('SIGKILL');
  return ms;
}

const emptyDir = mkdtempSync(join(root, 'empty-'));
const fullDir = mkdtempSync(join(root, 'full-'));
const incidentBytes = await openIncidents(fullDir);
const emptyMs = await daemonReadyMs(emptyDir);
const fullMs = await daemonReadyMs(fullDir);

const ms = (t: number) => t.toFixed(0);
process.stdout.write(
  '\n' +
    table(
      ['restart', 'ms', 'entries', 'bytes on disk', 'bytes per group'],
      [
        [`load ${fmt(GROUPS)} groups from the log (${PASSES + 1} passes of commits)`, ms(fromLog.ms), fmt(fromLog.entries), fmt(logBytes), fmt(logBytes / GROUPS)],
        [`load ${fmt(GROUPS)} groups from a snapshot`, ms(fromSnapshot.ms), fmt(fromSnapshot.entries), fmt(snapshotBytes), fmt(snapshotBytes / GROUPS)],
        ['`vigil run` start to ready, empty data dir', ms(emptyMs), '0', '0', '—'],
        [`\`vigil run\` start to ready, ${fmt(GROUPS)} open incidents`, ms(fullMs), fmt(GROUPS), fmt(incidentBytes), fmt(incidentBytes / GROUPS)],
      ],
    ) +
    '\n',
);
process.stdout.write(`\n${fmt(events.length * PASSES)} events per run (${PASSES} passes in batches of ${BATCH}); state in ${tmpdir()}; node ${process.version}\n`);
rmSync(root, { recursive: true, force: true });
