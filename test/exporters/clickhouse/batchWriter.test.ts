import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ClickHouseError, type ClickHouseBackend } from '../../../src/exporters/clickhouse/backend.ts';
import { BatchWriter, rowPieces } from '../../../src/exporters/clickhouse/batchWriter.ts';
import { Spool } from '../../../src/exporters/clickhouse/spool.ts';
import { createLogger } from '../../../src/telemetry/logger.ts';
import { ExporterTelemetry } from '../../../src/exporters/helper/telemetry.ts';
import { SelfMetrics } from '../../../src/telemetry/selfMetrics.ts';
import { waitFor } from '../../support/waitFor.ts';

/** A ClickHouse stand-in that records every insert and can hold the inserts of one table. */
class FakeBackend implements ClickHouseBackend {
  readonly description = 'fake';
  readonly rows: string[] = [];
  readonly tokens: string[] = [];
  /** Bytes of each insert, in order. */
  readonly insertBytes: number[] = [];
  private held = new Map<
    string,
    { gate: Promise<void>; release: () => void; reached: () => void; reachedP: Promise<void> }
  >();

  /** Inserts into `table` wait until the returned release is called; `reached` resolves when one is waiting. */
  hold(table: string): { release: () => void; reached: Promise<void> } {
    let release!: () => void;
    let reached!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const reachedP = new Promise<void>((r) => (reached = r));
    const entry = { gate, release, reached, reachedP };
    this.held.set(table, entry);
    return {
      release: () => {
        if (this.held.get(table) === entry) this.held.delete(table);
        release();
      },
      reached: reachedP,
    };
  }

  version = async () => '25.1.1.1';
  command = async () => {};
  select = async <T>(): Promise<T[]> => [];
  close = async () => {};

  async insert(_db: string, table: string, data: Buffer, token: string): Promise<void> {
    const h = this.held.get(table);
    if (h) {
      h.reached();
      await h.gate;
    }
    if (token && this.tokens.includes(token)) return; // ClickHouse drops a repeated dedup token
    this.tokens.push(token);
    this.insertBytes.push(data.length);
    for (const line of data.toString().split('\n')) if (line) this.rows.push(`${table}:${line}`);
  }
}

const writers: BatchWriter[] = [];
afterEach(async () => {
  await Promise.all(writers.splice(0).map((w) => w.close()));
});

function makeWriter(
  backend: ClickHouseBackend,
  opts: { maxRows?: number; maxBytes?: number; maxDelayMs?: number; retryMs?: number; fsync?: boolean } = {},
): { writer: BatchWriter; dir: string; logs: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-batchwriter-'));
  const logs: string[] = [];
  const logger = createLogger('warn', { write: (s: string) => logs.push(s) } as unknown as NodeJS.WritableStream);
  const writer = new BatchWriter({
    id: 'clickhouse',
    backend,
    database: 'otel',
    spool: new Spool(dir, opts.fsync ?? false),
    maxRows: opts.maxRows ?? 2,
    maxBytes: opts.maxBytes ?? 1 << 20,
    maxDelayMs: opts.maxDelayMs ?? 3_600_000,
    spoolMaxBytes: 1 << 30,
    retryInitialMs: opts.retryMs ?? 5,
    retryMaxMs: opts.retryMs ?? 20,
    prepare: async () => {},
    signalOf: () => 'logs',
    logger,
    telemetry: new ExporterTelemetry(new SelfMetrics(), 'clickhouse'),
  });
  writers.push(writer);
  return { writer, dir, logs };
}

const row = (s: string) => Buffer.from(`{"v":"${s}"}\n`);
const spooledFiles = (dir: string) => readdirSync(dir).filter((f) => f !== 'rejected');

