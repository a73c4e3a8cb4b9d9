import type { FastifyInstance } from 'fastify';
import type { ReplayResult } from '../connectors/correlation/replay.ts';
import type { RouteDoc } from './openapi.ts';
import { incidentSummary, incidentWithParentSchema } from './incidentView.ts';
import { ApiProblem, problemResponses } from './problem.ts';

/** The running rules, replayed as `vigil rules test` replays them (`src/service/rulesReplay.ts`). */
export interface RuleReplayer {
  ruleNames(): string[];
  /** NDJSON events through the daemon's mapping, processors and rules on a virtual clock; nothing is stored or told. */
  replay(
    ndjson: string,
    afterMs: number,
    tenant: string | undefined,
  ): Promise<ReplayResult & { path: { pipeline?: string; receiver?: string; processors: string[] } }>;
}

export interface DryRunRoutesOptions {
  /** undefined when no correlation rules are configured. */
  replayer: () => RuleReplayer | undefined;
}

const NDJSON = 'application/x-ndjson';
/** A dry run holds its events and their timeline in memory and runs on the event loop: both bounded. */
export const DRY_RUN_BODY_LIMIT = 1024 * 1024;
export const DRY_RUN_MAX_EVENTS = 10_000;

const PROBLEMS: Readonly<Record<number, string>> = {
  400: 'The request is not valid: a body that is not a JSON array or NDJSON, more than 10,000 events, an unknown rule (VIGIL_INVALID_REQUEST)',
  401: 'The authenticator refused the credentials (VIGIL_UNAUTHENTICATED)',
  403: "The caller's role does not allow this (VIGIL_FORBIDDEN)",
  413: 'The body is larger than 1 MiB (VIGIL_PAYLOAD_TOO_LARGE)',
  415: 'The body is neither JSON nor NDJSON (VIGIL_UNSUPPORTED_MEDIA_TYPE)',
  503: 'No correlation rules are configured (VIGIL_RULES_UNAVAILABLE), or Vigil is shutting down (VIGIL_SHUTTING_DOWN)',
};

const eventItem = {
  type: 'object',
  description:
    'An event as the JSON receiver takes it (`time`, `asset`, `type`, `severity`, `title`, `attributes`…), optionally with `arrival` (when it reached Vigil); or a metric point (`metric`, `value`, `time`).',
  additionalProperties: true,
} as const;

const changeSchema = {
  type: 'object',
  required: ['time', 'kind', 'notify', 'held', 'reason', 'event_ids', 'incident'],
  properties: {
    time: { type: 'string', format: 'date-time', description: 'On the virtual clock.' },
    kind: { type: 'string' },
    notify: { type: 'boolean', description: 'Whether the ticket and chat exporters would be told.' },
    held: { type: 'boolean', description: 'A resolution held back while the incident may still reopen.' },
    reason: { type: 'string' },
    event_ids: { type: 'array', items: { type: 'string' } },
    incident: incidentWithParentSchema,
  },
  additionalProperties: false,
} as const;

const count = { type: 'integer', minimum: 0 } as const;

const resultSchema = {
  type: 'object',
  required: ['changes', 'stats', 'rejected', 'pipeline'],
  properties: {
    changes: { type: 'array', items: changeSchema, description: 'The incident timeline, in order.' },
    stats: {
      type: 'object',
      required: ['events', 'points', 'late', 'future', 'dropped', 'ignored'],
      properties: {
        events: count,
        points: count,
        late: count,
        future: count,
        dropped: count,
        ignored: {
          type: 'array',
          description: 'Events a rule looked at and could do nothing with.',
          items: {
            type: 'object',
            required: ['rule', 'reason', 'count'],
            properties: { rule: { type: 'string' }, reason: { type: 'string' }, count },
            additionalProperties: false,
          },
        },
      },
      additionalProperties: false,
    },
    rejected: {
      type: 'array',
      description: 'Events that could not be read: the line (NDJSON) or position (JSON array, from 1), and why.',
      items: {
        type: 'object',
        required: ['line', 'reason'],
        properties: { line: { type: 'integer', minimum: 1 }, reason: { type: 'string' } },
        additionalProperties: false,
      },
    },
    pipeline: {
      type: 'object',
      description: 'The logs pipeline whose JSON mapping and processors shaped the events first, if any.',
      required: ['processors'],
      properties: {
        name: { type: 'string' },
        receiver: { type: 'string' },
        processors: { type: 'array', items: { type: 'string' } },
      },
      additionalProperties: false,
    },
  },
  additionalProperties: false,
} as const;

interface DryRunQuery {
  rule?: string;
  after_seconds: number;
}

function invalid(path: string, message: string): ApiProblem {
  return new ApiProblem('VIGIL_INVALID_REQUEST', `${path.split('/')[1] ?? path} ${message}`, [{ path, message }]);
}

