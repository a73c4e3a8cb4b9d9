import { versionAtLeast } from './backend.ts';
import type { TableNames } from './config.ts';

export interface SchemaOptions {
  database: string;
  tables: TableNames;
  cluster?: string;
  /**
   * With `cluster`: every table is `<name>_local` on each server (Replicated engine) with a
   * `Distributed` table `<name>` over the cluster's shards in front, which inserts and queries use.
   */
  distributed?: boolean;
  /** TTL of the event, span and metric tables; 0 for none. */
  ttlMs: number;
  /** TTL of the incident tables; 0 (the default) for none. */
  incidentsTtlMs?: number;
  /** ClickHouse ≥ 26.2 has `text` indexes; older servers get bloom/tokenbf ones, as the OTel exporter does. */
  textIndexes: boolean;
}

/** How many recent insert tokens a table remembers: a retried batch within this many inserts is dropped as a duplicate. */
export const DEDUP_WINDOW = 1000;

const q = (name: string) => `\`${name}\``;

/** OTel exporter's TTL rendering: whole days as toIntervalDay, else the largest whole unit. */
export function ttlClause(field: string, ttlMs: number): string {
  if (ttlMs <= 0) return '';
  const s = Math.floor(ttlMs / 1000);
  const [n, unit] =
    s % 86_400 === 0
      ? [s / 86_400, 'Day']
      : s % 3600 === 0
        ? [s / 3600, 'Hour']
        : s % 60 === 0
          ? [s / 60, 'Minute']
          : [s, 'Second'];
  return `TTL ${field} + toInterval${unit}(${n})`;
}

/** The OTel exporter renders `text` indexes from ClickHouse 26.2 on. */
export function supportsTextIndexes(version: string): boolean {
  return versionAtLeast(version, 26, 2);
}

/**
 * Plain tables deduplicate inserts by token only with a non-zero window; Replicated ones do it
 * by default, through Keeper. Under a cluster every replica of a shard shares one path.
 */
function engine(
  o: SchemaOptions,
  family: 'MergeTree' | 'ReplacingMergeTree',
  args = '',
): { engine: string; settings: string } {
  if (o.cluster) {
    const replicated = `'/clickhouse/tables/{shard}/{database}/{table}', '{replica}'${args ? `, ${args}` : ''}`;
    return { engine: `Replicated${family}(${replicated})`, settings: '' };
  }
  return { engine: `${family}(${args})`, settings: `, non_replicated_deduplication_window = ${DEDUP_WINDOW}` };
}

/** Where a table's rows live: the table itself, or its `_local` table on every server behind a Distributed one. */
export function storedName(o: SchemaOptions, name: string): string {
  return o.cluster && o.distributed ? `${name}_local` : name;
}

function table(
  o: SchemaOptions,
  name: string,
  columns: string[],
  clauses: {
    family?: 'MergeTree' | 'ReplacingMergeTree';
    engineArgs?: string;
    partition?: string;
    order: string;
    ttlField: string;
    extraSettings?: string;
    ttlMs?: number;
  },
): string {
  const e = engine(o, clauses.family ?? 'MergeTree', clauses.engineArgs);
  return [
    `CREATE TABLE IF NOT EXISTS ${q(o.database)}.${q(storedName(o, name))}${onCluster(o)} (`,
    columns.map((c) => `  ${c}`).join(',\n'),
    `) ENGINE = ${e.engine}`,
    clauses.partition ? `PARTITION BY ${clauses.partition}` : '',
    `ORDER BY ${clauses.order}`,
    ttlClause(clauses.ttlField, clauses.ttlMs ?? o.ttlMs),
    `SETTINGS index_granularity = 8192${clauses.extraSettings ?? ''}${e.settings}`,
  ]
    .filter(Boolean)
    .join('\n');
}

const onCluster = (o: SchemaOptions) => (o.cluster ? ` ON CLUSTER ${q(o.cluster)}` : '');
const MAP = 'Map(LowCardinality(String), String)';
const bloom = (name: string, expr: string, fp = '0.01') =>
  `INDEX ${name} ${expr} TYPE bloom_filter(${fp}) GRANULARITY 1`;
