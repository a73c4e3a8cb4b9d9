/**
 * What durable correlation state costs: events/s through the engine on the in-memory store
 * against the same engine on the durable store (50 rules, 100,000 groups, the workload of
 * bench/correlation.ts), committing after every batch of 1000 as the daemon does before it
 * acknowledges a batch, awaited one by one (one pipeline consumer) and pipelined (group commit);
 * then what a restart costs: ms to load the state of those 100,000 groups (from the log, and
 * from a snapshot), bytes on disk per group, and a real `vigil run` from start to ready with
 * 100,000 open incidents restored, next to the same daemon on an empty data dir.
 * The machine these run on is shared, so the three stores are measured in alternating rounds
 * (`--rounds`) and each durable figure is a ratio to the memory store of its own round; a bare
 * write + fdatasync loop of one commit's size shows what the disk alone allows.
 * Run: `node bench/durability.ts [--passes 8] [--rounds 3]`.
 */
import { closeSync, constants, fdatasyncSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
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
import { benchArgs, fmt, pin, spawnUntil, table } from './support.ts';

const { values } = benchArgs(import.meta.filename, {
  options: { passes: { type: 'string', default: '8' }, rounds: { type: 'string', default: '3' } },
});
const PASSES = Number(values.passes);
const ROUNDS = Number(values.rounds);
const BATCH = 1000;
const events = makeEvents();
const nowMs = BASE_MS + 61_000;
const root = mkdtempSync(join(tmpdir(), 'vigil-bench-durable-'));

const durable = (dir: string) =>
  new DurableStateStore({ dir, logger: createLogger('silent'), registry: new Registry() });

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

const rounds: { mem: number; awaited: number; pipelined: number }[] = [];
let logBytes = 0;
for (let r = 0; r < ROUNDS; r++) {
  const mem = await rate(new MemoryStateStore(), 'none');
  const awaitedStore = durable(join(root, `awaited-${r}`));
  await awaitedStore.open();
  const awaited = await rate(awaitedStore, 'awaited');
  logBytes = awaitedStore.diskBytes();
  await awaitedStore.close();
  const pipelinedStore = durable(join(root, `pipelined-${r}`));
  await pipelinedStore.open();
  const pipelined = await rate(pipelinedStore, 'pipelined');
  await pipelinedStore.close();
  rounds.push({ mem, awaited, pipelined });
}

/** ms per commit-sized append made durable, by fdatasync after the write and by an O_DSYNC write. */
function bareSyncMs(bytes: number, dsync: boolean): number {
  const fd = openSync(
    join(root, 'bare-sync'),
    constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | (dsync ? (constants.O_DSYNC ?? 0) : 0),
  );
  const buf = Buffer.alloc(bytes, 0x5b);
  const n = 300;
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    writeSync(fd, buf);
    if (!dsync) fdatasyncSync(fd);
  }
  const ms = (performance.now() - start) / n;
  closeSync(fd);
  return ms;
}
const commitBytes = Math.round(logBytes / ((PASSES + 1) * (events.length / BATCH)));
const syncMs = [bareSyncMs(commitBytes, false), bareSyncMs(commitBytes, false), bareSyncMs(commitBytes, false)];
const dsyncMs = [bareSyncMs(commitBytes, true), bareSyncMs(commitBytes, true), bareSyncMs(commitBytes, true)];

const range = (xs: number[], f: (x: number) => string) => {
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  return lo === hi ? f(lo) : `${f(lo)}–${f(hi)}`;
};
const ratio = (x: number) => x.toFixed(2);
process.stdout.write(
  table(
    ['run', 'events/s', 'vs memory (same round)'],
    [
      [
        `memory store: ${RULES} rules, ${fmt(GROUPS)} groups`,
        range(
          rounds.map((r) => r.mem),
          fmt,
        ),
        '1.00',
      ],
      [
        'durable store, commit awaited after each batch of 1000',
        range(
          rounds.map((r) => r.awaited),
          fmt,
        ),
        range(
          rounds.map((r) => r.awaited / r.mem),
          ratio,
        ),
      ],
      [
        'durable store, commits pipelined (group commit)',
        range(
          rounds.map((r) => r.pipelined),
          fmt,
        ),
        range(
          rounds.map((r) => r.pipelined / r.mem),
          ratio,
        ),
      ],
    ],
  ) +
    `\n\n${ROUNDS} rounds. Bare append of one commit (${fmt(commitBytes)} bytes) made durable on this disk: write + fdatasync ${range(syncMs, (x) => x.toFixed(3))} ms, O_DSYNC write ${range(dsyncMs, (x) => x.toFixed(3))} ms; the memory store spends ${range(
      rounds.map((r) => (BATCH / r.mem) * 1000),
      (x) => x.toFixed(2),
    )} ms on a batch of ${BATCH}.\n`,
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

const fromLog = await timedOpen(join(root, `awaited-${ROUNDS - 1}`));
const compacting = durable(join(root, `awaited-${ROUNDS - 1}`));
await compacting.open();
await compacting.snapshotNow();
const snapshotBytes = compacting.diskBytes();
await compacting.close();
const fromSnapshot = await timedOpen(join(root, `awaited-${ROUNDS - 1}`));

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
      batch.push(
        newEvent({
          source: 'bench',
          asset: `host-${g}`,
          type: 'down',
          title: 'down',
          timeUnixNano: t,
          observedTimeUnixNano: t,
        }),
      );
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
  writeFileSync(
    configFile,
    `receivers:\n  json: { endpoint: 127.0.0.1:0 }\nexporters:\n  correlation: {}\ncorrelation:${PAIR_RULES}service:\n  pipelines:\n    logs: { receivers: [json], exporters: [correlation] }\n  telemetry:\n    metrics: { endpoint: 127.0.0.1:0 }\n`,
  );
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
const emptyRuns: number[] = [];
const fullRuns: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  emptyRuns.push(await daemonReadyMs(emptyDir));
  fullRuns.push(await daemonReadyMs(fullDir));
}
const diffs = fullRuns.map((f, i) => f - emptyRuns[i]!);

const ms = (t: number) => t.toFixed(0);
process.stdout.write(
  '\n' +
    table(
      ['restart', 'ms', 'entries', 'bytes on disk', 'bytes per group'],
      [
        [
          `load ${fmt(GROUPS)} groups from the log (${PASSES + 1} passes of commits)`,
          ms(fromLog.ms),
          fmt(fromLog.entries),
          fmt(logBytes),
          fmt(logBytes / GROUPS),
        ],
        [
          `load ${fmt(GROUPS)} groups from a snapshot`,
          ms(fromSnapshot.ms),
          fmt(fromSnapshot.entries),
          fmt(snapshotBytes),
          fmt(snapshotBytes / GROUPS),
        ],
        ['`vigil run` start to ready, empty data dir', range(emptyRuns, ms), '0', '0', '—'],
        [
          `\`vigil run\` start to ready, ${fmt(GROUPS)} open incidents`,
          range(fullRuns, ms),
          fmt(GROUPS),
          fmt(incidentBytes),
          fmt(incidentBytes / GROUPS),
        ],
        ['difference (same round): the restore', range(diffs, ms), '', '', ''],
      ],
    ) +
    '\n',
);
process.stdout.write(
  `\n${fmt(events.length * PASSES)} events per run (${PASSES} passes in batches of ${BATCH}); state in ${tmpdir()}; node ${process.version}\n`,
);
rmSync(root, { recursive: true, force: true });
