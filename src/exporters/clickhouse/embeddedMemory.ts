import type { NativeMemorySink } from '../../pipeline/memoryGuard.ts';
import type { ClickHouseBackend } from './backend.ts';

/**
 * Bounds on embedded ClickHouse's memory, derived from the memory limiter's ceiling. chdb
 * allocates outside V8 and keeps allocating while receivers refuse data (inserts from the
 * spool, merges, caches that grow to gigabytes by default), and jemalloc keeps what it freed
 * resident: measured under a 3× flood with a 256 MiB limit, the process stayed above the
 * limit with nothing left to do, refusing every sender for good. These settings are passed
 * when the engine starts (they cannot be `SET` later) and size it to a share of the ceiling.
 */

const MIB = 1024 * 1024;

/**
 * Share of the memory limit that embedded ClickHouse may track as in use (inserts, merges,
 * queries, caches). ClickHouse counts what it asked for, well above what becomes resident (an
 * insert of 11,000 log rows is refused above 90 MiB tracked while the process grows by about
 * 40 MiB), so a smaller share refuses every insert.
 */
export const EMBEDDED_SHARE = 0.6;

/**
 * jemalloc options for chdb's allocator: hand freed pages back within a quarter of a second, so
 * that what the limiter counts is what chdb uses. At once (0 ms), merges and inserts spent about
 * a third of their time in the kernel, faulting in again the pages they had just given back
 * (and flushing the other core's TLB as they went): 250 ms gave the default config 38 % more
 * records per CPU-second. Freed pages held are resident but not tracked, so floods peak higher;
 * near the ceiling the limiter has them handed back at once (EmbeddedMemoryMonitor's release;
 * docs/benchmarks.md, "Inserts read from a file, freed pages kept a moment").
 */
export const CHDB_JEMALLOC_CONF = 'dirty_decay_ms:250,muzzy_decay_ms:0';

/**
 * Sets chdb's allocator options unless the operator set their own. Must run before chdb is
 * loaded: its allocator reads them once, when the library initialises.
 */
export function configureEmbeddedAllocator(env: NodeJS.ProcessEnv = process.env): void {
  env.JE_MALLOC_CONF ??= CHDB_JEMALLOC_CONF;
}

/** The engine's budget and its parts, in bytes, for a memory limit of `limitBytes`. */
export function embeddedMemoryBudget(limitBytes: number): {
  server: number;
  query: number;
  merges: number;
  cache: number;
  batchBytes: number;
} {
  const server = Math.max(32 * MIB, Math.floor(limitBytes * EMBEDDED_SHARE));
  return {
    server,
    // One insert or query; what is left serves merges and caches meanwhile.
    query: Math.floor(server * 0.6),
    // No new merge starts while running ones hold this much.
    merges: Math.floor(server * 0.5),
    // Each cache: marks, primary keys, index marks, text index parts, query conditions.
    cache: Math.max(1 * MIB, Math.floor(server * 0.02)),
    batchBytes: embeddedBatchBytes(limitBytes),
  };
}

/**
 * The most bytes of rows one embedded insert takes: a 256th of the limit up to 256 MiB, a
 * 128th from 512 MiB on, growing with the square of the limit in between.
 *
 * An insert costs the engine about 10 ms of CPU whatever its size (a part of some thirty
 * files: columns, marks, ten skip indexes, checksums), and each part is merged again later:
 * telemetrygen's records, 3,072 rows an insert, took 7.1 µs a row; 6,144 rows, 4.7 µs
 * (docs/benchmarks.md, "Larger inserts where the limit leaves room"). Larger inserts need more
 * memory while they run: resident memory grew by about 9× a batch (16 MiB: +140 MiB; 4 MiB:
 * +40 MiB; 2 MiB: +17, up to +33; 1 MiB: +8, up to +21) on top of what the daemon holds, about
 * 130 MiB at rest with the engine loaded, half of a 256 MiB ceiling. Under a 3× flood at 256
 * MiB, inserts of a 64th peaked at 287 MiB and of a 128th at 264, before a 256th was chosen
 * there; at 512 MiB, where that floor is a quarter of the limit, a 128th peaked at 323–341 MiB
 * against 342–375 for a 256th.
 */
export function embeddedBatchBytes(limitBytes: number): number {
  const small = Math.floor(limitBytes / 256);
  const large = Math.floor(limitBytes / 128);
  const between = Math.floor((limitBytes * limitBytes) / (512 * MIB * 128));
  return Math.max(256 * 1024, small, Math.min(large, between));
}

/** `clickhouse local` arguments for chdb's Session that keep the engine within its budget. */
export function embeddedEngineArgs(limitBytes: number): string[] {
  const b = embeddedMemoryBudget(limitBytes);
  const caches = [
    'mark_cache_size',
    'index_mark_cache_size',
    'primary_index_cache_size',
    'text_index_tokens_cache_size',
    'text_index_header_cache_size',
    'text_index_postings_cache_size',
    'query_condition_cache_size',
    'compiled_expression_cache_size',
  ];
  return [
    `--max_server_memory_usage=${b.server}`,
    `--max_memory_usage=${b.query}`,
    `--merges_mutations_memory_usage_soft_limit=${b.merges}`,
    ...caches.map((name) => `--${name}=${b.cache}`),
  ];
}

/**
 * Settings of every query the embedded engine runs. `input_format_parallel_parsing` off: a
 * batch of a few MiB is one chunk anyway, and handing it to parser threads cost CPU without
 * saving time on two cores (JSONEachRow from a file, 3,072 varied log rows an insert: 9.7–10.7
 * µs of CPU a row against 11.0–11.5; the default config end to end, 3 % more records per CPU
 * second).
 */
