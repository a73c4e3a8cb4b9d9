import {
  bool,
  bytes,
  duration,
  int,
  literalUnion,
  obj,
  optional,
  refine,
  str,
  url,
  type Infer,
} from '../../config/schema.ts';
import { tlsClientFiles } from '../../config/tls.ts';
import { pruneLimitsSchema } from '../helper/prune.ts';

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ident = (def: string, doc: string) =>
  str({ default: def, pattern: IDENT, patternHint: 'a plain identifier (letters, digits, _)', doc });

export const clickhouseExporterSchema = refine(
  obj({
    endpoint: optional(
      url({
        doc: 'ClickHouse HTTP(S) URL, e.g. `https://ch.example:8443`. Absent: embedded ClickHouse (chdb) under the data dir.',
      }),
    ),
    path: str({
      default: 'clickhouse',
      nonEmpty: true,
      doc: 'Embedded ClickHouse data directory (no endpoint). Relative paths are under the data dir.',
    }),
    database: ident('otel', 'Database; created when create_schema is on.'),
    username: str({ default: 'default', doc: 'User; `${file:/run/secrets/ch_user}` works.' }),
    password: str({ default: '', doc: 'Password; use `${file:...}` or `${env:...}` rather than writing it here.' }),
    tls: optional(obj(tlsClientFiles, { doc: 'TLS client settings for an `https://` endpoint.' })),
    compression: bool({ default: true, doc: 'gzip request bodies and ask for gzip responses (remote only).' }),
    timeout: duration({ default: '30s', doc: 'Per-request timeout (remote only).' }),
    max_open_connections: int({ default: 4, min: 1, doc: 'Keep-alive sockets to the server (remote only).' }),
    create_schema: bool({
      default: true,
      doc: 'Create the database and tables at start (CREATE ... IF NOT EXISTS). Turn off when DDL is managed elsewhere.',
    }),
    cluster: optional(
      str({
        pattern: /^[A-Za-z0-9_.-]+$/,
        patternHint: 'a cluster name',
        doc: 'Adds `ON CLUSTER <name>` to the DDL and uses Replicated* engines.',
      }),
    ),
    distributed: bool({
      default: false,
      doc: 'With `cluster`: rows live in `<table>_local` on every server, behind a `Distributed` table `<table>` over the shards that Vigil inserts into and queries read (incidents shard by key, so `FINAL` sees every version).',
    }),
    log_indexes: literalUnion(['auto', 'text', 'bloom'], {
      default: 'auto',
      doc: "Kind of the logs table's indexes on TraceId, the attribute maps and lower(Body), as the OTel exporter renders them: `text` (ClickHouse's full-text indexes, 26.2 or newer) or `bloom` (bloom and token bloom filters). Both serve the same lookups. `auto`: `text` on a ClickHouse server that has them, `bloom` on embedded ClickHouse, which shares the agent's CPU: with records as varied as an application's, building and merging text indexes cost the default config about a quarter of its records per CPU-second (docs/benchmarks.md). Embedded tables an older Vigil made change kind at start (new and merged parts carry the new indexes); a server's existing tables are left as they are.",
    }),
    ttl: duration({
      default: '30d',
      doc: 'Events, spans and metric points older than this are dropped (a TTL clause, whole daily parts at a time); 0 keeps everything. At 900 records/s a day of events takes about 2.3 GiB. Applied to tables an older Vigil created too (ALTER TABLE … MODIFY TTL, without rewriting existing parts: those go as they are merged; `ALTER TABLE … MATERIALIZE TTL` applies it at once). Setting 0 later leaves an existing TTL in place: remove it with `ALTER TABLE … REMOVE TTL`.',
    }),
    incidents_ttl: duration({
      default: 0,
      doc: 'The same for the incident tables (`vigil_incidents`, `vigil_incident_events`), small next to the events; 0 keeps incident history for good.',
    }),
    tables: obj({
      logs: ident('otel_logs', 'Events (logs pipeline).'),
      traces: ident('otel_traces', 'Spans.'),
      metrics_gauge: ident('otel_metrics_gauge', 'Gauge points.'),
      metrics_sum: ident('otel_metrics_sum', 'Sum points.'),
      metrics_histogram: ident('otel_metrics_histogram', 'Histogram points.'),
      metrics_exponential_histogram: ident('otel_metrics_exponential_histogram', 'Exponential histogram points.'),
      metrics_summary: ident('otel_metrics_summary', 'Summary points.'),
      incidents: ident('vigil_incidents', 'One row per incident version (ReplacingMergeTree).'),
      incident_events: ident('vigil_incident_events', 'Incident changes and the events that caused them.'),
    }),
    batch: obj({
      max_rows: int({
        default: 50_000,
        min: 1,
        doc: 'Insert once a table has this many rows waiting. ClickHouse prefers 10k–100k rows per insert.',
      }),
      max_bytes: bytes({ default: '16MiB', min: 1, doc: 'Insert once a table has this much JSON waiting.' }),
      max_delay: duration({ default: '1s', doc: 'Insert rows at most this long after the first one arrived.' }),
    }),
    retry: obj({
      initial_interval: duration({
        default: '500ms',
        doc: 'First wait after a failed insert; doubles up to max_interval.',
      }),
      max_interval: duration({
        default: '30s',
        doc: 'Longest wait between attempts. Failed batches stay in the spool and are retried until they succeed.',
      }),
    }),
    spool: obj({
      dir: optional(
        str({
          doc: 'Where accepted rows wait for ClickHouse. Default: `clickhouse-spool/<exporter id>` under the data dir.',
        }),
      ),
      max_bytes: bytes({
        default: '1GiB',
        min: 1024,
        doc: 'Spool ceiling; when full, the pipeline stops taking data and receivers answer 429.',
      }),
      fsync: bool({
        default: false,
        doc: 'fsync every accepted batch: survives power loss as well as a crash, at a throughput cost.',
      }),
      rejected: pruneLimitsSchema({
        what: 'Batches set aside',
        maxAge: '7d',
        maxBytes: '256MiB',
        doc: 'Batches ClickHouse refused as bad data are set aside under the spool\'s `rejected/` for inspection, outside the spool ceiling; these limits keep them from filling the disk. Every prune is logged with its counts and counted in `vigil_exporter_pruned_total{store="rejected"}`.',
      }),
    }),
  }),
  (c) => {
    if (c.distributed && !c.cluster)
      return {
        path: 'distributed',
        message: 'needs cluster: a Distributed table spreads over the shards of a named cluster',
      };
    if (c.tls && (c.tls.cert_file === undefined) !== (c.tls.key_file === undefined))
      return { path: 'tls', message: 'cert_file and key_file go together' };
    if (c.tls && c.endpoint && !c.endpoint.startsWith('https:'))
      return { path: 'tls', message: 'needs an https:// endpoint' };
    return undefined;
  },
  '`distributed` needs `cluster`; `tls.cert_file` and `tls.key_file` go together; `tls` needs an https:// endpoint.',
);

export type ClickHouseExporterConfig = Infer<typeof clickhouseExporterSchema>;
export type TableNames = ClickHouseExporterConfig['tables'];
