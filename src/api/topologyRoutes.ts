import type { FastifyInstance } from 'fastify';
import {
  EVENT_PROBLEMS,
  fromStore,
  rangeOf,
  rangeQuery,
  requireEventStore,
  tenantScope,
  type EventRoutesOptions,
} from './eventRoutes.ts';
import type { RouteDoc } from './openapi.ts';
import { problemResponses } from './problem.ts';

/** A service calls few others; beyond this many edges the list says nothing a person reads. */
const MAX_EDGES = 100;

interface DependenciesQuery {
  service: string;
  from: string;
  to: string;
  tenant?: string;
}

const name = { type: 'string', minLength: 1, maxLength: 256 } as const;

/**
 * `GET /api/v1/services/dependencies`: which services a service calls and is called by, from the
 * parent and child spans of the traces the clickhouse exporter stored. The console reads it to
 * find incidents related by topology (on a caller or a callee of the incident's service).
 */
export function registerTopologyRoutes(app: FastifyInstance, opts: EventRoutesOptions): void {
  app.get<{ Querystring: DependenciesQuery }>(
    '/api/v1/services/dependencies',
    {
      config: { role: 'viewer' } satisfies RouteDoc,
      schema: {
        operationId: 'serviceDependencies',
        tags: ['events'],
        summary: "A service's callers and callees, from stored traces",
        description:
          "The calls between `service` and other services in a range (at most 31 days): a span of the callee whose parent span is the caller's, in the traces the clickhouse exporter of `api.event_store` stored (a traces pipeline must export to it). Most calls first, at most 100. A caller whose credentials name a tenant sees only that tenant's traces.",
        querystring: {
          type: 'object',
          required: ['service', 'from', 'to'],
          properties: {
            service: { ...name, description: 'The service (`service.name`).' },
            ...rangeQuery,
            tenant: { type: 'string', maxLength: 256, description: "Only this tenant's traces." },
          },
          additionalProperties: false,
        },
        response: {
          200: {
            description: 'The edges',
            type: 'object',
            required: ['service', 'edges'],
            properties: {
              service: { type: 'string' },
              edges: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['caller', 'callee', 'calls'],
                  properties: {
                    caller: { type: 'string' },
                    callee: { type: 'string' },
                    calls: { type: 'integer', minimum: 1, description: 'Child spans of the callee under the caller.' },
                  },
                  additionalProperties: false,
                },
              },
            },
            additionalProperties: false,
          },
          ...problemResponses(EVENT_PROBLEMS, 400, 401, 502, 503),
        },
      },
    },
    async (req) => {
      const q = req.query;
      const store = requireEventStore(opts);
      const range = rangeOf(q);
      const tenant = tenantScope(req, q.tenant);
      if (tenant === null) return { service: q.service, edges: [] };
      const edges = await fromStore(opts, store, () => store.serviceEdges({ ...range, tenant }, q.service, MAX_EDGES));
      return { service: q.service, edges };
    },
  );
}