const textIdx = (name: string, expr: string, tokenizer = 'array') =>
  `INDEX ${name} ${expr} TYPE text(tokenizer = '${tokenizer}')`;

const TENANT_COLUMN = 'Tenant LowCardinality(String) CODEC(ZSTD(1))';

/** Vigil's correlation fields, as columns of their own next to the OTel ones. */
const VIGIL_LOG_COLUMNS = [
  'EventId String CODEC(ZSTD(1))',
  'ObservedTimestamp DateTime64(9) CODEC(Delta(8), ZSTD(1))',
  'Asset LowCardinality(String) CODEC(ZSTD(1))',
  'Title String CODEC(ZSTD(1))',
  'EventType LowCardinality(String) CODEC(ZSTD(1))',
  'Fingerprint String CODEC(ZSTD(1))',
  TENANT_COLUMN,
  'Source LowCardinality(String) CODEC(ZSTD(1))',
];

/** Data-skipping indexes on Vigil's log columns: an incident's events by id, an asset's events. */
const VIGIL_LOG_INDEXES = [bloom('idx_asset', 'Asset'), bloom('idx_event_id', 'EventId', '0.001')];

const K8S_MATERIALIZED = [
  'k8s.cluster.name',
  'k8s.container.name',
  'k8s.deployment.name',
  'k8s.namespace.name',
  'k8s.node.name',
  'k8s.pod.name',
  'k8s.pod.uid',
  'deployment.environment.name',
];

/**
 * The logs table's indexes on the trace id, the attribute maps and the body, in one of the OTel
 * exporter's two renderings: `text` indexes (its rendering from ClickHouse 26.2 on) or bloom and
 * token bloom filters (before 26.2). Both serve the same lookups; see `log_indexes` in the
 * exporter's config for what each costs.
 */
export function logIndexes(o: Pick<SchemaOptions, 'textIndexes'>): { name: string; definition: string }[] {
  const mapIndexes = (col: string, short: string) =>
    o.textIndexes
      ? [textIdx(`idx_${short}_key`, `mapKeys(${col})`), textIdx(`idx_${short}_value`, `mapValues(${col})`)]
      : [bloom(`idx_${short}_key`, `mapKeys(${col})`), bloom(`idx_${short}_value`, `mapValues(${col})`)];
  return [
    o.textIndexes ? textIdx('idx_trace_id', 'TraceId') : bloom('idx_trace_id', 'TraceId', '0.001'),
    ...mapIndexes('ResourceAttributes', 'res_attr'),
    ...mapIndexes('ScopeAttributes', 'scope_attr'),
    ...mapIndexes('LogAttributes', 'log_attr'),
    o.textIndexes
      ? textIdx('idx_lower_body', 'lower(Body)', 'splitByNonAlpha')
      : 'INDEX idx_lower_body lower(Body) TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8',
  ].map((definition) => ({ name: definition.split(' ')[1]!, definition }));
}

/** The kind of index a definition makes (`text`, `bloom_filter`, `tokenbf_v1`), as `system.data_skipping_indices` names it. */
const indexType = (definition: string) => / TYPE (\w+)/.exec(definition)![1]!;

/**
 * Statements that give an existing logs table the indexes `o` asks for where one of the same
 * name is of the other kind (`existing`: the table's rows of `system.data_skipping_indices`).
 * Each is dropped and added again: parts written from then on, and parts merged, carry the new
 * one; a part without it is read by a lookup, not skipped, so no row is missed meanwhile.
 */
export function logIndexChanges(o: SchemaOptions, existing: readonly { name: string; type: string }[]): string[] {
  const table = `${q(o.database)}.${q(storedName(o, o.tables.logs))}${onCluster(o)}`;
  const types = new Map(existing.map((i) => [i.name, i.type]));
  return logIndexes(o)
    .filter(({ name, definition }) => types.has(name) && types.get(name) !== indexType(definition))
    .flatMap(({ name, definition }) => [
      `ALTER TABLE ${table} DROP INDEX ${q(name)}`,
      `ALTER TABLE ${table} ADD ${definition}`,
    ]);
}

