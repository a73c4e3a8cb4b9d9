import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ClickHouseError, type ClickHouseBackend } from '../../../src/exporters/clickhouse/backend.ts';
import { BatchWriter } from '../../../src/exporters/clickhouse/batchWriter.ts';
import { Spool } from '../../../src/exporters/clickhouse/spool.ts';
import { PruneReport } from '../../../src/exporters/helper/prune.ts';
import { ExporterTelemetry } from '../../../src/exporters/helper/telemetry.ts';
import { createLogger } from '../../../src/telemetry/logger.ts';
import { SelfMetrics } from '../../../src/telemetry/selfMetrics.ts';
import { waitFor } from '../../support/waitFor.ts';

const DAY = 86_400_000;

/** A server that calls every row of table `bad` bad data (code 27) and stores the rest. */
function backend(stored: string[]): ClickHouseBackend {
  return {
    description: 'fake',
    version: async () => '25.1.1.1',
    command: async () => {},
    select: async <T>(): Promise<T[]> => [],
    close: async () => {},
    insert: async (_db, table, data) => {
      if (table === 'bad') throw new ClickHouseError(27, 'Code: 27. DB::Exception: Cannot parse input');
      stored.push(data.toString());
    },
  };
}

const writers: BatchWriter[] = [];
afterEach(async () => {
  await Promise.all(writers.splice(0).map((w) => w.close()));
});

function setUp(limits: { maxAgeMs: number; maxBytes: number }, dir = mkdtempSync(join(tmpdir(), 'vigil-rejected-'))) {
  const clock = { now: 50 * DAY };
  const logs: Record<string, unknown>[] = [];
  const logger = createLogger('info', {
    write: (s: string) => logs.push(JSON.parse(s) as Record<string, unknown>),
  } as unknown as NodeJS.WritableStream);
  const metrics = new SelfMetrics();
  const stored: string[] = [];
  const writer = new BatchWriter({
    id: 'clickhouse',
    backend: backend(stored),
    database: 'otel',
    spool: new Spool(dir, false, () => clock.now),
    maxRows: 1,
    maxBytes: 1 << 20,
    maxDelayMs: 3_600_000,
    spoolMaxBytes: 1 << 30,
    retryInitialMs: 5,
    retryMaxMs: 20,
    prepare: async () => {},
    signalOf: () => 'logs',
    logger,
    telemetry: new ExporterTelemetry(metrics, 'clickhouse'),
    rejected: { limits, report: new PruneReport(metrics.registry, logger, 'clickhouse', 'rejected') },
  });
  writers.push(writer);
  const rejected = () => readdirSync(join(dir, 'rejected')).sort();
  const pruneLogs = () => logs.filter((l) => l.store === 'rejected');
  const pruned = async () =>
    (await metrics.registry.getSingleMetric('vigil_exporter_pruned_total')!.get()).values.find(
      (v) => v.labels.store === 'rejected',
    )?.value;
  return { writer, dir, clock, stored, rejected, pruneLogs, pruned };
}

/** One bad row of `n` bytes in all (newline included), so each set-aside batch has a known size. */
const badRow = (i: number, n: number) => Buffer.from(`{"i":${i},"pad":"${'x'.repeat(n - 16 - String(i).length)}"}\n`);

describe("the ClickHouse spool's rejected/ directory", () => {
  it('deletes the oldest batches set aside once it holds more than max_bytes, logging and counting each prune', async () => {
    const t = setUp({ maxAgeMs: 0, maxBytes: 250 });
    await t.writer.start();
    for (let i = 1; i <= 3; i++) {
      t.clock.now += 1000;
      await t.writer.write('bad', badRow(i, 100), 1);
      await waitFor(() => t.rejected().length === Math.min(i, 2), `batch ${i} set aside`, 10_000);
    }
    await t.writer.write('good', Buffer.from('{"ok":1}\n'), 1);
    await waitFor(() => t.stored.length === 1, 'the good row stored', 10_000);
    // Three batches of 100 bytes against 250: the first set aside went, the later two stay.
    expect(t.rejected()).toHaveLength(2);
    expect(t.rejected().every((f) => statSync(join(t.dir, 'rejected', f)).size === 100)).toBe(true);
    expect(t.rejected()[0]).toMatch(/^000000000002\.bad\./);
    expect(await t.pruned()).toBe(1);
    expect(t.pruneLogs()).toHaveLength(1);
    expect(t.pruneLogs()[0]).toMatchObject({
      removed: 1,
      removedForSize: 1,
      removedForAge: 0,
      kept: 2,
      keptBytes: 200,
    });
  });

  it('deletes batches set aside longer ago than max_age, by the clock, at start and on each prune', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-rejected-'));
    const first = setUp({ maxAgeMs: 7 * DAY, maxBytes: 0 }, dir);
    await first.writer.start();
    await first.writer.write('bad', badRow(1, 100), 1);
    await waitFor(() => first.rejected().length === 1, 'batch 1 set aside', 10_000);
    first.clock.now += 5 * DAY;
    await first.writer.write('bad', badRow(2, 100), 1);
    await waitFor(() => first.rejected().length === 2, 'batch 2 set aside', 10_000);
    first.clock.now += 3 * DAY; // batch 1 is 8 days old, batch 2 three
    await first.writer.pruneRejected();
    expect(first.rejected()).toHaveLength(1);
    expect(first.rejected()[0]).toMatch(/^000000000002\.bad\./);
    expect(first.pruneLogs()[0]).toMatchObject({ removed: 1, removedForAge: 1, kept: 1 });
    await first.writer.close();

    // A restart ten days later prunes what aged meanwhile before anything is set aside.
    const second = setUp({ maxAgeMs: 7 * DAY, maxBytes: 0 }, dir);
    second.clock.now = first.clock.now + 10 * DAY;
    await second.writer.start();
    expect(second.rejected()).toEqual([]);
    expect(await second.pruned()).toBe(1);
  });

  it('keeps everything with both limits at 0', async () => {
    const t = setUp({ maxAgeMs: 0, maxBytes: 0 });
    await t.writer.start();
    for (let i = 1; i <= 3; i++) await t.writer.write('bad', badRow(i, 100), 1);
    await waitFor(() => t.rejected().length === 3, 'three batches set aside', 10_000);
    t.clock.now += 1000 * DAY;
    await t.writer.pruneRejected();
    expect(t.rejected()).toHaveLength(3);
    expect(t.pruneLogs()).toEqual([]);
  });
});
