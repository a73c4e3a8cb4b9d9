/**
 * Incident changes/s the exporter outbox makes durable (append → journal, optionally fsync),
 * at batch sizes 1 and 100, next to a bare FileHandle append of the same JSON lines measured
 * in the same run. Delivery is not started: this is the cost of acknowledging a change.
 * The two alternate for several rounds and each reports its median, so load from other
 * processes on the machine hits both alike. Run: `node bench/tickets.ts [--seconds 0.5] [--rounds 3]`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Outbox } from '../src/exporters/tickets/outbox.ts';
import type { IncidentChange } from '../src/model/incident.ts';
import { fmt, table } from './support.ts';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '0.5' }, rounds: { type: 'string', default: '3' } },
});
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);

function change(i: number): IncidentChange {
  const key = `disk-full{host="db-${i % 500}"}`;
  return {
    kind: 'updated',
    reason: 'threshold crossed again',
    atMs: 1_795_000_000_000 + i,
    notify: true,
    eventIds: [`e${i}`],
    incident: {
      key,
      id: `inc-${i % 500}`,
      rule: 'disk-full',
      ruleKind: 'threshold',
      labels: { host: `db-${i % 500}`, env: 'prod' },
      title: 'Disk full',
      status: 'open',
      severityNumber: 17,
      severityText: 'ERROR',
      suppressed: false,
      suppressedBy: '',
      openedAtMs: 1,
      updatedAtMs: 2,
      resolvedAtMs: 0,
      firstSeenMs: 1,
      lastSeenMs: 2,
      eventCount: i,
      sampleEventIds: ['e1', 'e2', 'e3'],
      lastEventType: 'down',
      tenant: 'acme',
      asset: `db-${i % 500}`,
      service: 'postgres',
      version: i,
      audit: [],
    },
  };
}

async function timed(fn: (i: number) => Promise<number>): Promise<number> {
  const deadline = performance.now() + SECONDS * 1000;
  const started = performance.now();
  let n = 0;
  for (let i = 0; performance.now() < deadline; i++) n += await fn(i);
  return n / ((performance.now() - started) / 1000);
}

async function outboxRate(fsync: boolean, batch: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-outbox-'));
  const box = new Outbox<IncidentChange>({
    dir,
    fsync,
    maxAttempts: 1,
    backoff: { initialMs: 1000, maxMs: 1000 },
    concurrency: 1,
    deliver: async () => {},
  });
  await box.open();
  const rate = await timed(async (i) => {
    const items = Array.from({ length: batch }, (_, j) => {
      const c = change(i * batch + j);
      return { key: c.incident.key, payload: c };
    });
    await box.append(items);
    return batch;
  });
  await box.close();
  rmSync(dir, { recursive: true, force: true });
  return rate;
}

async function bareRate(fsync: boolean, batch: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-bare-'));
  const h = await open(join(dir, 'bare.ndjson'), 'a');
  const rate = await timed(async (i) => {
    let text = '';
    for (let j = 0; j < batch; j++) text += JSON.stringify(change(i * batch + j)) + '\n';
    await h.write(text);
    if (fsync) await h.sync();
    return batch;
  });
  await h.close();
  rmSync(dir, { recursive: true, force: true });
  return rate;
}

const rows: (string | number)[][] = [];
for (const fsync of [false, true]) {
  for (const batch of [1, 100]) {
    const bares: number[] = [];
    const boxes: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      bares.push(await bareRate(fsync, batch));
      boxes.push(await outboxRate(fsync, batch));
    }
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const bare = median(bares);
    const box = median(boxes);
    rows.push([fsync ? 'on' : 'off', batch, fmt(bare), fmt(box), `${(box / bare).toFixed(2)}×`]);
  }
}
console.log(table(['fsync', 'batch', 'bare append changes/s', 'outbox changes/s', 'outbox / bare'], rows));