/** The OTel exporter's current (v0.151+) logs table, plus Vigil's columns. */
export function logsTable(o: SchemaOptions): string {
  return table(
    o,
    o.tables.logs,
    [
      'Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1))',
      'TraceId String CODEC(ZSTD(1))',
      'SpanId String CODEC(ZSTD(1))',
      'TraceFlags UInt8',
      'SeverityText LowCardinality(String) CODEC(ZSTD(1))',
      'SeverityNumber UInt8',
      'ServiceName LowCardinality(String) CODEC(ZSTD(1))',
      'Body String CODEC(ZSTD(1))',
      'ResourceSchemaUrl LowCardinality(String) CODEC(ZSTD(1))',
      `ResourceAttributes ${MAP} CODEC(ZSTD(1))`,
      'ScopeSchemaUrl LowCardinality(String) CODEC(ZSTD(1))',
      'ScopeName String CODEC(ZSTD(1))',
      'ScopeVersion LowCardinality(String) CODEC(ZSTD(1))',
      `ScopeAttributes ${MAP} CODEC(ZSTD(1))`,
      `LogAttributes ${MAP} CODEC(ZSTD(1))`,
      'EventName String CODEC(ZSTD(1))',
      ...K8S_MATERIALIZED.map(
        (k) =>
          `${q(`__otel_materialized_${k}`)} LowCardinality(String) MATERIALIZED ResourceAttributes['${k}'] CODEC(ZSTD(1))`,
      ),
      ...VIGIL_LOG_COLUMNS,
      ...logIndexes(o).map((i) => i.definition),
      ...VIGIL_LOG_INDEXES,
    ],
    {
      partition: 'toDate(Timestamp)',
      order: '(toStartOfFiveMinutes(Timestamp), ServiceName, Timestamp)',
      ttlField: 'toDateTime(Timestamp)',
      extraSettings: ', ttl_only_drop_parts = 1',
    },
  );
}

export function tracesTable(o: SchemaOptions): string {
  return table(
    o,
    o.tables.traces,
    [
      'Timestamp DateTime64(9) CODEC(Delta, ZSTD(1))',
      'TraceId String CODEC(ZSTD(1))',
      'SpanId String CODEC(ZSTD(1))',
      'ParentSpanId String CODEC(ZSTD(1))',
      'TraceState String CODEC(ZSTD(1))',
      'SpanName LowCardinality(String) CODEC(ZSTD(1))',
      'SpanKind LowCardinality(String) CODEC(ZSTD(1))',
      'ServiceName LowCardinality(String) CODEC(ZSTD(1))',
      `ResourceAttributes ${MAP} CODEC(ZSTD(1))`,
      'ScopeName String CODEC(ZSTD(1))',
      'ScopeVersion String CODEC(ZSTD(1))',
      `SpanAttributes ${MAP} CODEC(ZSTD(1))`,
      'Duration UInt64 CODEC(ZSTD(1))',
      'StatusCode LowCardinality(String) CODEC(ZSTD(1))',
      'StatusMessage String CODEC(ZSTD(1))',
      `Events Nested(Timestamp DateTime64(9), Name LowCardinality(String), Attributes ${MAP}) CODEC(ZSTD(1))`,
      `Links Nested(TraceId String, SpanId String, TraceState String, Attributes ${MAP}) CODEC(ZSTD(1))`,
      TENANT_COLUMN,
      bloom('idx_trace_id', 'TraceId', '0.001'),
      bloom('idx_res_attr_key', 'mapKeys(ResourceAttributes)'),
      bloom('idx_res_attr_value', 'mapValues(ResourceAttributes)'),
      bloom('idx_span_attr_key', 'mapKeys(SpanAttributes)'),
      bloom('idx_span_attr_value', 'mapValues(SpanAttributes)'),
      'INDEX idx_duration Duration TYPE minmax GRANULARITY 1',
    ],
    {
      partition: 'toDate(Timestamp)',
      order: '(ServiceName, SpanName, toDateTime(Timestamp))',
      ttlField: 'toDateTime(Timestamp)',
      extraSettings: ', ttl_only_drop_parts = 1',
    },
  );
}

