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

export interface StoredEvent {
  Timestamp: string;
  EventId: string;
  SeverityNumber: number;
  SeverityText: string;
  ServiceName: string;
  Asset: string;
  Title: string;
  Body: string;
  EventType: string;
  Tenant: string;
  Fingerprint: string;
  Source: string;
  TraceId: string;
  LogAttributes: Record<string, string>;
  ResourceAttributes: Record<string, string>;
}

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
export class ClickHouseQueries {
  private readonly backend: ClickHouseBackend;
  private readonly logs: string;
  private readonly incidents: string;
  private readonly incidentEvents: string;

  constructor(backend: ClickHouseBackend, database: string, tables: TableNames) {
    this.backend = backend;
    this.logs = `\`${database}\`.\`${tables.logs}\``;
    this.incidents = `\`${database}\`.\`${tables.incidents}\``;
    this.incidentEvents = `\`${database}\`.\`${tables.incident_events}\``;
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
