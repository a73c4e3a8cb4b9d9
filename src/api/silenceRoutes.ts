import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { IncidentDesk } from '../correlation/incidentActions.ts';
import { parseMatcher, type LabelMatcher } from '../correlation/labelMatchers.ts';
import {
  admitSilence,
  expiredNow,
  silenceMatchesFilter,
  silenceState,
  type SilenceMatcher,
  type SilenceRecord,
} from '../correlation/silences.ts';
import { visibleTo } from './auth.ts';
import { vigilVersion } from '../telemetry/selfMetrics.ts';
import type { RouteDoc } from './openapi.ts';
import { ApiProblem, problemSchema } from './problem.ts';

export interface SilenceRoutesOptions {
  desk: () => IncidentDesk | undefined;
}

const PROBLEM_DESCRIPTIONS: Record<number, string> = {
  400: 'The request is not valid (VIGIL_INVALID_REQUEST)',
  401: 'The authenticator refused the credentials (VIGIL_UNAUTHENTICATED)',
  403: "The caller's role does not allow this (VIGIL_FORBIDDEN)",
  404: "No such silence, or not the caller's tenant's (VIGIL_SILENCE_NOT_FOUND)",
  413: 'The body is larger than 64 KiB (VIGIL_PAYLOAD_TOO_LARGE)',
  415: 'The body is not JSON (VIGIL_UNSUPPORTED_MEDIA_TYPE)',
  503: 'No correlation runs, so there is nothing to silence (VIGIL_SILENCES_UNAVAILABLE), or Vigil is shutting down (VIGIL_SHUTTING_DOWN)',
};
const problems = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [s, { ...problemSchema, description: PROBLEM_DESCRIPTIONS[s] }]));

// The schemas of Alertmanager's API v2 (api/v2/openapi.yaml), which amtool and other clients speak.
export const matcherSchema = {
  type: 'object',
  required: ['name', 'value', 'isRegex'],
  properties: {
    name: {
      type: 'string',
      minLength: 1,
      maxLength: 200,
      description: 'An incident field (`rule`, `severity`, `service`, `asset`, `tenant`) or group label.',
    },
    value: { type: 'string', maxLength: 1000 },
    isRegex: { type: 'boolean', description: 'A regular expression matching the whole value.' },
    isEqual: { type: 'boolean', default: true, description: 'false negates (`!=`, `!~`).' },
  },
  additionalProperties: false,
} as const;

const silenceFields = {
  matchers: { type: 'array', items: matcherSchema, minItems: 1, maxItems: 50 },
  startsAt: { type: 'string', format: 'date-time' },
  endsAt: { type: 'string', format: 'date-time' },
  createdBy: { type: 'string', maxLength: 200 },
  comment: { type: 'string', maxLength: 10_000 },
} as const;

const gettableSilence = {
  type: 'object',
  required: ['id', 'status', 'updatedAt', 'matchers', 'startsAt', 'endsAt', 'createdBy', 'comment'],
  properties: {
    id: { type: 'string' },
    status: {
      type: 'object',
      required: ['state'],
      properties: { state: { type: 'string', enum: ['active', 'pending', 'expired'] } },
      additionalProperties: false,
    },
    updatedAt: { type: 'string', format: 'date-time' },
    ...silenceFields,
    matchers: { type: 'array', items: { ...matcherSchema, required: ['name', 'value', 'isRegex', 'isEqual'] } },
  },
  additionalProperties: false,
} as const;

const postableSilence = {
  type: 'object',
  required: ['matchers', 'startsAt', 'endsAt', 'createdBy', 'comment'],
  properties: {
    id: { type: 'string', minLength: 1, maxLength: 128, description: 'The silence to change; absent to create one.' },
    ...silenceFields,
  },
  additionalProperties: false,
} as const;

const silenceIdParams = {
  type: 'object',
  required: ['silenceID'],
  properties: { silenceID: { type: 'string', minLength: 1, maxLength: 128, description: 'The silence id.' } },
  additionalProperties: false,
} as const;

interface PostableSilence {
  id?: string;
  matchers: { name: string; value: string; isRegex: boolean; isEqual: boolean }[];
  startsAt: string;
  endsAt: string;
  createdBy: string;
  comment: string;
}

const iso = (ms: number) => new Date(ms).toISOString();

function gettable(s: SilenceRecord, nowMs: number) {
  return {
    id: s.id,
    status: { state: silenceState(s, nowMs) },
    updatedAt: iso(s.updatedAtMs),
    matchers: s.matchers,
    startsAt: iso(s.startsAtMs),
    endsAt: iso(s.endsAtMs),
    createdBy: s.createdBy,
    comment: s.comment,
  };
}

