import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ActionOutcome, ActionRefusal, IncidentAction, IncidentDesk } from '../correlation/incidentActions.ts';
import type { Incident, IncidentStatus } from '../model/incident.ts';
import { severityFromText } from '../model/severity.ts';
import type { TicketLink } from '../pipeline/component.ts';
import { visibleTo } from './auth.ts';
import {
  decodeCursor,
  encodeCursor,
  IncidentIndex,
  pageOfIncidents,
  SORTS,
  type IncidentQuery,
  type Sort,
} from './incidentQuery.ts';
import { incidentDetail, incidentDetailSchema, incidentListItem, incidentListItemSchema } from './incidentView.ts';
import type { RouteDoc } from './openapi.ts';
import { ApiProblem, problemSchema, type ProblemCode } from './problem.ts';

export interface IncidentRoutesOptions {
  /** The correlation runtime's incidents; undefined when no correlation runs (then there are none). */
  desk: () => IncidentDesk | undefined;
  /** The tickets exporters made for an incident. */
  ticketsOf: (incident: Incident) => Promise<TicketLink[]>;
}

const MAX_PAGE = 1000;
const STATES: IncidentStatus[] = ['open', 'acknowledged', 'resolved'];
const SEVERITIES = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

const problems = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [s, { ...problemSchema, description: PROBLEM_DESCRIPTIONS[s] }]));
const PROBLEM_DESCRIPTIONS: Record<number, string> = {
  400: 'The request is not valid (VIGIL_INVALID_REQUEST, VIGIL_INVALID_CURSOR)',
  401: 'The authenticator refused the credentials (VIGIL_UNAUTHENTICATED)',
  403: "The caller's role does not allow this (VIGIL_FORBIDDEN)",
  404: "No such incident, or not the caller's tenant's (VIGIL_INCIDENT_NOT_FOUND)",
  409: "The incident's state forbids the action (VIGIL_INCIDENT_RESOLVED, VIGIL_INCIDENT_NOT_RESOLVED, VIGIL_INCIDENT_ALREADY_ACKNOWLEDGED)",
  413: 'The body is larger than 64 KiB (VIGIL_PAYLOAD_TOO_LARGE)',
  415: 'The body is not JSON (VIGIL_UNSUPPORTED_MEDIA_TYPE)',
  503: 'Vigil is shutting down (VIGIL_SHUTTING_DOWN), or, for an action, the agent holding the incident did not answer in time (VIGIL_INCIDENT_UNAVAILABLE)',
};

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 128, description: 'The incident id.' } },
  additionalProperties: false,
} as const;

const listQuery = {
  type: 'object',
  properties: {
    state: {
      type: 'string',
      pattern: `^(${STATES.join('|')})(,(${STATES.join('|')}))*$`,
      description: 'Statuses, comma-separated: `open,acknowledged`.',
    },
    severity: { type: 'string', enum: SEVERITIES, description: 'At least this severity.' },
    rule: { type: 'string', minLength: 1, maxLength: 512, description: 'Rule names, comma-separated.' },
    label: {
      type: 'array',
      items: { type: 'string', pattern: '^[^=]+=.*$', maxLength: 512 },
      maxItems: 20,
      description: 'A group label `name=value`; repeat for several (all must hold).',
    },
    tenant: {
      type: 'string',
      maxLength: 256,
      description: "Only this tenant's (a caller whose credentials name a tenant sees only that one's anyway).",
    },
    assignee: {
      type: 'string',
      maxLength: 256,
      description: 'Only incidents assigned to this person; empty for unassigned ones.',
    },
    asset: {
      type: 'string',
      maxLength: 256,
      description: 'Only incidents on this asset (exactly); empty for those on none.',
    },
    service: {
      type: 'string',
      maxLength: 256,
      description: 'Only incidents of this service (exactly); empty for those of none.',
    },
    parent: {
      type: 'string',
      maxLength: 256,
      description:
        "Only incidents whose asset's parent in the topology is this one (exactly): the incidents of its children. Empty for those with no known parent.",
    },
    since: { type: 'string', format: 'date-time', description: 'Only incidents still open at or after this time.' },
    until: { type: 'string', format: 'date-time', description: 'Only incidents opened at or before this time.' },
    q: {
      type: 'string',
      minLength: 1,
      maxLength: 200,
      description: 'Text found (ignoring case) in the title, key, id, asset or service.',
    },
    sort: {
      type: 'string',
      enum: SORTS,
      default: '-opened_at',
      description: 'Order; `-` for descending. Ties go by id.',
    },
    limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE, default: 100, description: 'Incidents per page.' },
    cursor: {
      type: 'string',
      minLength: 1,
      maxLength: 1000,
      description: '`next_cursor` of the previous page, to read the next one (with the same filters and sort).',
    },
  },
  additionalProperties: false,
} as const;