/** The traces table's name for trace start and end by id, as the OTel exporter names it. */
export const traceIdTsName = (o: SchemaOptions) => `${o.tables.traces}_trace_id_ts`;

/**
 * Each trace's first and last span time by id, filled by a materialized view on the traces table,
 * as the OTel exporter creates it: Grafana's ClickHouse plugin reads it to find a trace by id
 * without scanning every partition of the traces table.
 */
export function traceIdTsTable(o: SchemaOptions): string {
  return table(
    o,
    traceIdTsName(o),
    [
      'TraceId String CODEC(ZSTD(1))',
      'Start DateTime CODEC(Delta, ZSTD(1))',
      'End DateTime CODEC(Delta, ZSTD(1))',
      bloom('idx_trace_id', 'TraceId'),
    ],
    {
      partition: 'toDate(Start)',
      order: '(TraceId, Start)',
      ttlField: 'Start',
      extraSettings: ', ttl_only_drop_parts = 1',
    },
  );
}

/** Runs on every insert into the (local) traces table, so it sits next to the rows on each server. */
export function traceIdTsView(o: SchemaOptions): string {
  const db = q(o.database);
  return [
    `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.${q(`${storedName(o, traceIdTsName(o))}_mv`)}${onCluster(o)}`,
    `TO ${db}.${q(storedName(o, traceIdTsName(o)))}`,
    'AS SELECT TraceId, min(Timestamp) AS Start, max(Timestamp) AS End',
    `FROM ${db}.${q(storedName(o, o.tables.traces))}`,
    "WHERE TraceId != ''",
    'GROUP BY TraceId',
  ].join('\n');
}

/** The head every metrics table shares (post-#49438 form: DateTime seconds, LowCardinality MetricName). */
const METRIC_HEAD = [
  `ResourceAttributes ${MAP} CODEC(ZSTD(1))`,
  'ResourceSchemaUrl String CODEC(ZSTD(1))',
  'ScopeName String CODEC(ZSTD(1))',
  'ScopeVersion String CODEC(ZSTD(1))',
  `ScopeAttributes ${MAP} CODEC(ZSTD(1))`,
  'ScopeDroppedAttrCount UInt32 CODEC(ZSTD(1))',
  'ScopeSchemaUrl String CODEC(ZSTD(1))',
  'ServiceName LowCardinality(String) CODEC(ZSTD(1))',
  'MetricName LowCardinality(String) CODEC(ZSTD(1))',
  'MetricDescription String CODEC(ZSTD(1))',
  'MetricUnit String CODEC(ZSTD(1))',
  `Attributes ${MAP} CODEC(ZSTD(1))`,
  'StartTimeUnix DateTime CODEC(Delta, ZSTD(1))',
  'TimeUnix DateTime CODEC(Delta, ZSTD(1))',
];
const EXEMPLARS = `Exemplars Nested(FilteredAttributes ${MAP}, TimeUnix DateTime, Value Float64, SpanId String, TraceId String) CODEC(ZSTD(1))`;
const METRIC_INDEXES = [
  bloom('idx_res_attr_key', 'mapKeys(ResourceAttributes)'),
  bloom('idx_res_attr_value', 'mapValues(ResourceAttributes)'),
  bloom('idx_scope_attr_key', 'mapKeys(ScopeAttributes)'),
  bloom('idx_scope_attr_value', 'mapValues(ScopeAttributes)'),
  bloom('idx_attr_key', 'mapKeys(Attributes)'),
  bloom('idx_attr_value', 'mapValues(Attributes)'),
  'INDEX idx_time_minmax TimeUnix TYPE minmax GRANULARITY 1',
];

