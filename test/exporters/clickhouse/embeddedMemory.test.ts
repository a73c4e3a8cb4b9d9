import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  embeddedBatchBytes,
  embeddedMemoryBudget,
  INSERT_WORKING_MEMORY_FACTOR,
} from '../../../src/exporters/clickhouse/embeddedMemory.ts';
import type { NativeMemory } from '../../../src/pipeline/memoryGuard.ts';
import { ClickHouseExporter } from '../../../src/exporters/clickhouse/exporter.ts';
import { createLogger } from '../../../src/telemetry/logger.ts';
import { SelfMetrics } from '../../../src/telemetry/selfMetrics.ts';
import { exporterConfig, sampleEvents, waitFor } from './harness.ts';

const MIB = 1024 * 1024;

describe('embedded ClickHouse under a memory limit', () => {
  it('budgets a share of the limit for the engine, small caches, and batches of a 256th of the limit', () => {
    const b = embeddedMemoryBudget(256 * MIB);
    expect(b.server).toBeLessThan(256 * MIB);
    expect(b.query).toBeLessThan(b.server);
    expect(b.merges).toBeLessThan(b.server);
    expect(b.cache * 8).toBeLessThan(b.server * 0.2);
    expect(b.batchBytes).toBe(1 * MIB);
    // A large limit scales every part; a tiny one keeps workable floors.
    expect(embeddedMemoryBudget(16 * 1024 * MIB).server / embeddedMemoryBudget(256 * MIB).server).toBeCloseTo(64, 3);
    expect(embeddedMemoryBudget(32 * MIB).server).toBeGreaterThanOrEqual(32 * MIB);
  });

  it('inserts larger batches where the limit leaves room above the daemon at rest', () => {
    expect(embeddedBatchBytes(128 * MIB)).toBe(MIB / 2);
    expect(embeddedBatchBytes(256 * MIB)).toBe(1 * MIB);
    expect(embeddedBatchBytes(512 * MIB)).toBe(4 * MIB);
    expect(embeddedBatchBytes(1024 * MIB)).toBe(8 * MIB);
    expect(embeddedBatchBytes(384 * MIB)).toBeGreaterThan((384 * MIB) / 256);
    expect(embeddedBatchBytes(384 * MIB)).toBeLessThan((384 * MIB) / 128);
    let last = 0;
    for (let mib = 32; mib <= 2048; mib += 32) {
      const bytes = embeddedBatchBytes(mib * MIB);
      expect(bytes).toBeGreaterThanOrEqual(last);
      last = bytes;
    }
    expect(embeddedMemoryBudget(512 * MIB).batchBytes).toBe(4 * MIB);
  });

  it('starts chdb with those limits, its allocator returning freed pages, and stores rows in smaller batches', async () => {
    const logs: Record<string, unknown>[] = [];
    const logger = createLogger('info', {
      write: (s: string) => logs.push(JSON.parse(s) as Record<string, unknown>),
    } as unknown as NodeJS.WritableStream);
    const limit = 256 * MIB;
    const reports: (NativeMemory | undefined)[] = [];
    const exporter = new ClickHouseExporter(
      {
        id: 'clickhouse',
        logger,
        metrics: new SelfMetrics(),
        dataDir: mkdtempSync(join(tmpdir(), 'vigil-ch-mem-')),
        memoryLimitBytes: limit,
        nativeMemory: { reportNative: (name, m) => name === 'embedded_clickhouse' && reports.push(m) },
      },
      exporterConfig({ ttl: 0, batch: { max_delay: '50ms' } }),
    );
    await exporter.start();
    try {
      const budget = embeddedMemoryBudget(limit);
      const server = await exporter.backend.select<{ name: string; value: string }>(
        "SELECT name, value FROM system.server_settings WHERE name IN ('max_server_memory_usage', 'mark_cache_size', 'text_index_postings_cache_size', 'merges_mutations_memory_usage_soft_limit')",
        {},
      );
      expect(Object.fromEntries(server.map((r) => [r.name, Number(r.value)]))).toEqual({
        max_server_memory_usage: budget.server,
        mark_cache_size: budget.cache,
        text_index_postings_cache_size: budget.cache,
        merges_mutations_memory_usage_soft_limit: budget.merges,
      });
      const query = await exporter.backend.select<{ value: string }>(
        "SELECT value FROM system.settings WHERE name = 'max_memory_usage'",
        {},
      );
      expect(Number(query[0]!.value)).toBe(budget.query);
      // A batch is parsed in the thread that inserts it, not handed to parser threads.
      const parsing = await exporter.backend.select<{ value: string }>(
        "SELECT value FROM system.settings WHERE name = 'input_format_parallel_parsing'",
        {},
      );
      expect(parsing[0]!.value).toBe('0');
      // Merges one column at a time, with small compression blocks, fewer levels, in every table.
      const tables = await exporter.backend.select<{ name: string; engine_full: string }>(
        "SELECT name, engine_full FROM system.tables WHERE database = 'otel' AND engine LIKE '%MergeTree'",
        {},
      );
      expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(['otel_logs', 'vigil_incidents']));
      for (const t of tables) {
        expect(t.engine_full).toContain('vertical_merge_algorithm_min_rows_to_activate = 1');
        expect(t.engine_full).toContain(`max_compress_block_size = ${256 * 1024}`);
        expect(t.engine_full).toContain('merge_selector_base = 20');
      }
      expect(process.env.JE_MALLOC_CONF).toContain('dirty_decay_ms:250,muzzy_decay_ms:0');
      expect(logs.find((l) => String(l.msg).startsWith('embedded ClickHouse sized'))).toMatchObject({
        batchMaxBytes: 1 * MIB,
        memoryLimit: limit,
      });

      await exporter.consumeLogs(sampleEvents(500));
      await waitFor(async () => {
        const rows = await exporter.backend.select<{ n: string }>('SELECT count() AS n FROM otel.otel_logs', {});
        return Number(rows[0]!.n) === 500;
      }, 'the 500 rows stored');
      // chdb's own account of its memory reaches the limiter, with the room an insert takes.
      await waitFor(() => reports.length > 0, 'a report of embedded ClickHouse memory');
      const tracked = await exporter.backend.select<{ value: string }>(
        "SELECT value FROM system.metrics WHERE metric = 'MemoryTracking'",
        {},
      );
      expect(Number(tracked[0]!.value)).toBeGreaterThan(1 * MIB);
      expect(reports[0]!.trackedBytes).toBeGreaterThan(1 * MIB);
      expect(reports[0]!.trackedBytes).toBeLessThan(budget.server);
      expect(reports[0]!.reserveBytes).toBe(budget.batchBytes * INSERT_WORKING_MEMORY_FACTOR);
      // Asked near the ceiling, the engine hands its allocator's freed pages back: chdb runs the purge.
      const backend = exporter.backend;
      const command = backend.command.bind(backend);
      const purges: Promise<void>[] = [];
      backend.command = (sql) => {
        const done = command(sql);
        if (sql === 'SYSTEM JEMALLOC PURGE') purges.push(done);
        return done;
      };
      reports[0]!.release!();
      reports[0]!.release!(); // one at a time
      expect(purges).toHaveLength(1);
      await expect(purges[0]).resolves.toBeUndefined();
    } finally {
      await exporter.shutdown();
    }
    expect(reports.at(-1)).toBeUndefined();
  });
});
