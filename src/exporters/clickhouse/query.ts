import type {
  EventFilter,
  EventPosition,
  EventRow,
  EventStore,
  HistogramCount,
  RangeScope,
  RuleResponseTimes,
  ServiceEdge,
} from '../../api/eventStore.ts';
import type { ClickHouseBackend } from './backend.ts';
import type { TableNames } from './config.ts';

export interface EventSearch {
  /** Inclusive start, ns since the epoch. */
  fromNs: bigint;
  /** Exclusive end, ns since the epoch. */
  toNs: bigint;
  asset?: string;
  service?: string;
  tenant?: string;
  /** Only events at or above this OTel SeverityNumber. */
  minSeverity?: number;
  /** Case-insensitive substring of the body or title. */
  text?: string;
  /** At most this many, newest first (default 100, capped at 10,000). */
  limit?: number;
}

/** An event as `searchEvents` reads it: the API's row, with the stored timestamp as ClickHouse writes it. */
export type StoredEvent = Omit<EventRow, 'TimeNs' | 'SpanId'> & { Timestamp: string };

export interface StoredIncident {
  Key: string;
  Id: string;
  Version: number;
  Rule: string;
  Title: string;
  Status: string;
  SeverityNumber: number;
  Suppressed: boolean;
  OpenedAt: string;
  UpdatedAt: string;
  ResolvedAt: string;
  EventCount: number;
  Tenant: string;
  Asset: string;
  Service: string;
  Labels: Record<string, string>;
}

export interface IncidentChangeRow {
  IncidentId: string;
  Version: number;
  ChangedAt: string;
  ChangeKind: string;
  Reason: string;
  Status: string;
  EventIds: string[];
}

export interface IncidentHistory {
  /** Latest version of each incident with this key (a key reopened later is a new incident id). */
  incidents: StoredIncident[];
  /** Every recorded change, oldest first, with the events that caused it. */
  changes: IncidentChangeRow[];
}

/** A stored event as `vigil rules backtest` reads it back: times as ns digit strings. */
export interface StoredLogRow extends Omit<StoredEvent, 'Timestamp'> {
  TimeNs: string;
  ObservedNs: string;
  SpanId: string;
  TraceFlags: number;
}

/** The latest version of a stored incident, times in ms (ResolvedMs 0 while open). */
export interface StoredIncidentSummary {
  Key: string;
  Id: string;
  Rule: string;
  Status: string;
  SeverityNumber: number;
  Suppressed: boolean;
  OpenedMs: number;
  ResolvedMs: number;
  EventCount: number;
}

/**
 * The reads Vigil's API and UI build on. Every value reaches ClickHouse as a bound
 * `{name:Type}` parameter; the only text put into SQL is the database and table names,
 * which config validation restricts to plain identifiers. Optional filters are written as
 * `(param = '' OR column = param)` so the statement text never depends on the input.
 */
export class ClickHouseQueries implements EventStore {
  private readonly backend: ClickHouseBackend;
  private readonly logs: string;
  private readonly incidents: string;
  private readonly incidentEvents: string;
  private readonly traces: string;

  constructor(backend: ClickHouseBackend, database: string, tables: TableNames) {
    this.backend = backend;
    this.logs = `\`${database}\`.\`${tables.logs}\``;
    this.incidents = `\`${database}\`.\`${tables.incidents}\``;
    this.incidentEvents = `\`${database}\`.\`${tables.incident_events}\``;
    this.traces = `\`${database}\`.\`${tables.traces}\``;
  }

  get description(): string {
    return this.backend.description;
  }

  searchEvents(s: EventSearch): Promise<StoredEvent[]> {
    const sql = `SELECT Timestamp, EventId, SeverityNumber, SeverityText, ServiceName, Asset, Title, Body, EventType, Tenant, Fingerprint, Source, TraceId, LogAttributes, ResourceAttributes
FROM ${this.logs}
WHERE Timestamp >= fromUnixTimestamp64Nano({from:Int64}) AND Timestamp < fromUnixTimestamp64Nano({to:Int64})
  AND toStartOfFiveMinutes(Timestamp) >= toStartOfFiveMinutes(fromUnixTimestamp64Nano({from:Int64}))
  AND ({asset:String} = '' OR Asset = {asset:String})
  AND ({service:String} = '' OR ServiceName = {service:String})
  AND ({tenant:String} = '' OR Tenant = {tenant:String})
  AND SeverityNumber >= {minSeverity:UInt8}
  AND ({text:String} = '' OR positionCaseInsensitiveUTF8(Body, {text:String}) > 0 OR positionCaseInsensitiveUTF8(Title, {text:String}) > 0)
ORDER BY Timestamp DESC
LIMIT {limit:UInt32}`;
    return this.backend.select<StoredEvent>(sql, {
      from: s.fromNs,
      to: s.toNs,
      asset: s.asset ?? '',
      service: s.service ?? '',
      tenant: s.tenant ?? '',
      minSeverity: s.minSeverity ?? 0,
      text: s.text ?? '',
      limit: Math.min(Math.max(s.limit ?? 100, 1), 10_000),
    });
  }