/** A `filter` matcher: `name="value"` as Alertmanager writes it, or unquoted as amtool users type it. */
function filterMatcher(text: string): LabelMatcher {
  let m = parseMatcher(text);
  if (typeof m === 'string') {
    const bare = /^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$/.exec(text);
    if (bare) m = parseMatcher(`${bare[1]}${bare[2]}${JSON.stringify(bare[3])}`);
  }
  if (typeof m === 'string')
    throw new ApiProblem('VIGIL_INVALID_REQUEST', `filter ${m}`, [{ path: 'querystring/filter', message: m }]);
  return m;
}

function timeOf(text: string, name: string): number {
  const ms = Date.parse(text);
  if (!Number.isFinite(ms))
    throw new ApiProblem('VIGIL_INVALID_REQUEST', `${name} must be an RFC 3339 date-time`, [
      { path: `body/${name}`, message: 'must be a date-time' },
    ]);
  return ms;
}

/** The core that applies silences, or the problem saying none runs. */
export function silencingDesk(desk: () => IncidentDesk | undefined): IncidentDesk {
  const d = desk();
  if (!d)
    throw new ApiProblem(
      'VIGIL_SILENCES_UNAVAILABLE',
      'no correlation runs in this Vigil, so there are no incidents to silence; configure the correlation connector',
    );
  return d;
}

/**
 * Alertmanager's API v2 silence endpoints (`/api/v2/silences`, `/api/v2/silence/{silenceID}`,
 * `/api/v2/status`), so that amtool and Alertmanager clients silence Vigil's incidents. A
 * silence belongs to the caller's tenant: another tenant's is as absent as one that never was.
 */
