import type { FastifyInstance } from 'fastify';
import type { IncidentDesk } from '../correlation/incidentActions.ts';
import type { RouteDoc } from './openapi.ts';
import { problemResponses } from './problem.ts';
import { ruleDefinition, ruleDefinitionSchema } from './ruleView.ts';

export interface RuleRoutesOptions {
  /** The correlation runtime; undefined when no correlation runs (then there are no rules). */
  desk: () => IncidentDesk | undefined;
}

const PROBLEMS: Readonly<Record<number, string>> = {
  401: 'The authenticator refused the credentials (VIGIL_UNAUTHENTICATED)',
  403: "The caller's role does not allow this (VIGIL_FORBIDDEN)",
};

/** `GET /api/v1/rules`: the running correlation rules, read-only, so a script or the console can say why an incident opened. */
export function registerRuleRoutes(app: FastifyInstance, opts: RuleRoutesOptions): void {
  app.get(
    '/api/v1/rules',
    {
      config: { role: 'viewer' } satisfies RouteDoc,
      schema: {
        operationId: 'listRules',
        tags: ['rules'],
        summary: 'List the correlation rules',
        description:
          'The rules running now (after the latest reload), in config order, each as configured: its kind, condition, group_by and the parameters of its kind, durations as the config spells them. Rules are the same for every tenant.',
        response: {
          200: {
            description: 'The rules',
            type: 'object',
            required: ['items'],
            properties: { items: { type: 'array', items: ruleDefinitionSchema } },
            additionalProperties: false,
          },
          ...problemResponses(PROBLEMS, 401, 403),
        },
      },
    },
    async () => ({ items: (opts.desk()?.rules?.() ?? []).map(ruleDefinition) }),
  );
}