  async incidentHistory(key: string, tenant = ''): Promise<IncidentHistory> {
    const incidents = await this.backend.select<StoredIncident>(
      `SELECT Key, Id, Version, Rule, Title, Status, SeverityNumber, Suppressed, OpenedAt, UpdatedAt, ResolvedAt, EventCount, Tenant, Asset, Service, Labels
FROM ${this.incidents} FINAL
WHERE Key = {key:String} AND ({tenant:String} = '' OR Tenant = {tenant:String})
ORDER BY OpenedAt`,
      { key, tenant },
    );
    const changes = await this.backend.select<IncidentChangeRow>(
      `SELECT IncidentId, Version, ChangedAt, ChangeKind, Reason, Status, arrayFilter(x -> x != '', groupArray(EventId)) AS EventIds
FROM ${this.incidentEvents}
WHERE IncidentKey = {key:String} AND ({tenant:String} = '' OR Tenant = {tenant:String})
GROUP BY IncidentId, Version, ChangedAt, ChangeKind, Reason, Status
ORDER BY ChangedAt, Version`,
      { key, tenant },
    );
    return { incidents, changes };
  }

  events(filter: EventFilter, limit: number, after?: EventPosition): Promise<EventRow[]> {
    return this.backend.select<EventRow>(
      `SELECT toString(toUnixTimestamp64Nano(Timestamp)) AS TimeNs, EventId, SeverityNumber, SeverityText, ServiceName, Asset, Title, Body, EventType, Tenant, Fingerprint, Source, TraceId, SpanId, LogAttributes, ResourceAttributes
FROM ${this.logs}
WHERE ${EVENT_FILTER}
  AND ({paged:UInt8} = 0 OR (Timestamp <= fromUnixTimestamp64Nano({afterNs:Int64}) AND (Timestamp, EventId) < (fromUnixTimestamp64Nano({afterNs:Int64}), {afterId:String})))
ORDER BY Timestamp DESC, EventId DESC
LIMIT {limit:UInt32}`,
      {
        ...filterParams(filter),
        paged: after ? 1 : 0,
        afterNs: after?.timeNs ?? 0n,
        afterId: after?.id ?? '',
        limit,
      },
    );
  }

  async histogram(filter: EventFilter, stepMs: number): Promise<HistogramCount[]> {
    const rows = await this.backend.select<{ startMs: string; severity: string; count: string }>(
      `SELECT toString(intDiv(toUnixTimestamp64Milli(Timestamp), {step:UInt64}) * {step:UInt64}) AS startMs, ${SEVERITY_CLASS} AS severity, toString(count()) AS count
FROM ${this.logs}
WHERE ${EVENT_FILTER}
GROUP BY startMs, severity`,
      { ...filterParams(filter), step: stepMs },
    );
    return rows.map((r) => ({ startMs: Number(r.startMs), severity: r.severity, count: Number(r.count) }));
  }

  async eventsBySource(scope: RangeScope): Promise<{ source: string; count: number }[]> {
    const rows = await this.backend.select<{ source: string; count: string }>(
      `SELECT Source AS source, toString(count()) AS count
FROM ${this.logs}
WHERE ${EVENT_FILTER}
GROUP BY Source
ORDER BY count() DESC, Source
LIMIT 100`,
      filterParams(scope),
    );
    return rows.map((r) => ({ source: r.source, count: Number(r.count) }));
  }

  async noisyAssets(scope: RangeScope, top: number): Promise<{ asset: string; count: number }[]> {
    const rows = await this.backend.select<{ asset: string; count: string }>(
      `SELECT Asset AS asset, toString(count()) AS count
FROM ${this.logs}
WHERE ${EVENT_FILTER} AND Asset != ''
GROUP BY Asset
ORDER BY count() DESC, Asset
LIMIT {top:UInt32}`,
      { ...filterParams(scope), top },
    );
    return rows.map((r) => ({ asset: r.asset, count: Number(r.count) }));
  }