export function registerSilenceRoutes(app: FastifyInstance, opts: SilenceRoutesOptions): void {
  const notFound = (id: string) => new ApiProblem('VIGIL_SILENCE_NOT_FOUND', `no silence has id ${id}`);
  const visible = (req: FastifyRequest, id: string): SilenceRecord | undefined => {
    const s = opts.desk()?.silence(id);
    // Maintenance windows are silences too, but Alertmanager's clients know no recurrence.
    return s && !s.recurrence && visibleTo(req.principal, s.tenant) ? s : undefined;
  };
  const deskFor = () => silencingDesk(opts.desk);
  const tags = ['silences'];

  app.get<{ Querystring: { filter?: string[] } }>(
    '/api/v2/silences',
    {
      config: { role: 'viewer' } satisfies RouteDoc,
      schema: {
        operationId: 'getSilences',
        tags,
        summary: 'List silences (Alertmanager API v2)',
        description:
          "The caller's tenant's silences, pending, active and expired ones (kept 120h after they end). `filter` keeps those whose equality matchers satisfy every filter matcher, as Alertmanager does.",
        querystring: {
          type: 'object',
          properties: {
            filter: {
              type: 'array',
              items: { type: 'string', maxLength: 100 },
              maxItems: 10,
              description: 'Matchers such as `asset="web-1"`; repeat for several.',
            },
          },
          additionalProperties: false,
        },
        response: {
          200: { description: 'The silences', type: 'array', items: gettableSilence },
          ...problems(400, 401, 403),
        },
      },
    },
    async (req) => {
      const filter = (req.query.filter ?? []).map(filterMatcher);
      const desk = opts.desk();
      if (!desk) return [];
      const nowMs = desk.nowMs();
      return desk
        .silences()
        .filter((s) => !s.recurrence && visibleTo(req.principal, s.tenant) && silenceMatchesFilter(s, filter))
        .sort((a, b) => a.startsAtMs - b.startsAtMs || (a.id < b.id ? -1 : 1))
        .map((s) => gettable(s, nowMs));
    },
  );

  app.post<{ Body: PostableSilence }>(
    '/api/v2/silences',
    {
      config: { role: 'operator' } satisfies RouteDoc,
      schema: {
        operationId: 'postSilences',
        tags,
        summary: 'Create or change a silence (Alertmanager API v2)',
        description:
          'Without `id`, creates a silence; with one, changes it (an expired silence is not changed: a new one is made, with a new id). A start in the past starts now; the end must be in the future; at least one matcher must not match the empty value. Incidents it matches are suppressed (`suppressed_by: silence:<id>`) and not notified while it is active; when it ends, those still open are notified.',
        body: postableSilence,
        response: {
          200: {
            description: "The silence's id",
            type: 'object',
            required: ['silenceID'],
            properties: { silenceID: { type: 'string' } },
            additionalProperties: false,
          },
          ...problems(400, 401, 403, 404, 413, 415, 503),
        },
      },
    },
    async (req) => {
      const desk = deskFor();
      const b = req.body;
      const matchers: SilenceMatcher[] = b.matchers.map((m) => ({
        name: m.name,
        value: m.value,
        isRegex: m.isRegex,
        isEqual: m.isEqual,
      }));
      const draft = {
        id: b.id,
        matchers,
        startsAtMs: timeOf(b.startsAt, 'startsAt'),
        endsAtMs: timeOf(b.endsAt, 'endsAt'),
        createdBy: b.createdBy,
        comment: b.comment,
      };
      const existing = b.id === undefined ? undefined : visible(req, b.id);
      const admitted = admitSilence(
        draft,
        existing,
        req.principal.tenant ?? existing?.tenant ?? '',
        desk.nowMs(),
        randomUUID,
      );
      if (!admitted.ok)
        throw admitted.refusal === 'not_found'
          ? notFound(b.id!)
          : new ApiProblem('VIGIL_INVALID_REQUEST', admitted.message, [
              { path: 'body/matchers', message: admitted.message },
            ]);
      await desk.putSilence(admitted.silence);
      return { silenceID: admitted.silence.id };
    },
  );

  app.get<{ Params: { silenceID: string } }>(
    '/api/v2/silence/:silenceID',
    {
      config: { role: 'viewer' } satisfies RouteDoc,
      schema: {
        operationId: 'getSilence',
        tags,
        summary: 'Get one silence (Alertmanager API v2)',
        params: silenceIdParams,
        response: { 200: { ...gettableSilence, description: 'The silence' }, ...problems(400, 401, 403, 404) },
      },
    },
    async (req) => {
      const s = visible(req, req.params.silenceID);
      if (!s) throw notFound(req.params.silenceID);
      return gettable(s, opts.desk()!.nowMs());
    },
  );

  app.delete<{ Params: { silenceID: string } }>(
    '/api/v2/silence/:silenceID',
    {
      config: { role: 'operator' } satisfies RouteDoc,
      schema: {
        operationId: 'deleteSilence',
        tags,
        summary: 'Expire a silence (Alertmanager API v2)',
        description:
          'Ends it now (a pending one never starts); the incidents it suppressed that are still open are notified. Expiring an expired silence changes nothing.',
        params: silenceIdParams,
        response: {
          200: { description: 'Expired', type: 'object', additionalProperties: false },
          ...problems(400, 401, 403, 404, 503),
        },
      },
    },
    async (req) => {
      const s = visible(req, req.params.silenceID);
      if (!s) throw notFound(req.params.silenceID);
      const desk = deskFor();
      const ended = expiredNow(s, desk.nowMs());
      if (ended !== s) await desk.putSilence(ended);
      return {};
    },
  );

  const startedAtMs = Date.now();
  const str = { type: 'string' } as const;
  app.get(
    '/api/v2/status',
    {
      config: { role: 'viewer' } satisfies RouteDoc,
      schema: {
        operationId: 'getStatus',
        tags,
        summary: 'Status (Alertmanager API v2)',
        description:
          "Enough of Alertmanager's status for its clients: Vigil's version, no cluster (`disabled`), no Alertmanager configuration.",
        response: {
          200: {
            description: 'The status',
            type: 'object',
            required: ['cluster', 'versionInfo', 'config', 'uptime'],
            properties: {
              cluster: {
                type: 'object',
                required: ['status'],
                properties: {
                  name: str,
                  status: { type: 'string', enum: ['ready', 'settling', 'disabled'] },
                  peers: { type: 'array', items: { type: 'object' } },
                },
                additionalProperties: false,
              },
              versionInfo: {
                type: 'object',
                required: ['branch', 'buildDate', 'buildUser', 'goVersion', 'revision', 'version'],
                properties: {
                  branch: str,
                  buildDate: str,
                  buildUser: str,
                  goVersion: str,
                  revision: str,
                  version: str,
                },
                additionalProperties: false,
              },
              config: {
                type: 'object',
                required: ['original'],
                properties: { original: str },
                additionalProperties: false,
              },
              uptime: { type: 'string', format: 'date-time' },
            },
            additionalProperties: false,
          },
          ...problems(401, 403),
        },
      },
    },
    async () => ({
      cluster: { status: 'disabled', peers: [] },
      versionInfo: {
        branch: '',
        buildDate: '',
        buildUser: '',
        goVersion: process.version,
        revision: '',
        version: vigilVersion,
      },
      config: { original: '' },
      uptime: iso(startedAtMs),
    }),
  );
}