/** The body as NDJSON: a JSON array's items one per line, so line numbers are positions. */
function ndjsonOf(body: unknown): string {
  if (typeof body === 'string') {
    const lines = body.split('\n').filter((l) => l.trim() !== '').length;
    if (lines > DRY_RUN_MAX_EVENTS) throw invalid('body', `has ${lines} lines; at most ${DRY_RUN_MAX_EVENTS}`);
    return body.replace(/^\ufeff/, '');
  }
  return (body as unknown[]).map((e) => JSON.stringify(e)).join('\n');
}

/** `POST /api/v1/rules/dry-run`: the incident timeline the running rules would make of some events, as `vigil rules test` shows it. */
export function registerDryRunRoutes(app: FastifyInstance, opts: DryRunRoutesOptions): void {
  app.addContentTypeParser(NDJSON, { parseAs: 'string', bodyLimit: DRY_RUN_BODY_LIMIT }, (_req, body, done) =>
    done(null, body),
  );
  app.post<{ Querystring: DryRunQuery; Body: unknown }>(
    '/api/v1/rules/dry-run',
    {
      bodyLimit: DRY_RUN_BODY_LIMIT,
      config: { role: 'operator' } satisfies RouteDoc,
      schema: {
        operationId: 'dryRunRules',
        tags: ['rules'],
        summary: 'Replay events through the rules',
        description:
          "Runs the events through the running configuration's rules as `vigil rules test` does: the logs pipeline's JSON mapping and processors first, then the rules on a virtual clock that jumps to each event's arrival and runs on for `after_seconds`. Nothing is stored, notified or kept: the rules start from empty state. A caller whose credentials name a tenant has every event stamped with it.",
        querystring: {
          type: 'object',
          properties: {
            rule: {
              type: 'string',
              minLength: 1,
              maxLength: 2000,
              description:
                "Rule names, comma-separated: only their incidents' changes are answered (every rule still runs, so inhibitions and parents hold).",
            },
            after_seconds: {
              type: 'integer',
              minimum: 0,
              maximum: 7 * 86_400,
              default: 600,
              description: 'How long the clock runs on after the last event, so deadlines and timers play out.',
            },
          },
          additionalProperties: false,
        },
        body: {
          content: {
            'application/json': {
              schema: { type: 'array', items: eventItem, maxItems: DRY_RUN_MAX_EVENTS },
            },
            [NDJSON]: { schema: { type: 'string', description: 'One event per line.' } },
          },
        },
        response: {
          200: { ...resultSchema, description: 'The timeline' },
          ...problemResponses(PROBLEMS, 400, 401, 403, 413, 415, 503),
        },
      },
    },
    async (req) => {
      // Fastify also parses text/plain; only the two declared types are events.
      const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (type !== 'application/json' && type !== NDJSON)
        throw new ApiProblem(
          'VIGIL_UNSUPPORTED_MEDIA_TYPE',
          `the events must be application/json (an array) or ${NDJSON} (one per line), not ${type || 'untyped'}`,
        );
      const replayer = opts.replayer();
      if (!replayer)
        throw new ApiProblem(
          'VIGIL_RULES_UNAVAILABLE',
          'no correlation rules are configured in this Vigil; add a correlation: section',
        );
      const names = req.query.rule?.split(',').filter(Boolean);
      const known = new Set(replayer.ruleNames());
      const unknown = names?.filter((n) => !known.has(n)) ?? [];
      if (unknown.length)
        throw invalid(
          'querystring/rule',
          `names no rule ${unknown.join(', ')}; the rules are ${[...known].join(', ') || 'none'}`,
        );
      const only = names && new Set(names);
      const result = await replayer.replay(ndjsonOf(req.body), req.query.after_seconds * 1000, req.principal.tenant);
      const s = result.stats;
      return {
        changes: result.changes
          .filter((c) => !only || only.has(c.incident.rule))
          .map((c) => ({
            time: new Date(c.atMs).toISOString(),
            kind: c.kind,
            notify: c.notify,
            held: c.held === true,
            reason: c.reason,
            event_ids: c.eventIds,
            incident: { ...incidentSummary(c.incident), parent: result.parentOf(c.incident.key) },
          })),
        stats: {
          events: s.events,
          points: s.points,
          late: s.late,
          future: s.future,
          dropped: s.dropped,
          ignored: [...s.ignored].flatMap(([rule, byReason]) =>
            [...byReason].map(([reason, n]) => ({ rule, reason, count: n })),
          ),
        },
        rejected: result.rejected,
        pipeline: {
          ...(result.path.pipeline ? { name: result.path.pipeline } : {}),
          ...(result.path.receiver ? { receiver: result.path.receiver } : {}),
          processors: result.path.processors,
        },
      };
    },
  );
}