function metricsTable(o: SchemaOptions, name: string, body: string[]): string {
  return table(o, name, [...METRIC_HEAD, ...body, TENANT_COLUMN, ...METRIC_INDEXES], {
    partition: 'toDate(TimeUnix)',
    order: '(ServiceName, MetricName, toStartOfHour(TimeUnix), cityHash64(Attributes), TimeUnix)',
    ttlField: 'toDateTime(TimeUnix)',
    extraSettings: ', ttl_only_drop_parts = 1',
  });
}

export function metricsTables(o: SchemaOptions): string[] {
  const t = o.tables;
  return [
    metricsTable(o, t.metrics_gauge, ['Value Float64 CODEC(ZSTD(1))', 'Flags UInt32 CODEC(ZSTD(1))', EXEMPLARS]),
    metricsTable(o, t.metrics_sum, [
      'Value Float64 CODEC(ZSTD(1))',
      'Flags UInt32 CODEC(ZSTD(1))',
      EXEMPLARS,
      'AggregationTemporality Int32 CODEC(ZSTD(1))',
      'IsMonotonic Boolean CODEC(Delta, ZSTD(1))',
    ]),
    metricsTable(o, t.metrics_histogram, [
      'Count UInt64 CODEC(Delta, ZSTD(1))',
      'Sum Float64 CODEC(ZSTD(1))',
      'BucketCounts Array(UInt64) CODEC(ZSTD(1))',
      'ExplicitBounds Array(Float64) CODEC(ZSTD(1))',
      EXEMPLARS,
      'Flags UInt32 CODEC(ZSTD(1))',
      'Min Float64 CODEC(ZSTD(1))',
      'Max Float64 CODEC(ZSTD(1))',
      'AggregationTemporality Int32 CODEC(ZSTD(1))',
    ]),
    metricsTable(o, t.metrics_exponential_histogram, [
      'Count UInt64 CODEC(Delta, ZSTD(1))',
      'Sum Float64 CODEC(ZSTD(1))',
      'Scale Int32 CODEC(ZSTD(1))',
      'ZeroCount UInt64 CODEC(ZSTD(1))',
      'PositiveOffset Int32 CODEC(ZSTD(1))',
      'PositiveBucketCounts Array(UInt64) CODEC(ZSTD(1))',
      'NegativeOffset Int32 CODEC(ZSTD(1))',
      'NegativeBucketCounts Array(UInt64) CODEC(ZSTD(1))',
      EXEMPLARS,
      'Flags UInt32 CODEC(ZSTD(1))',
      'Min Float64 CODEC(ZSTD(1))',
      'Max Float64 CODEC(ZSTD(1))',
      'AggregationTemporality Int32 CODEC(ZSTD(1))',
    ]),
    metricsTable(o, t.metrics_summary, [
      'Count UInt64 CODEC(Delta, ZSTD(1))',
      'Sum Float64 CODEC(ZSTD(1))',
      'ValueAtQuantiles Nested(Quantile Float64, Value Float64) CODEC(ZSTD(1))',
      'Flags UInt32 CODEC(ZSTD(1))',
    ]),
  ];
}

/**
 * One row per incident version. ReplacingMergeTree keeps the highest Version per (Tenant, Key,
 * Id), so `FINAL` reads the current state; the change log lives in incident_events.
 */