export const EMBEDDED_QUERY_ARGS: readonly string[] = ['--input_format_parallel_parsing=0'];

/**
 * MergeTree settings that bound what a merge and an insert hold, for embedded tables. Measured
 * with a 256 MiB limit, log rows inserted as fast as chdb takes them for 15 s, sampled every
 * 0.5 s: a horizontal merge of 6–7 parts held up to 98–106 MiB (every column's read and write
 * buffers at once), so inserts next to it passed the engine's share and were refused (code 241)
 * down to batches of 6 rows. Vertical merges (one column at a time) held 24–59 MiB; with 256 KiB
 * compression blocks instead of 1 MiB, 19 MiB, and the engine's peak tracked memory fell from
 * 139 to 63 MiB.
 *
 * `merge_selector_base` 20 (ClickHouse's default 5): merges take parts of more nearly equal
 * size together, so a row is rewritten by fewer merge levels before it rests. Embedded inserts
 * are small (a 256th or a 128th of the memory limit), so parts are many and merges were the
 * engine's largest cost: with the default config at 512 MiB under telemetrygen, merge threads
 * took 13.4–15.3 µs of CPU a row against 6.5–6.7 with 20, leaving 15–25 parts at the stop
 * against 7–10, and the peak under a 3× flood at 256 MiB no higher (docs/benchmarks.md, "The
 * default config end to end").
 */
export const EMBEDDED_MERGE_TREE_SETTINGS: Record<string, number> = {
  vertical_merge_algorithm_min_rows_to_activate: 1,
  vertical_merge_algorithm_min_columns_to_activate: 1,
  max_compress_block_size: 256 * 1024,
  min_compress_block_size: 64 * 1024,
  merge_selector_base: 20,
};

export const quoteIdentifier = (name: string) => `\`${name.replaceAll('`', '\\`')}\``;

/** Applies EMBEDDED_MERGE_TREE_SETTINGS to every MergeTree table of `database` (new and existing ones). */
export async function sizeEmbeddedTables(backend: ClickHouseBackend, database: string): Promise<void> {
  const tables = await backend.select<{ name: string }>(
    "SELECT name FROM system.tables WHERE database = {db:String} AND engine LIKE '%MergeTree'",
    { db: database },
  );
  const settings = Object.entries(EMBEDDED_MERGE_TREE_SETTINGS)
    .map(([k, v]) => `${k} = ${v}`)
    .join(', ');
  for (const { name } of tables)
    await backend.command(
      `ALTER TABLE ${quoteIdentifier(database)}.${quoteIdentifier(name)} MODIFY SETTING ${settings}`,
    );
}

/**
 * Room embedded ClickHouse may need while it inserts one batch, as a multiple of the batch's
 * bytes: the most resident memory grew while inserting (a 1 MiB batch of log rows: +8 MiB at
 * the median, +21 MiB at most over 300 inserts; 2 MiB: +17, at most +33). Under a 3× flood at
 * 256 MiB with 1 MiB batches, reserving 18 MiB kept six runs at 229–252 MiB; 9 MiB let three
 * of ten pass the ceiling (259–281 MiB).
 */
export const INSERT_WORKING_MEMORY_FACTOR = 18;

/** chdb's own account of the memory it uses: `MemoryTracking` in system.metrics, in bytes. */
export async function embeddedTrackedMemory(backend: ClickHouseBackend): Promise<number> {
  const rows = await backend.select<{ value: string }>(
    "SELECT value FROM system.metrics WHERE metric = 'MemoryTracking'",
    {},
  );
  return Number(rows[0]?.value ?? 0);
}

/**
 * Tells the memory limiter what embedded ClickHouse tracks as in use, and the room its next
 * insert needs on top: the limiter refuses data while the V8 heap, that and the room would pass
 * the ceiling. Resident memory alone tells too late: an insert's working memory arrives all at
 * once, after the data it inserts was admitted.
 */
export class EmbeddedMemoryMonitor {
  private timer: NodeJS.Timeout | undefined;
  private polling = false;
  private readonly name: string;
  private readonly backend: ClickHouseBackend;
  private readonly sink: NativeMemorySink;
  private readonly insertReserveBytes: number;
  private readonly intervalMs: number;
  private releasing = false;
  /** Hands chdb's freed pages back to the system at once, when the limiter asks (near the ceiling). */
  private readonly release = (): void => {
    if (this.releasing) return;
    this.releasing = true;
    this.backend
      .command('SYSTEM JEMALLOC PURGE')
      .catch(() => undefined)
      .finally(() => {
        this.releasing = false;
      });
  };

  constructor(
    name: string,
    backend: ClickHouseBackend,
    sink: NativeMemorySink,
    insertReserveBytes: number,
    intervalMs = 250,
  ) {
    this.name = name;
    this.backend = backend;
    this.sink = sink;
    this.insertReserveBytes = insertReserveBytes;
    this.intervalMs = intervalMs;
  }

  start(): void {
    this.timer = setInterval(() => void this.poll(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.sink.reportNative(this.name, undefined);
  }

  /** One reading; a failed one keeps the last (the engine may be busy or closing). */
  async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const tracked = await embeddedTrackedMemory(this.backend);
      if (this.timer !== undefined)
        this.sink.reportNative(this.name, {
          trackedBytes: tracked,
          reserveBytes: this.insertReserveBytes,
          release: this.release,
        });
    } catch {
      // The last reading stands.
    } finally {
      this.polling = false;
    }
  }
}