  /**
   * From the change log (`incident_events`), not the incidents table: every change is there with
   * its time, so the first acknowledgement and the first resolution after opening are exact even
   * for incidents reopened or acknowledged many times since. The rule is the key's head
   * (`<rule>{…}`; rule names have no `{`).
   */
  async responseTimes(scope: RangeScope): Promise<RuleResponseTimes[]> {
    const rows = await this.backend.select<{
      rule: string;
      opened: string;
      acknowledged: string;
      resolved: string;
      ackMs: string;
      resolveMs: string;
    }>(
      `SELECT rule, toString(count()) AS opened, toString(countIf(acked)) AS acknowledged, toString(countIf(solved)) AS resolved,
  toString(sumIf(ackAt - openedAt, acked)) AS ackMs, toString(sumIf(resolvedAt - openedAt, solved)) AS resolveMs
FROM (
  SELECT any(splitByChar('{', IncidentKey)[1]) AS rule,
    minIf(toUnixTimestamp64Milli(ChangedAt), ChangeKind = 'opened') AS openedAt,
    countIf(ChangeKind = 'acknowledged') > 0 AS acked,
    minIf(toUnixTimestamp64Milli(ChangedAt), ChangeKind = 'acknowledged') AS ackAt,
    countIf(ChangeKind = 'resolved') > 0 AS solved,
    minIf(toUnixTimestamp64Milli(ChangedAt), ChangeKind = 'resolved') AS resolvedAt
  FROM ${this.incidentEvents}
  WHERE ChangedAt >= fromUnixTimestamp64Milli({fromMs:Int64})
    AND ({scoped:UInt8} = 0 OR Tenant = {tenant:String})
  GROUP BY Tenant, IncidentId
  HAVING countIf(ChangeKind = 'opened') > 0 AND openedAt < {toMs:Int64}
)
GROUP BY rule
ORDER BY count() DESC, rule`,
      {
        fromMs: scope.fromNs / 1_000_000n,
        toMs: scope.toNs / 1_000_000n,
        scoped: scope.tenant === undefined ? 0 : 1,
        tenant: scope.tenant ?? '',
      },
    );
    return rows.map((r) => {
      const acknowledged = Number(r.acknowledged);
      const resolved = Number(r.resolved);
      return {
        rule: r.rule,
        opened: Number(r.opened),
        acknowledged,
        resolved,
        meanAckMs: acknowledged ? Number(r.ackMs) / acknowledged : null,
        meanResolveMs: resolved ? Number(r.resolveMs) / resolved : null,
      };
    });
  }

  /**
   * A child span joined to its parent in the same trace, counted where their services differ.
   * Only the traces that pass through `service` are joined (found through the table's order,
   * which starts with ServiceName), so the join stays the size of that service's traffic.
   */
  async serviceEdges(scope: RangeScope, service: string, limit: number): Promise<ServiceEdge[]> {
    const spans = (columns: string) => `SELECT ${columns} FROM ${this.traces}
  WHERE Timestamp >= fromUnixTimestamp64Nano({from:Int64}) AND Timestamp < fromUnixTimestamp64Nano({to:Int64})
    AND ({scoped:UInt8} = 0 OR Tenant = {tenant:String})
    AND TraceId IN (SELECT TraceId FROM ${this.traces} WHERE ServiceName = {service:String}
      AND Timestamp >= fromUnixTimestamp64Nano({from:Int64}) AND Timestamp < fromUnixTimestamp64Nano({to:Int64}))`;
    const rows = await this.backend.select<{ caller: string; callee: string; calls: string }>(
      `SELECT p.ServiceName AS caller, c.ServiceName AS callee, toString(count()) AS calls
FROM (${spans('TraceId, ParentSpanId, ServiceName')} AND ParentSpanId != '') AS c
INNER JOIN (${spans('TraceId, SpanId, ServiceName')}) AS p ON p.TraceId = c.TraceId AND p.SpanId = c.ParentSpanId
WHERE p.ServiceName != c.ServiceName AND (p.ServiceName = {service:String} OR c.ServiceName = {service:String})
GROUP BY caller, callee
ORDER BY count() DESC, caller, callee
LIMIT {limit:UInt32}`,
      {
        from: scope.fromNs,
        to: scope.toNs,
        scoped: scope.tenant === undefined ? 0 : 1,
        tenant: scope.tenant ?? '',
        service,
        limit,
      },
    );
    return rows.map((r) => ({ caller: r.caller, callee: r.callee, calls: Number(r.calls) }));
  }

  /** How many events happened in [fromNs, toNs). */
  async countEvents(fromNs: bigint, toNs: bigint): Promise<number> {
    const rows = await this.backend.select<{ n: string | number }>(
      `SELECT count() AS n FROM ${this.logs}
WHERE Timestamp >= fromUnixTimestamp64Nano({from:Int64}) AND Timestamp < fromUnixTimestamp64Nano({to:Int64})`,
      { from: fromNs, to: toNs },
    );
    return Number(rows[0]?.n ?? 0);
  }