export function incidentsTable(o: SchemaOptions): string {
  return table(
    o,
    o.tables.incidents,
    [
      'Key String',
      'Id String',
      'Version UInt64',
      'Rule LowCardinality(String)',
      'RuleKind LowCardinality(String)',
      `Labels ${MAP}`,
      'Title String',
      'Status LowCardinality(String)',
      'SeverityNumber UInt8',
      'SeverityText LowCardinality(String)',
      'Suppressed Bool',
      'SuppressedBy String',
      'OpenedAt DateTime64(3)',
      'UpdatedAt DateTime64(3)',
      'ResolvedAt DateTime64(3)',
      'FirstSeen DateTime64(3)',
      'LastSeen DateTime64(3)',
      'EventCount UInt64',
      'SampleEventIds Array(String)',
      'LastEventType LowCardinality(String)',
      'Tenant LowCardinality(String)',
      'Asset LowCardinality(String)',
      'Service LowCardinality(String)',
      'ChangeKind LowCardinality(String)',
      'ChangeReason String',
      'Audit Nested(At DateTime64(3), Kind LowCardinality(String), Reason String)',
      ...INCIDENT_MERGE_COLUMNS,
    ],
    {
      family: 'ReplacingMergeTree',
      engineArgs: 'Version',
      order: '(Tenant, Key, Id)',
      ttlField: 'toDateTime(UpdatedAt)',
      ttlMs: o.incidentsTtlMs ?? 0,
    },
  );
}

/** Every incident change, with one row per event that caused it (or one with EventId '' when none did). */
export function incidentEventsTable(o: SchemaOptions): string {
  return table(
    o,
    o.tables.incident_events,
    [
      'IncidentKey String',
      'IncidentId String',
      'Version UInt64',
      'ChangedAt DateTime64(3)',
      'ChangeKind LowCardinality(String)',
      'Reason String',
      'Status LowCardinality(String)',
      'EventId String',
      'Tenant LowCardinality(String)',
      bloom('idx_event_id', 'EventId', '0.001'),
    ],
    {
      partition: 'toYYYYMM(ChangedAt)',
      order: '(Tenant, IncidentKey, ChangedAt, Version)',
      ttlField: 'toDateTime(ChangedAt)',
      ttlMs: o.incidentsTtlMs ?? 0,
    },
  );
}

/**
 * Incidents two agents opened for one key merge into one: the survivor lists the others' ids,
 * and an id that merged away names the survivor in its last row. Added after the first release,
 * so tables created before get them with ALTER.
 */
const INCIDENT_MERGE_COLUMNS = ['MergedIds Array(String)', 'MergedInto String'];

/**
 * Columns a table may lack: Vigil's own on the OTel tables, which the OpenTelemetry Collector's
 * ClickHouse exporter creates without them (CREATE … IF NOT EXISTS leaves such a table as it is),
 * and columns added to Vigil's tables after they first shipped. Each is added at start, to the
 * Distributed table too (without its codec, which only the stored table has). Rows stored before
 * read as '' (no tenant).
 */
function addedColumns(o: SchemaOptions): string[] {
  const t = o.tables;
  const tenantOnly = [TENANT_COLUMN];
  const added: [string, string[]][] = [
    [t.logs, VIGIL_LOG_COLUMNS],
    [t.traces, tenantOnly],
    [t.metrics_gauge, tenantOnly],
    [t.metrics_sum, tenantOnly],
    [t.metrics_histogram, tenantOnly],
    [t.metrics_exponential_histogram, tenantOnly],
    [t.metrics_summary, tenantOnly],
    [t.incidents, INCIDENT_MERGE_COLUMNS],
  ];
  const alter = (name: string, column: string) =>
    `ALTER TABLE ${q(o.database)}.${q(name)}${onCluster(o)} ADD COLUMN IF NOT EXISTS ${column}`;
  return added.flatMap(([name, columns]) =>
    columns.flatMap((c) =>
      o.cluster && o.distributed
        ? [alter(storedName(o, name), c), alter(name, c.replace(/ CODEC\(.*\)$/, ''))]
        : [alter(name, c)],
    ),
  );
}

/**
 * The indexes of Vigil's columns on a logs table Vigil did not create (the Collector's), added
 * like the columns, after them. On the stored table only: a Distributed table has no parts to
 * index. Not materialized: rewriting every part of a large table at start would hold the start
 * for as long; parts written from now on, and parts merged, have them, and an operator can run
 * `ALTER TABLE … MATERIALIZE INDEX idx_asset` (then `idx_event_id`) when the cluster is quiet.
 */