describe('BatchWriter: the spool never stalls, whatever order batches seal in', () => {
  it('inserts a lower-numbered batch sealed while a later one is being inserted, and loses neither', async () => {
    const backend = new FakeBackend();
    const { writer, dir } = makeWriter(backend);
    await writer.start();
    await writer.write('t1', row('a'), 1); // opens t1 as segment 1, stays open (max_rows 2)
    const held = backend.hold('t2');
    await writer.write('t2', Buffer.concat([row('b'), row('c')]), 2); // segment 2, sealed by size
    await held.reached; // t2's insert is under way
    await writer.flush(); // seals t1 (segment 1) behind it, sorted in front
    held.release();

    await waitFor(
      () => backend.rows.length === 3 && spooledFiles(dir).length === 0,
      'both batches stored and gone from the spool',
      5_000,
    );
    expect(new Set(backend.rows)).toEqual(new Set(['t1:{"v":"a"}', 't2:{"v":"b"}', 't2:{"v":"c"}']));
    expect(writer.spooledBytes).toBe(0);
    expect(writer.pendingBatches).toBe(0);
  });

  it('stores every row exactly once under random interleavings of writes, seals, flushes and slow inserts', async () => {
    for (let seed = 1; seed <= 25; seed++) {
      const rand = mulberry32(seed);
      const backend = new FakeBackend();
      const { writer, dir } = makeWriter(backend, {
        maxRows: 1 + Math.floor(rand() * 4),
        maxDelayMs: 1 + Math.floor(rand() * 5),
      });
      await writer.start();
      const tables = ['t1', 't2', 't3'];
      const expected = new Set<string>();
      const pending: Promise<void>[] = [];
      const holds: (() => void)[] = [];
      for (let i = 0; i < 60; i++) {
        const table = tables[Math.floor(rand() * tables.length)]!;
        const p = rand();
        if (p < 0.1) holds.push(backend.hold(table).release);
        else if (p < 0.2) holds.splice(0).forEach((r) => r());
        else if (p < 0.3) pending.push(writer.flush());
        else {
          const v = `${seed}-${i}`;
          expected.add(`${table}:{"v":"${v}"}`);
          pending.push(writer.write(table, row(v), 1));
        }
        if (rand() < 0.5) await new Promise((r) => setImmediate(r));
      }
      holds.splice(0).forEach((r) => r());
      await Promise.all(pending);
      await writer.flush();
      await waitFor(
        () => backend.rows.length >= expected.size && spooledFiles(dir).length === 0,
        `seed ${seed}: every row stored and the spool empty`,
        5_000,
      );
      expect(backend.rows).toHaveLength(expected.size);
      expect(new Set(backend.rows), `seed ${seed}`).toEqual(expected);
    }
  });
});

describe('BatchWriter: the size of an insert', () => {
  it('spreads one write larger than max_bytes over inserts of at most a quarter more, every row once and in order', async () => {
    const backend = new FakeBackend();
    const { writer, dir } = makeWriter(backend, { maxRows: 1_000_000, maxBytes: 1000 });
    await writer.start();
    const values = Array.from({ length: 400 }, (_, i) => `row-${String(i).padStart(4, '0')}-${'x'.repeat(i % 40)}`);
    // One pipeline batch of ~14 KB, as a syslog or OTLP batch of thousands of records is to 4 MiB.
    await writer.write('logs', Buffer.concat(values.map(row)), values.length);
    await writer.write('logs', row('after'), 1);
    await writer.flush();
    await waitFor(() => spooledFiles(dir).length === 0, 'every batch stored', 5_000);

    expect(backend.rows).toEqual([...values, 'after'].map((v) => `logs:{"v":"${v}"}`));
    expect(backend.insertBytes.length).toBeGreaterThan(10);
    expect(Math.max(...backend.insertBytes)).toBeLessThanOrEqual(1250);
  });

  it('with fsync, syncs a write cut into pieces once, and every batch it filled before that batch is inserted', async () => {
    const backend = new FakeBackend();
    const { writer, dir } = makeWriter(backend, { maxRows: 1_000_000, maxBytes: 1000, fsync: true });
    await writer.start();
    const probeDir = mkdtempSync(join(tmpdir(), 'vigil-probe-'));
    const probe = await open(join(probeDir, 'probe'), 'w');
    const datasync = vi.spyOn(Object.getPrototypeOf(probe) as FileHandle, 'datasync');
    await probe.close();
    rmSync(probeDir, { recursive: true });
    try {
      // Four quarter pieces (of at most 250 bytes) that stay in one open batch: one sync.
      const small = Array.from({ length: 60 }, (_, i) => `s${String(i).padStart(4, '0')}`);
      await writer.write('logs', Buffer.concat(small.map(row)), small.length);
      expect(datasync).toHaveBeenCalledTimes(1);

      // A write over several batches: each batch it filled is synced before it is sealed.
      datasync.mockClear();
      const big = Array.from({ length: 300 }, (_, i) => `b${String(i).padStart(4, '0')}`);
      await writer.write('logs', Buffer.concat(big.map(row)), big.length);
      const sealed = spooledFiles(dir).filter((f) => f.endsWith('.jsonl')).length + backend.insertBytes.length;
      expect(sealed).toBeGreaterThanOrEqual(4);
      expect(datasync.mock.calls.length).toBeLessThanOrEqual(sealed + 1);
      await writer.flush();
      await waitFor(() => spooledFiles(dir).length === 0, 'every batch stored', 5_000);
      expect(backend.rows).toEqual([...small, ...big].map((v) => `logs:{"v":"${v}"}`));
    } finally {
      datasync.mockRestore();
    }
  });

  it('cuts data into pieces of whole rows whose counts add up, a row longer than the piece alone', () => {
    const data = Buffer.from('{"a":1}\n{"b":"' + 'y'.repeat(30) + '"}\n{"c":3}\n{"d":4}\n');
    const pieces = rowPieces(data, 4, 16);
    expect(pieces.map((p) => p.data.toString())).toEqual([
      '{"a":1}\n',
      '{"b":"' + 'y'.repeat(30) + '"}\n',
      '{"c":3}\n{"d":4}\n',
    ]);
    expect(pieces.map((p) => p.rows)).toEqual([1, 1, 2]);
    expect(Buffer.concat(pieces.map((p) => p.data))).toEqual(data);
    expect(rowPieces(data, 4, 1000)).toEqual([{ data, rows: 4 }]);
  });
});