interface ListQuery {
  state?: string;
  severity?: string;
  rule?: string;
  label?: string[];
  tenant?: string;
  assignee?: string;
  asset?: string;
  service?: string;
  parent?: string;
  since?: string;
  until?: string;
  q?: string;
  sort: Sort;
  limit: number;
  cursor?: string;
}

const reasonBody = (what: string) =>
  ({
    type: 'object',
    properties: {
      reason: {
        type: 'string',
        maxLength: 2000,
        description: `Why ${what}; kept in the audit trail and told to the ticket.`,
      },
    },
    additionalProperties: false,
  }) as const;

const detailAnswer = { ...incidentDetailSchema, description: 'The incident as it now stands' };

/** A refusal of the core, as the API answers it: the same code for the same reason, always. */
const REFUSALS: Record<ActionRefusal, ProblemCode> = {
  not_found: 'VIGIL_INCIDENT_NOT_FOUND',
  resolved: 'VIGIL_INCIDENT_RESOLVED',
  not_resolved: 'VIGIL_INCIDENT_NOT_RESOLVED',
  already_acknowledged: 'VIGIL_INCIDENT_ALREADY_ACKNOWLEDGED',
  unavailable: 'VIGIL_INCIDENT_UNAVAILABLE',
};

function parseTime(text: string | undefined, name: string): number | undefined {
  if (text === undefined) return undefined;
  const ms = Date.parse(text);
  if (!Number.isFinite(ms))
    throw new ApiProblem(
      'VIGIL_INVALID_REQUEST',
      `${name} must be an RFC 3339 date-time such as 2026-01-31T12:00:00Z`,
      [{ path: `querystring/${name}`, message: 'must be a date-time' }],
    );
  return ms;
}

function queryOf(q: ListQuery): IncidentQuery {
  const csv = (s: string | undefined) => (s === undefined ? undefined : new Set(s.split(',').filter(Boolean)));
  return {
    states: csv(q.state) as Set<IncidentStatus> | undefined,
    minSeverity: q.severity === undefined ? undefined : severityFromText(q.severity),
    rules: csv(q.rule),
    labels: q.label?.map((l) => {
      const eq = l.indexOf('=');
      return [l.slice(0, eq), l.slice(eq + 1)] as const;
    }),
    tenant: q.tenant,
    assignee: q.assignee,
    asset: q.asset,
    service: q.service,
    parent: q.parent,
    sinceMs: parseTime(q.since, 'since'),
    untilMs: parseTime(q.until, 'until'),
    text: q.q?.toLowerCase(),
    sort: q.sort,
    limit: q.limit,
    after: q.cursor === undefined ? undefined : decodeCursor(q.cursor, q.sort),
  };
}

const notFound = (id: string) => new ApiProblem('VIGIL_INCIDENT_NOT_FOUND', `no incident has id ${id}`);

