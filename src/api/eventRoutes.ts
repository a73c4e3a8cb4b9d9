import type { FastifyInstance, FastifyRequest } from 'fastify';
import { severityFromText } from '../model/severity.ts';
import { parseTimestampNs } from '../model/timestamp.ts';
import type { Logger } from '../telemetry/logger.ts';
import { cursorParts, cursorText, foreignCursor } from './cursor.ts';
import type { EventFilter, EventPosition, EventRow, EventStore } from './eventStore.ts';
import type { RouteDoc } from './openapi.ts';
import { ApiProblem, problemResponses } from './problem.ts';

export interface EventRoutesOptions {
  /** The clickhouse exporter's tables (`api.event_store`); undefined when none is configured. */
  eventStore: () => EventStore | undefined;
  logger?: Logger;
}

export const SEVERITY_CLASSES = ['unspecified', 'trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
/** The longest range one request reads: a month of events, never the whole table. */
export const MAX_RANGE_MS = 31 * 86_400_000;
const MAX_PAGE = 1000;
/** The most buckets a histogram answers: enough for any chart, few enough to send at once. */
export const MAX_BUCKETS = 1000;
/** Steps a histogram picks from when the caller names none: the smallest giving at most DEFAULT_BUCKETS. */
const NICE_STEPS = [1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400];
const DEFAULT_BUCKETS = 120;

export const EVENT_PROBLEMS: Readonly<Record<number, string>> = {
  400: 'The request is not valid (VIGIL_INVALID_REQUEST, VIGIL_INVALID_CURSOR)',
  401: 'The authenticator refused the credentials (VIGIL_UNAUTHENTICATED)',
  403: "The caller's role does not allow this (VIGIL_FORBIDDEN)",
  502: 'The event store (ClickHouse) did not answer (VIGIL_EVENT_STORE_FAILED)',
  503: 'No event store is configured: `api.event_store` names no clickhouse exporter (VIGIL_EVENTS_UNAVAILABLE), or Vigil is shutting down (VIGIL_SHUTTING_DOWN)',
};

const time = (what: string) => ({ type: 'string', format: 'date-time', description: what }) as const;

/** The range every read of stored events takes: required, and at most MAX_RANGE_MS long. */
export const rangeQuery = {
  from: time('Start of the range (inclusive), RFC 3339.'),
  to: time('End of the range (exclusive), RFC 3339; at most 31 days after `from`.'),
} as const;

const filterQuery = {
  ...rangeQuery,
  service: { type: 'string', minLength: 1, maxLength: 256, description: 'Only events of this service.' },
  asset: { type: 'string', minLength: 1, maxLength: 256, description: 'Only events of this asset.' },
  severity: {
    type: 'string',
    enum: SEVERITY_CLASSES.slice(1),
    description: 'At least this severity.',
  },
  q: {
    type: 'string',
    minLength: 1,
    maxLength: 200,
    description: 'Text found (ignoring case) in the title or the body.',
  },
  tenant: {
    type: 'string',
    maxLength: 256,
    description: "Only this tenant's (a caller whose credentials name a tenant sees only that one's anyway).",
  },
} as const;

interface FilterQuery {
  from: string;
  to: string;
  service?: string;
  asset?: string;
  severity?: string;
  q?: string;
  tenant?: string;
}

const stringMap = { type: 'object', additionalProperties: { type: 'string' } } as const;

export const eventSchema = {
  type: 'object',
  required: [
    'id',
    'time',
    'time_unix_nano',
    'tenant',
    'service',
    'asset',
    'severity',
    'severity_number',
    'severity_text',
    'title',
    'body',
    'type',
    'source',
    'fingerprint',
    'trace_id',
    'span_id',
    'attributes',
    'resource',
  ],
  properties: {
    id: { type: 'string', description: "The event's id (`event_ids` of incident changes name it)." },
    time: { type: 'string', format: 'date-time', description: 'When it happened, to the nanosecond.' },
    time_unix_nano: { type: 'string', pattern: '^[0-9]+$', description: 'The same, as ns since the epoch.' },
    tenant: { type: 'string' },
    service: { type: 'string' },
    asset: { type: 'string' },
    severity: { type: 'string', enum: SEVERITY_CLASSES, description: 'The class of `severity_number`.' },
    severity_number: { type: 'integer', minimum: 0, maximum: 255, description: 'OpenTelemetry SeverityNumber.' },
    severity_text: { type: 'string', description: 'As the sender wrote it.' },
    title: { type: 'string' },
    body: { type: 'string' },
    type: { type: 'string', description: '`down`, `up` or `neutral`, as the rules read it.' },
    source: { type: 'string', description: 'The receiver kind that took it: `json`, `syslog`, `otlp`, `snmp`…' },
    fingerprint: { type: 'string' },
    trace_id: { type: 'string' },
    span_id: { type: 'string' },
    attributes: { ...stringMap, description: 'Its attributes, values as text.' },
    resource: { ...stringMap, description: "Its resource's attributes, values as text." },
  },
  additionalProperties: false,
} as const;

/** ns since the epoch as RFC 3339 with nine fractional digits. */
function isoNs(ns: bigint): string {
  const ms = ns / 1_000_000n;
  const iso = new Date(Number(ms)).toISOString();
  return `${iso.slice(0, 19)}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}Z`;
}

export function severityClass(n: number): (typeof SEVERITY_CLASSES)[number] {
  if (n <= 0 || n > 24) return 'unspecified';
  return SEVERITY_CLASSES[Math.floor((n - 1) / 4) + 1]!;
}

function eventView(r: EventRow) {
  const ns = BigInt(r.TimeNs);
  return {
    id: r.EventId,
    time: isoNs(ns),
    time_unix_nano: r.TimeNs,
    tenant: r.Tenant,
    service: r.ServiceName,
    asset: r.Asset,
    severity: severityClass(r.SeverityNumber),
    severity_number: r.SeverityNumber,
    severity_text: r.SeverityText,
    title: r.Title,
    body: r.Body,
    type: r.EventType,
    source: r.Source,
    fingerprint: r.Fingerprint,
    trace_id: r.TraceId,
    span_id: r.SpanId,
    attributes: r.LogAttributes,
    resource: r.ResourceAttributes,
  };
}

function invalid(field: string, message: string): ApiProblem {
  return new ApiProblem('VIGIL_INVALID_REQUEST', `${field} ${message}`, [{ path: `querystring/${field}`, message }]);
}

function instantNs(text: string, field: string): bigint {
  const ns =
    parseTimestampNs(text) ?? (Number.isFinite(Date.parse(text)) ? BigInt(Date.parse(text)) * 1_000_000n : undefined);
  if (ns === undefined || ns < 0n)
    throw invalid(field, 'must be an RFC 3339 date-time after 1970, such as 2026-01-31T12:00:00Z');
  return ns;
}

/** The range of a request: `to` after `from`, at most MAX_RANGE_MS apart. */
export function rangeOf(q: { from: string; to: string }): { fromNs: bigint; toNs: bigint } {
  const fromNs = instantNs(q.from, 'from');
  const toNs = instantNs(q.to, 'to');
  if (toNs <= fromNs) throw invalid('to', 'must be after from');
  if (toNs - fromNs > BigInt(MAX_RANGE_MS) * 1_000_000n)
    throw invalid('to', 'must be at most 31 days after from; ask for several ranges');
  return { fromNs, toNs };
}

/**
 * The tenant a read is limited to: the caller's when its credentials name one (a `tenant`
 * parameter naming another then finds nothing: `null`), else the parameter's, else none.
 */
export function tenantScope(req: FastifyRequest, asked: string | undefined): string | undefined | null {
  const own = req.principal.tenant;
  if (own === undefined) return asked;
  return asked === undefined || asked === own ? own : null;
}

function filterOf(req: FastifyRequest, q: FilterQuery): EventFilter | null {
  const tenant = tenantScope(req, q.tenant);
  if (tenant === null) return null;
  return {
    ...rangeOf(q),
    tenant,
    service: q.service,
    asset: q.asset,
    minSeverity: q.severity === undefined ? undefined : severityFromText(q.severity),
    text: q.q,
  };
}

function encodeCursor(p: EventPosition): string {
  return cursorText(['events', p.timeNs.toString(), p.id]);
}

function decodeCursor(text: string): EventPosition {
  const parsed = cursorParts(text);
  if (
    !parsed ||
    parsed.length !== 3 ||
    parsed[0] !== 'events' ||
    typeof parsed[1] !== 'string' ||
    !/^[0-9]{1,19}$/.test(parsed[1]) ||
    typeof parsed[2] !== 'string'
  )
    throw foreignCursor();
  return { timeNs: BigInt(parsed[1]), id: parsed[2] };
}

/** The step a histogram uses: the caller's, if it gives at most MAX_BUCKETS, else the smallest nice one giving DEFAULT_BUCKETS. */
function stepOf(rangeMs: number, asked: number | undefined): number {
  if (asked !== undefined) {
    const buckets = Math.ceil(rangeMs / (asked * 1000)) + 1;
    if (buckets > MAX_BUCKETS)
      throw invalid(
        'step_seconds',
        `gives ${buckets} buckets over this range, more than ${MAX_BUCKETS}; use at least ${Math.ceil(rangeMs / 1000 / (MAX_BUCKETS - 1))}`,
      );
    return asked;
  }
  return NICE_STEPS.find((s) => rangeMs / (s * 1000) <= DEFAULT_BUCKETS) ?? 86_400;
}

/** The event store, or the problem saying there is none. */
export function requireEventStore(opts: EventRoutesOptions): EventStore {
  const store = opts.eventStore();
  if (!store)
    throw new ApiProblem(
      'VIGIL_EVENTS_UNAVAILABLE',
      'no event store is configured: set api.event_store to the id of a clickhouse exporter that stores the logs pipeline',
    );
  return store;
}

/** A read of the event store; its failure is the store's, told as such (and logged), never a 500. */
export async function fromStore<T>(opts: EventRoutesOptions, store: EventStore, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (err) {
    opts.logger?.warn({ err, store: store.description }, "the event store did not answer the operators' API");
    throw new ApiProblem(
      'VIGIL_EVENT_STORE_FAILED',
      `the event store (ClickHouse, ${store.description}) did not answer: ${(err as Error).message}`,
    );
  }
}

/** `/api/v1/events…`: search stored events, and count them over time for charts, from ClickHouse. */
export function registerEventRoutes(app: FastifyInstance, opts: EventRoutesOptions): void {
  const viewer: RouteDoc = { role: 'viewer' };
  const tags = ['events'];

  app.get<{ Querystring: FilterQuery & { limit: number; cursor?: string } }>(
    '/api/v1/events',
    {
      config: viewer,
      schema: {
        operationId: 'searchEvents',
        tags,
        summary: 'Search stored events',
        description:
          'The events the clickhouse exporter stored in a range (at most 31 days), newest first, filtered and paged by cursor.',
        querystring: {
          type: 'object',
          required: ['from', 'to'],
          properties: {
            ...filterQuery,
            limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE, default: 100, description: 'Events per page.' },
            cursor: {
              type: 'string',
              minLength: 1,
              maxLength: 2000,
              description: '`next_cursor` of the previous page, to read the next one (with the same filters).',
            },
          },
          additionalProperties: false,
        },
        response: {
          200: {
            description: 'One page of events',
            type: 'object',
            required: ['events', 'next_cursor'],
            properties: {
              events: { type: 'array', items: eventSchema },
              next_cursor: {
                type: ['string', 'null'],
                description: 'Pass as `cursor` for the next page; null on the last.',
              },
            },
            additionalProperties: false,
          },
          ...problemResponses(EVENT_PROBLEMS, 400, 401, 403, 502, 503),
        },
      },
    },
    async (req) => {
      const filter = filterOf(req, req.query);
      const after = req.query.cursor === undefined ? undefined : decodeCursor(req.query.cursor);
      const store = requireEventStore(opts);
      if (!filter) return { events: [], next_cursor: null };
      const limit = req.query.limit;
      const rows = await fromStore(opts, store, () => store.events(filter, limit + 1, after));
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return {
        events: page.map(eventView),
        next_cursor:
          rows.length > limit && last ? encodeCursor({ timeNs: BigInt(last.TimeNs), id: last.EventId }) : null,
      };
    },
  );

  app.get<{ Querystring: FilterQuery & { step_seconds?: number } }>(
    '/api/v1/events/histogram',
    {
      config: viewer,
      schema: {
        operationId: 'eventHistogram',
        tags,
        summary: 'Count stored events over time',
        description: `Events per time bucket and severity, counted in ClickHouse (no event leaves it). Buckets start at multiples of \`step_seconds\` since the epoch, cover the range, and are all present (zero counts included); at most ${MAX_BUCKETS}.`,
        querystring: {
          type: 'object',
          required: ['from', 'to'],
          properties: {
            ...filterQuery,
            step_seconds: {
              type: 'integer',
              minimum: 1,
              maximum: 86_400,
              description: `Bucket width; absent: the smallest of 1s, 5s, 10s, 15s, 30s, 1m, 2m, 5m, 10m, 15m, 30m, 1h … 1d giving at most ${DEFAULT_BUCKETS} buckets.`,
            },
          },
          additionalProperties: false,
        },
        response: {
          200: {
            description: 'The buckets, oldest first',
            type: 'object',
            required: ['step_seconds', 'buckets'],
            properties: {
              step_seconds: { type: 'integer', minimum: 1 },
              buckets: {
                type: 'array',
                maxItems: MAX_BUCKETS,
                items: {
                  type: 'object',
                  required: ['start', 'counts'],
                  properties: {
                    start: { type: 'string', format: 'date-time' },
                    counts: {
                      type: 'object',
                      required: [...SEVERITY_CLASSES],
                      properties: Object.fromEntries(SEVERITY_CLASSES.map((s) => [s, { type: 'integer', minimum: 0 }])),
                      additionalProperties: false,
                    },
                  },
                  additionalProperties: false,
                },
              },
            },
            additionalProperties: false,
          },
          ...problemResponses(EVENT_PROBLEMS, 400, 401, 403, 502, 503),
        },
      },
    },
    async (req) => {
      const filter = filterOf(req, req.query);
      const range = filter ?? rangeOf(req.query);
      const fromMs = Number(range.fromNs / 1_000_000n);
      const toMs = Number((range.toNs + 999_999n) / 1_000_000n);
      const stepSeconds = stepOf(toMs - fromMs, req.query.step_seconds);
      const store = requireEventStore(opts);
      const stepMs = stepSeconds * 1000;
      const counts = filter ? await fromStore(opts, store, () => store.histogram(filter, stepMs)) : [];
      const first = Math.floor(fromMs / stepMs) * stepMs;
      const buckets = [];
      for (let start = first; start < toMs; start += stepMs)
        buckets.push({
          start: new Date(start).toISOString(),
          counts: Object.fromEntries(SEVERITY_CLASSES.map((s) => [s, 0])) as Record<string, number>,
        });
      for (const c of counts) {
        const bucket = buckets[(c.startMs - first) / stepMs];
        if (bucket) bucket.counts[c.severity] = (bucket.counts[c.severity] ?? 0) + c.count;
      }
      return { step_seconds: stepSeconds, buckets };
    },
  );
}
