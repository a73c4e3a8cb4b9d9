import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { RouteDoc } from './openapi.ts';
import { ApiProblem, problemResponses } from './problem.ts';

export interface PipelineHealthRoutesOptions {
  /** The daemon's own metrics registry (what `/metrics` on the admin listener serves). */
  registry?: Registry;
}

const PROBLEMS: Readonly<Record<number, string>> = {
  401: 'The authenticator refused the credentials (VIGIL_UNAUTHENTICATED)',
  403: "The caller's role does not allow this, or its credentials name a tenant (VIGIL_FORBIDDEN)",
};

const count = { type: 'number', minimum: 0 } as const;
const nullable = (description: string) => ({ type: ['number', 'null'], minimum: 0, description }) as const;
const rows = (properties: Record<string, object>, description: string) =>
  ({
    type: 'array',
    description,
    items: {
      type: 'object',
      required: Object.keys(properties),
      properties: { id: { type: 'string' }, ...properties },
      additionalProperties: false,
    },
  }) as const;

const healthSchema = {
  type: 'object',
  required: ['receivers', 'pipelines', 'exporters'],
  properties: {
    receivers: rows(
      {
        id: { type: 'string' },
        accepted: { ...count, description: 'Records pushed into the pipelines since start.' },
        refused: { ...count, description: 'Records refused for back-pressure (429, RESOURCE_EXHAUSTED).' },
        rejected: { ...count, description: 'Records that could not be read.' },
      },
      'Per receiver, since start.',
    ),
    pipelines: rows(
      { id: { type: 'string' }, queued: count, capacity: count },
      'Per pipeline: records waiting in its queue, and how many it holds.',
    ),
    exporters: rows(
      {
        id: { type: 'string' },
        sent: { ...count, description: 'Records handed to the destination since start.' },
        failed: { ...count, description: 'Records the destination refused for good, since start.' },
        backlog: nullable('Batches waiting on disk (spool) or incident changes in the outbox; null without either.'),
        oldest_age_seconds: nullable('Age of what waits longest there; null without a spool or outbox.'),
      },
      'Per exporter and connector.',
    ),
  },
  additionalProperties: false,
} as const;

type Samples = Map<string, { labels: Record<string, string | number>; value: number }[]>;

/** Sums a metric's samples by one label: `vigil_receiver_accepted_records_total` by `receiver`. */
function byLabel(samples: Samples, metric: string, label: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of samples.get(metric) ?? []) {
    const id = s.labels[label];
    if (id !== undefined) out.set(String(id), (out.get(String(id)) ?? 0) + s.value);
  }
  return out;
}

/** The ids of every map, sorted. */
const idsOf = (...maps: Map<string, number>[]) => [...new Set(maps.flatMap((m) => [...m.keys()]))].sort();

/**
 * `GET /api/v1/stats/pipeline`: the pipeline's health from the daemon's own metrics (read from
 * its registry, not scraped): accepted, refused and exported records per component, queue fill
 * and the age of what waits in spools and outboxes. Daemon-wide, so a caller bound to a tenant
 * is refused: the counts are every tenant's.
 */
export function registerPipelineHealthRoutes(app: FastifyInstance, opts: PipelineHealthRoutesOptions): void {
  app.get(
    '/api/v1/stats/pipeline',
    {
      config: { role: 'viewer' } satisfies RouteDoc,
      schema: {
        operationId: 'pipelineHealth',
        tags: ['stats'],
        summary: 'Pipeline health',
        description:
          "The daemon's own metrics per component, as `/metrics` counts them: records accepted, refused and rejected per receiver, queue fill per pipeline, records sent and failed per exporter with its spool or outbox backlog and the age of its oldest entry. Counters run from the daemon's start. Refused (403) to a caller bound to a tenant: the figures are every tenant's.",
        response: { 200: { ...healthSchema, description: 'The figures' }, ...problemResponses(PROBLEMS, 401, 403) },
      },
    },
    async (req) => {
      if (req.principal.tenant !== undefined)
        throw new ApiProblem(
          'VIGIL_FORBIDDEN',
          "pipeline health counts every tenant's records; ask with credentials that name no tenant",
        );
      const samples: Samples = new Map();
      for (const m of (await opts.registry?.getMetricsAsJSON()) ?? [])
        samples.set(m.name, m.values as { labels: Record<string, string | number>; value: number }[]);
      const accepted = byLabel(samples, 'vigil_receiver_accepted_records_total', 'receiver');
      const refused = byLabel(samples, 'vigil_receiver_refused_records_total', 'receiver');
      const rejected = byLabel(samples, 'vigil_receiver_rejected_records_total', 'receiver');
      const queued = byLabel(samples, 'vigil_pipeline_queue_size', 'pipeline');
      const capacity = byLabel(samples, 'vigil_pipeline_queue_capacity', 'pipeline');
      const sent = byLabel(samples, 'vigil_exporter_sent_records_total', 'exporter');
      const failed = byLabel(samples, 'vigil_exporter_send_failed_records_total', 'exporter');
      const spooled = byLabel(samples, 'vigil_exporter_spool_batches', 'exporter');
      const spoolAge = byLabel(samples, 'vigil_exporter_spool_oldest_age_seconds', 'exporter');
      const outbox = byLabel(samples, 'vigil_exporter_outbox_depth', 'exporter');
      const outboxAge = byLabel(samples, 'vigil_exporter_outbox_oldest_age_seconds', 'exporter');
      return {
        receivers: idsOf(accepted, refused, rejected).map((id) => ({
          id,
          accepted: accepted.get(id) ?? 0,
          refused: refused.get(id) ?? 0,
          rejected: rejected.get(id) ?? 0,
        })),
        pipelines: idsOf(queued, capacity).map((id) => ({
          id,
          queued: queued.get(id) ?? 0,
          capacity: capacity.get(id) ?? 0,
        })),
        exporters: idsOf(sent, failed, spooled, outbox).map((id) => ({
          id,
          sent: sent.get(id) ?? 0,
          failed: failed.get(id) ?? 0,
          backlog: spooled.get(id) ?? outbox.get(id) ?? null,
          oldest_age_seconds: spoolAge.get(id) ?? outboxAge.get(id) ?? null,
        })),
      };
    },
  );
}
