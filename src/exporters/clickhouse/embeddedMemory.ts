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

/** jemalloc options for chdb's allocator: hand freed pages back at once, so what the limiter counts is what chdb uses. */
export const CHDB_JEMALLOC_CONF = 'dirty_decay_ms:0,muzzy_decay_ms:0';

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
    // Resident memory grew by about 9× a batch while it was inserted (16 MiB: +140 MiB; 4 MiB: +40 MiB).
    batchBytes: Math.max(256 * 1024, Math.floor(limitBytes / 64)),
  };
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
