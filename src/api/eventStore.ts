/**
 * What the operators' API reads of stored events and incident changes: the clickhouse
 * exporter's tables (`ClickHouseQueries` implements it). Every read is bounded by a time range
 * and scoped by tenant; every value is a bound parameter.
 */

/** Which events: a time range and optional filters, all of which must hold. */
export interface EventFilter {
  /** Inclusive start, ns since the epoch. */
  fromNs: bigint;
  /** Exclusive end, ns since the epoch. */
  toNs: bigint;
  /** Only this tenant's; undefined: every tenant's ('' is the tenant of events that name none). */
  tenant?: string;
  service?: string;
  asset?: string;
  /** At or above this OTel SeverityNumber. */
  minSeverity?: number;
  /** Found, ignoring case, in the title or body. */
  text?: string;
}

/** An event as stored, with its time in ns (as text: beyond 2^53). */
export interface EventRow {
  TimeNs: string;
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
  SpanId: string;
  LogAttributes: Record<string, string>;
  ResourceAttributes: Record<string, string>;
}

/** Where a page of events ended: newest first, so the next page starts strictly before it. */
export interface EventPosition {
  timeNs: bigint;
  id: string;
}

/** One count: events of a severity class in a bucket starting at `startMs`. */
export interface HistogramCount {
  startMs: number;
  severity: string;
  count: number;
}

export interface RangeScope {
  fromNs: bigint;
  toNs: bigint;
  tenant?: string;
}

/** How fast people answered a rule's incidents opened in a range. */
export interface RuleResponseTimes {
  rule: string;
  opened: number;
  acknowledged: number;
  resolved: number;
  /** Mean ms from opening to the first acknowledgement, over the acknowledged ones; null when none. */
  meanAckMs: number | null;
  /** Mean ms from opening to the first resolution, over the resolved ones; null when none. */
  meanResolveMs: number | null;
}

/**
 * Calls from one service to another, seen in stored traces: spans of `callee` whose parent span
 * is one of `caller`'s (the edges of a service graph, as Jaeger's dependencies draw them).
 */
export interface ServiceEdge {
  caller: string;
  callee: string;
  calls: number;
}

export interface EventStore {
  /** For errors and logs: where the events live. */
  readonly description: string;
  /** Up to `limit` events newest first (time, then id, descending), strictly after `after` in that order. */
  events(filter: EventFilter, limit: number, after?: EventPosition): Promise<EventRow[]>;
  /** Counts per bucket of `stepMs` (aligned on the epoch) and severity class; buckets with no events are absent. */
  histogram(filter: EventFilter, stepMs: number): Promise<HistogramCount[]>;
  /** Events per source (`json`, `syslog`, `otlp`…) in the range. */
  eventsBySource(scope: RangeScope): Promise<{ source: string; count: number }[]>;
  /** The assets with the most events in the range, most first. */
  noisyAssets(scope: RangeScope, top: number): Promise<{ asset: string; count: number }[]>;
  /** Per rule, the incidents opened in the range and how long acknowledging and resolving them took. */
  responseTimes(scope: RangeScope): Promise<RuleResponseTimes[]>;
  /** The edges of the stored traces of the range that start or end at `service`, most calls first. */
  serviceEdges(scope: RangeScope, service: string, limit: number): Promise<ServiceEdge[]>;
}