describe('BatchWriter: a failing ClickHouse', () => {
  it("retries a batch refused for the server's memory (code 241) and sets aside only a batch of bad data (code 27)", async () => {
    const backend = new FakeBackend();
    const answers: Record<string, number[]> = { t1: [241, 241], t2: [27] };
    const insert = backend.insert.bind(backend);
    backend.insert = async (db, table, data, token) => {
      const code = answers[table]?.shift();
      if (code !== undefined) throw new ClickHouseError(code, `Code: ${code}. DB::Exception: refused`);
      return insert(db, table, data, token);
    };
    const { writer, dir } = makeWriter(backend, { maxRows: 1 });
    await writer.start();
    await writer.write('t1', row('kept'), 1);
    await writer.write('t2', row('bad'), 1);
    await waitFor(
      () => backend.rows.length === 1 && spooledFiles(dir).length === 0,
      'the t1 row stored and the t2 batch moved aside',
      5_000,
    );
    expect(backend.rows).toEqual(['t1:{"v":"kept"}']);
    expect(readdirSync(join(dir, 'rejected'))).toHaveLength(1);
    expect(readdirSync(join(dir, 'rejected'))[0]).toMatch(/\.t2\./);
  });

  it('keeps its backoff while new batches keep sealing, and logs an outage in a few lines', async () => {
    const backend = new FakeBackend();
    let attempts = 0;
    let down = true;
    const insert = backend.insert.bind(backend);
    backend.insert = async (...args) => {
      attempts++;
      if (down) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8123'), { code: 'ECONNREFUSED' });
      return insert(...args);
    };
    const { writer, dir, logs } = makeWriter(backend, { maxRows: 1, retryMs: 100 });
    await writer.start();
    // ~300 batches sealed over ~1.5 s: each used to wake the sleeping loop for another try.
    const started = Date.now();
    let n = 0;
    while (Date.now() - started < 1_500) {
      await writer.write('t1', row(`r${n++}`), 1);
      await new Promise((r) => setTimeout(r, 5));
    }
    // A 100 ms backoff (±20 % jitter) allows at most ~19 tries in 1.5 s; a wake per seal made hundreds.
    expect(attempts).toBeLessThan(40);
    const warned = logs.filter((l) => l.includes('ClickHouse insert failed'));
    expect(warned.length).toBeLessThanOrEqual(Math.log2(attempts) + 1);
    expect(JSON.parse(warned.at(-1)!).failedAttempts).toBeGreaterThan(1);

    down = false;
    await waitFor(
      () => backend.rows.length === n && spooledFiles(dir).length === 0,
      'the spooled rows stored once ClickHouse is back',
      10_000,
    );
  });
});

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