  /**
   * The events that happened in [fromNs, toNs), in the order they reached Vigil (observed time,
   * then id), `pageSize` at a time: each page starts after the last row of the one before, so
   * memory holds one page whatever the range.
   */
  async *eventsInArrivalOrder(fromNs: bigint, toNs: bigint, pageSize = 5000): AsyncGenerator<StoredLogRow[]> {
    let afterNs = '0';
    let afterId = '';
    for (;;) {
      const page = await this.backend.select<StoredLogRow>(
        `SELECT toString(toUnixTimestamp64Nano(Timestamp)) AS TimeNs, toString(toUnixTimestamp64Nano(ObservedTimestamp)) AS ObservedNs,
  EventId, SeverityNumber, SeverityText, ServiceName, Asset, Title, Body, EventType, Tenant, Fingerprint, Source,
  TraceId, SpanId, TraceFlags, LogAttributes, ResourceAttributes
FROM ${this.logs}
WHERE Timestamp >= fromUnixTimestamp64Nano({from:Int64}) AND Timestamp < fromUnixTimestamp64Nano({to:Int64})
  AND (ObservedTimestamp, EventId) > (fromUnixTimestamp64Nano({afterNs:Int64}), {afterId:String})
ORDER BY ObservedTimestamp, EventId
LIMIT {limit:UInt32}`,
        { from: fromNs, to: toNs, afterNs, afterId, limit: pageSize },
      );
      if (page.length === 0) return;
      yield page;
      if (page.length < pageSize) return;
      afterNs = page.at(-1)!.ObservedNs;
      afterId = page.at(-1)!.EventId;
    }
  }

  /** The incidents opened in [fromMs, toMs), latest version of each, oldest first. */
  incidentsOpened(fromMs: number, toMs: number): Promise<StoredIncidentSummary[]> {
    return this.backend.select<StoredIncidentSummary>(
      `SELECT Key, Id, Rule, Status, SeverityNumber, Suppressed, toUnixTimestamp64Milli(OpenedAt) AS OpenedMs,
  toUnixTimestamp64Milli(ResolvedAt) AS ResolvedMs, EventCount
FROM ${this.incidents} FINAL
WHERE OpenedAt >= fromUnixTimestamp64Milli({from:Int64}) AND OpenedAt < fromUnixTimestamp64Milli({to:Int64})
ORDER BY OpenedAt, Key`,
      { from: fromMs, to: toMs },
    );
  }
}

/**
 * The conditions every read of events shares. An absent filter binds '' (or 0) and its
 * condition holds for every row, so the text never depends on the input. The tenant has a flag
 * of its own: '' is a tenant (events that name none), not "any".
 */
const EVENT_FILTER = `Timestamp >= fromUnixTimestamp64Nano({from:Int64}) AND Timestamp < fromUnixTimestamp64Nano({to:Int64})
  AND toStartOfFiveMinutes(Timestamp) >= toStartOfFiveMinutes(fromUnixTimestamp64Nano({from:Int64}))
  AND toStartOfFiveMinutes(Timestamp) <= toStartOfFiveMinutes(fromUnixTimestamp64Nano({to:Int64}))
  AND ({scoped:UInt8} = 0 OR Tenant = {tenant:String})
  AND ({service:String} = '' OR ServiceName = {service:String})
  AND ({asset:String} = '' OR Asset = {asset:String})
  AND SeverityNumber >= {minSeverity:UInt8}
  AND ({text:String} = '' OR positionCaseInsensitiveUTF8(Title, {text:String}) > 0 OR positionCaseInsensitiveUTF8(Body, {text:String}) > 0)`;

/** OTel's severity ranges by name (1–4 trace … 21–24 fatal), as the API counts them. */
const SEVERITY_CLASS = `multiIf(SeverityNumber >= 21, 'fatal', SeverityNumber >= 17, 'error', SeverityNumber >= 13, 'warn', SeverityNumber >= 9, 'info', SeverityNumber >= 5, 'debug', SeverityNumber >= 1, 'trace', 'unspecified')`;

function filterParams(f: EventFilter): Record<string, unknown> {
  return {
    from: f.fromNs,
    to: f.toNs,
    scoped: f.tenant === undefined ? 0 : 1,
    tenant: f.tenant ?? '',
    service: f.service ?? '',
    asset: f.asset ?? '',
    minSeverity: f.minSeverity ?? 0,
    text: f.text ?? '',
  };
}