/** `/api/v1/incidents…`: list, read, and a person's actions, each through the correlation core. */
export function registerIncidentRoutes(app: FastifyInstance, opts: IncidentRoutesOptions): void {
  /** The incident, if the caller may see it: another tenant's is as absent as one that never was, so ids leak nothing. */
  const visible = (req: FastifyRequest, id: string): Incident => {
    const inc = opts.desk()?.incident(id);
    if (!inc || !visibleTo(req.principal, inc.tenant)) throw notFound(id);
    return inc;
  };
  const parentOf = (key: string) => opts.desk()?.parentOf?.(key) ?? '';
  const detail = async (inc: Incident) =>
    incidentDetail(
      inc,
      parentOf(inc.key),
      await opts.ticketsOf(inc),
      opts
        .desk()
        ?.rules?.()
        .find((r) => r.name === inc.rule),
    );
  const act = async (req: FastifyRequest<{ Params: { id: string } }>, action: IncidentAction) => {
    const id = req.params.id;
    visible(req, id);
    const outcome: ActionOutcome = await opts.desk()!.act(id, req.principal.subject, action);
    if (!outcome.ok) throw new ApiProblem(REFUSALS[outcome.refusal], outcome.message);
    return detail(outcome.incident);
  };
  const viewer: RouteDoc = { role: 'viewer' };
  const operator: RouteDoc = { role: 'operator', optionalBody: true };
  let index: IncidentIndex | undefined;

  app.get<{ Querystring: ListQuery }>(
    '/api/v1/incidents',
    {
      config: viewer,
      schema: {
        operationId: 'listIncidents',
        tags: ['incidents'],
        summary: 'List incidents',
        description:
          'The incidents Vigil holds (open ones, and resolved ones for a day after their resolution), filtered, sorted and paged by cursor, each with its tickets.',
        querystring: listQuery,
        response: {
          200: {
            description: 'One page of incidents',
            type: 'object',
            required: ['items', 'next_cursor'],
            properties: {
              items: { type: 'array', items: incidentListItemSchema },
              next_cursor: {
                type: ['string', 'null'],
                description: 'Pass as `cursor` for the next page; null on the last.',
              },
            },
            additionalProperties: false,
          },
          ...problems(400, 401, 403),
        },
      },
    },
    async (req) => {
      const query = queryOf(req.query);
      const desk = opts.desk();
      if (!desk) return { items: [], next_cursor: null };
      // Kept in order as incidents change, so a page does not scan them all; a desk that cannot
      // say what changed is scanned.
      const page = desk.watchIncidents
        ? (index ??= new IncidentIndex({
            incidents: () => desk.incidents(),
            watchIncidents: desk.watchIncidents.bind(desk),
          })).page(query, req.principal.tenant, parentOf)
        : pageOfIncidents(desk.incidents(), query, req.principal.tenant, parentOf);
      // Scanned as stored; the page's few incidents are shown as they stand, with their tickets.
      const items = await Promise.all(
        page.items.map(async (stored) => {
          const i = desk.current(stored.key) ?? stored;
          return incidentListItem(i, parentOf(i.key), await opts.ticketsOf(i));
        }),
      );
      return {
        items,
        next_cursor: page.next ? encodeCursor(page.next) : null,
      };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/v1/incidents/:id',
    {
      config: viewer,
      schema: {
        operationId: 'getIncident',
        tags: ['incidents'],
        summary: 'Get one incident',
        description: 'With its audit trail, a sample of its event ids and its tickets.',
        params: idParams,
        response: { 200: { ...incidentDetailSchema, description: 'The incident' }, ...problems(400, 401, 403, 404) },
      },
    },
    async (req) => detail(visible(req, req.params.id)),
  );

  const actionRoute = (
    path: string,
    operationId: string,
    summary: string,
    description: string,
    toAction: (body: Record<string, string | null | undefined>) => IncidentAction,
    body: { type: 'object'; required?: readonly string[]; properties: object; additionalProperties: false },
  ) =>
    app.post<{ Params: { id: string }; Body: Record<string, string | null | undefined> }>(
      `/api/v1/incidents/:id/${path}`,
      {
        config: body.required ? { role: 'operator' } : operator,
        schema: {
          operationId,
          tags: ['incidents'],
          summary,
          description,
          params: idParams,
          body,
          response: { 200: detailAnswer, ...problems(400, 401, 403, 404, 409, 413, 415, 503) },
        },
      },
      async (req) => act(req, toAction(req.body)),
    );

  actionRoute(
    'acknowledge',
    'acknowledgeIncident',
    'Acknowledge an incident',
    'Someone works on it: its status becomes `acknowledged`, its tickets get a follow-up, and repeat_interval reminders stop. Events still attach to it and its rule still resolves it. 409 when it is resolved or acknowledged already.',
    (b) => ({ kind: 'acknowledge', reason: b.reason ?? '' }),
    reasonBody('it is acknowledged'),
  );
  actionRoute(
    'resolve',
    'resolveIncident',
    'Resolve an incident by hand',
    "Resolved now, told at once (its tickets are solved); a matching event within the rule's reopen_window reopens it. 409 when it is resolved already.",
    (b) => ({ kind: 'resolve', reason: b.reason ?? '' }),
    reasonBody('it is resolved'),
  );
  actionRoute(
    'reopen',
    'reopenIncident',
    'Reopen a resolved incident',
    'Open again under the same id; its rule resolves it again when its own condition holds. 409 when it is not resolved.',
    (b) => ({ kind: 'reopen', reason: b.reason ?? '' }),
    reasonBody('it is reopened'),
  );
  actionRoute(
    'comments',
    'commentIncident',
    'Comment on an incident',
    'Kept in the audit trail and added to its tickets; allowed on resolved incidents too (a post-mortem note).',
    (b) => ({ kind: 'comment', text: b.text ?? '' }),
    {
      type: 'object',
      required: ['text'],
      properties: { text: { type: 'string', minLength: 1, maxLength: 10_000, description: 'The comment.' } },
      additionalProperties: false,
    },
  );

  app.put<{ Params: { id: string }; Body: { assignee: string | null; reason?: string } }>(
    '/api/v1/incidents/:id/assignee',
    {
      config: { role: 'operator' } satisfies RouteDoc,
      schema: {
        operationId: 'assignIncident',
        tags: ['incidents'],
        summary: 'Assign an incident',
        description: 'Sets who works on it (null or empty: nobody); told to its tickets. 409 when it is resolved.',
        params: idParams,
        body: {
          type: 'object',
          required: ['assignee'],
          properties: {
            assignee: { type: ['string', 'null'], maxLength: 200, description: 'Who works on it; null for nobody.' },
            reason: reasonBody('it is assigned').properties.reason,
          },
          additionalProperties: false,
        },
        response: { 200: detailAnswer, ...problems(400, 401, 403, 404, 409, 413, 415, 503) },
      },
    },
    async (req) => act(req, { kind: 'assign', assignee: req.body.assignee ?? '', reason: req.body.reason ?? '' }),
  );
}