function addedIndexes(o: SchemaOptions): string[] {
  return VIGIL_LOG_INDEXES.map(
    (index) =>
      `ALTER TABLE ${q(o.database)}.${q(storedName(o, o.tables.logs))}${onCluster(o)} ADD ${index.replace(/^INDEX /, 'INDEX IF NOT EXISTS ')}`,
  );
}

/**
 * The TTL of tables an older Vigil (or an older config) created: CREATE … IF NOT EXISTS leaves
 * them as they were. Without materializing, so a start never rewrites a table's parts: rows
 * already there expire as their parts are merged. Idempotent; a TTL of 0 changes nothing.
 */
function ttlStatements(o: SchemaOptions): string[] {
  const t = o.tables;
  const fields: [string, string, number][] = [
    [t.logs, 'toDateTime(Timestamp)', o.ttlMs],
    [t.traces, 'toDateTime(Timestamp)', o.ttlMs],
    [traceIdTsName(o), 'Start', o.ttlMs],
    [t.metrics_gauge, 'toDateTime(TimeUnix)', o.ttlMs],
    [t.metrics_sum, 'toDateTime(TimeUnix)', o.ttlMs],
    [t.metrics_histogram, 'toDateTime(TimeUnix)', o.ttlMs],
    [t.metrics_exponential_histogram, 'toDateTime(TimeUnix)', o.ttlMs],
    [t.metrics_summary, 'toDateTime(TimeUnix)', o.ttlMs],
    [t.incidents, 'toDateTime(UpdatedAt)', o.incidentsTtlMs ?? 0],
    [t.incident_events, 'toDateTime(ChangedAt)', o.incidentsTtlMs ?? 0],
  ];
  return fields
    .filter(([, , ms]) => ms > 0)
    .map(
      ([name, field, ms]) =>
        `ALTER TABLE ${q(o.database)}.${q(storedName(o, name))}${onCluster(o)} MODIFY ${ttlClause(field, ms)} SETTINGS materialize_ttl_after_modify = 0`,
    );
}

/**
 * The Distributed tables in front of the `_local` ones. The sharding key keeps what must meet on
 * one shard together: every version of an incident (so `FINAL` sees them all), every change of
 * an incident, every span time of a trace; events, spans and points spread at random.
 */
function distributedTables(o: SchemaOptions): string[] {
  if (!o.cluster || !o.distributed) return [];
  const t = o.tables;
  const keyed: [string, string][] = [
    [t.logs, 'rand()'],
    [t.traces, 'cityHash64(TraceId)'],
    [traceIdTsName(o), 'cityHash64(TraceId)'],
    [t.metrics_gauge, 'rand()'],
    [t.metrics_sum, 'rand()'],
    [t.metrics_histogram, 'rand()'],
    [t.metrics_exponential_histogram, 'rand()'],
    [t.metrics_summary, 'rand()'],
    [t.incidents, 'cityHash64(Key)'],
    [t.incident_events, 'cityHash64(IncidentKey)'],
  ];
  const db = q(o.database);
  const cluster = o.cluster.replaceAll("'", '');
  return keyed.map(
    ([name, key]) =>
      `CREATE TABLE IF NOT EXISTS ${db}.${q(name)}${onCluster(o)} AS ${db}.${q(storedName(o, name))} ENGINE = Distributed('${cluster}', '${o.database}', '${storedName(o, name)}', ${key})`,
  );
}

/** Every statement create_schema runs, in order. */
export function schemaStatements(o: SchemaOptions): string[] {
  return [
    `CREATE DATABASE IF NOT EXISTS ${q(o.database)}${onCluster(o)}`,
    logsTable(o),
    tracesTable(o),
    traceIdTsTable(o),
    traceIdTsView(o),
    ...metricsTables(o),
    incidentsTable(o),
    incidentEventsTable(o),
    ...distributedTables(o),
    ...addedColumns(o),
    ...addedIndexes(o),
    ...ttlStatements(o),
  ];
}
