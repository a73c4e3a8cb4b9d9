import type { FastifyInstance } from 'fastify';
import type { IncidentDesk } from '../correlation/incidentActions.ts';
import {
  EVENT_PROBLEMS,
  fromStore,
  rangeOf,
  rangeQuery,
  SEVERITY_CLASSES,
  severityClass,
  tenantScope,
  type EventRoutesOptions,
} from './eventRoutes.ts';
import type { RangeScope } from './eventStore.ts';
import type { RouteDoc } from './openapi.ts';
import { problemResponses } from './problem.ts';

export interface StatsRoutesOptions extends EventRoutesOptions {
  desk: () => IncidentDesk | undefined;
}

/** How many rules and assets the "noisiest" lists name. */
const TOP = 10;

const count = { type: 'integer', minimum: 0 } as const;
const seconds = (what: string) => ({ type: ['number', 'null'], minimum: 0, description: what }) as const;
const list = (item: Record<string, unknown>, required: string[], description: string) =>
  ({
    type: 'array',
    description,
    items: { type: 'object', required, properties: item, additionalProperties: false },
  }) as const;

const overviewSchema = {
  type: 'object',
  required: [
    'from',
    'to',
    'event_store',
    'open_incidents',
    'events_per_minute',
    'response_times',
    'noisy_rules',
    'noisy_assets',
  ],
  properties: {
    from: { type: 'string', format: 'date-time' },
    to: { type: 'string', format: 'date-time' },
    event_store: {
      type: 'boolean',
      description:
        'Whether an event store is configured: without one, the lists read from it (events per minute, response times, noisy rules and assets) are empty.',
    },
    open_incidents: {
      type: 'object',
      description: 'The incidents open now (`open` or `acknowledged`), as the correlation core holds them.',
      required: ['total', 'acknowledged', 'suppressed', 'by_severity', 'by_service'],
      properties: {
        total: count,
        acknowledged: count,
        suppressed: count,
        by_severity: {
          type: 'object',
          required: [...SEVERITY_CLASSES],
          properties: Object.fromEntries(SEVERITY_CLASSES.map((s) => [s, count])),
          additionalProperties: false,
        },
        by_service: list({ service: { type: 'string' }, count }, ['service', 'count'], 'Most first.'),
      },
      additionalProperties: false,
    },
    events_per_minute: list(
      { source: { type: 'string' }, events: count, per_minute: { type: 'number', minimum: 0 } },
      ['source', 'events', 'per_minute'],
      'Stored events of the range per source (`json`, `syslog`, `otlp`…), and their mean rate over it.',
    ),
    response_times: list(
      {
        rule: { type: 'string' },
        opened: count,
        acknowledged: count,
        resolved: count,
        mean_time_to_acknowledge_seconds: seconds('Over the acknowledged ones; null when none was.'),
        mean_time_to_resolve_seconds: seconds('Over the resolved ones; null when none was.'),
      },
      [
        'rule',
        'opened',
        'acknowledged',
        'resolved',
        'mean_time_to_acknowledge_seconds',
        'mean_time_to_resolve_seconds',
      ],
      'Per rule, the incidents opened in the range and the mean time from their opening to their first acknowledgement and first resolution (whenever that came), from the stored incident changes. Most opened first.',
    ),
    noisy_rules: list(
      { rule: { type: 'string' }, incidents: count },
      ['rule', 'incidents'],
      `The ${TOP} rules that opened the most incidents in the range.`,
    ),
    noisy_assets: list(
      { asset: { type: 'string' }, events: count },
      ['asset', 'events'],
      `The ${TOP} assets with the most stored events in the range.`,
    ),
  },
  additionalProperties: false,
} as const;

/** `/api/v1/stats/…`: what a dashboard shows, from the core's incidents and the stored events. */
export function registerStatsRoutes(app: FastifyInstance, opts: StatsRoutesOptions): void {
  app.get<{ Querystring: { from: string; to: string; tenant?: string } }>(
    '/api/v1/stats/overview',
    {
      config: { role: 'viewer' } satisfies RouteDoc,
      schema: {
        operationId: 'statsOverview',
        tags: ['stats'],
        summary: 'Figures for a dashboard',
        description:
          'Open incidents by severity and service (now, from the correlation core); over the range (at most 31 days), events per minute by source, mean time to acknowledge and to resolve per rule, and the noisiest rules and assets (from ClickHouse).',
        querystring: {
          type: 'object',
          required: ['from', 'to'],
          properties: {
            ...rangeQuery,
            tenant: {
              type: 'string',
              maxLength: 256,
              description: "Only this tenant's (a caller whose credentials name a tenant sees only that one's anyway).",
            },
          },
          additionalProperties: false,
        },
        response: {
          200: { ...overviewSchema, description: 'The figures' },
          ...problemResponses(EVENT_PROBLEMS, 400, 401, 403, 502),
        },
      },
    },
    async (req) => {
      const range = rangeOf(req.query);
      const tenant = tenantScope(req, req.query.tenant);
      const store = opts.eventStore();
      const bySeverity = Object.fromEntries(SEVERITY_CLASSES.map((s) => [s, 0])) as Record<string, number>;
      const byService = new Map<string, number>();
      let total = 0;
      let acknowledged = 0;
      let suppressed = 0;
      const desk = tenant === null ? undefined : opts.desk();
      for (const inc of desk?.incidents() ?? []) {
        if (inc.status === 'resolved' || (tenant !== undefined && inc.tenant !== tenant)) continue;
        total++;
        if (inc.status === 'acknowledged') acknowledged++;
        if (inc.suppressed) suppressed++;
        bySeverity[severityClass(inc.severityNumber)]!++;
        byService.set(inc.service, (byService.get(inc.service) ?? 0) + 1);
      }
      const scope: RangeScope = { ...range, tenant: tenant ?? undefined };
      const [sources, times, assets] =
        store && tenant !== null
          ? await fromStore(opts, store, () =>
              Promise.all([store.eventsBySource(scope), store.responseTimes(scope), store.noisyAssets(scope, TOP)]),
            )
          : [[], [], []];
      const minutes = Number(range.toNs - range.fromNs) / 60e9;
      const inSeconds = (ms: number | null) => (ms === null ? null : ms / 1000);
      return {
        from: new Date(Number(range.fromNs / 1_000_000n)).toISOString(),
        to: new Date(Number(range.toNs / 1_000_000n)).toISOString(),
        event_store: store !== undefined,
        open_incidents: {
          total,
          acknowledged,
          suppressed,
          by_severity: bySeverity,
          by_service: [...byService]
            .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
            .map(([service, n]) => ({ service, count: n })),
        },
        events_per_minute: sources.map((s) => ({ source: s.source, events: s.count, per_minute: s.count / minutes })),
        response_times: times.map((t) => ({
          rule: t.rule,
          opened: t.opened,
          acknowledged: t.acknowledged,
          resolved: t.resolved,
          mean_time_to_acknowledge_seconds: inSeconds(t.meanAckMs),
          mean_time_to_resolve_seconds: inSeconds(t.meanResolveMs),
        })),
        noisy_rules: times.slice(0, TOP).map((t) => ({ rule: t.rule, incidents: t.opened })),
        noisy_assets: assets.map((a) => ({ asset: a.asset, events: a.count })),
      };
    },
  );
}
