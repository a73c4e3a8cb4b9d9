import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { IncidentDesk } from '../correlation/incidentActions.ts';
import { currentOrNextWindow, recurrenceActive, WEEKDAYS } from '../correlation/recurrence.ts';
import {
  admitSilence,
  compileRecurrence,
  expiredNow,
  silenceState,
  type SilenceMatcher,
  type SilenceRecord,
  type StoredRecurrence,
} from '../correlation/silences.ts';
import { visibleTo } from './auth.ts';
import type { RouteDoc } from './openapi.ts';
import { ApiProblem, problemResponses } from './problem.ts';
import { matcherSchema, silencingDesk } from './silenceRoutes.ts';

export interface MaintenanceRoutesOptions {
  desk: () => IncidentDesk | undefined;
}

/** A window without `ends_at` recurs until it is expired: stored as ending at the last instant a Date holds. */
const FOREVER_MS = 8.64e15 - 200 * 86_400_000;

const PROBLEMS: Readonly<Record<number, string>> = {
  400: 'The request is not valid: a matcher, time zone, day or range that cannot be (VIGIL_INVALID_REQUEST)',
  401: 'The authenticator refused the credentials (VIGIL_UNAUTHENTICATED)',
  403: "The caller's role does not allow this (VIGIL_FORBIDDEN)",
  404: "No such maintenance window, or not the caller's tenant's (VIGIL_MAINTENANCE_NOT_FOUND)",
  413: 'The body is larger than 64 KiB (VIGIL_PAYLOAD_TOO_LARGE)',
  415: 'The body is not JSON (VIGIL_UNSUPPORTED_MEDIA_TYPE)',
  503: 'No correlation runs, so there is nothing to silence (VIGIL_SILENCES_UNAVAILABLE), or Vigil is shutting down (VIGIL_SHUTTING_DOWN)',
};

const timeOfDay = { type: 'string', pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$' } as const;
const nullableTime = { type: ['string', 'null'], format: 'date-time' } as const;

const recurrenceFields = {
  matchers: { type: 'array', items: matcherSchema, minItems: 1, maxItems: 50 },
  days: {
    type: 'array',
    items: { type: 'string', enum: WEEKDAYS },
    minItems: 1,
    maxItems: 7,
    uniqueItems: true,
    description: 'The local days a window starts on.',
  },
  start: { ...timeOfDay, description: 'Local time of day a window starts, `HH:MM`.' },
  end: {
    ...timeOfDay,
    description: 'Local time of day it ends, `HH:MM`; not after `start`: the next day (equal: 24 hours).',
  },
  timezone: { type: 'string', minLength: 1, maxLength: 64, description: 'IANA time zone, e.g. `Europe/Paris`.' },
  created_by: { type: 'string', maxLength: 200 },
  comment: { type: 'string', maxLength: 10_000 },
} as const;

const windowSchema = {
  type: 'object',
  required: [
    'id',
    'matchers',
    'days',
    'start',
    'end',
    'timezone',
    'starts_at',
    'ends_at',
    'created_by',
    'comment',
    'status',
    'in_window',
    'next',
    'updated_at',
  ],
  properties: {
    id: { type: 'string' },
    ...recurrenceFields,
    matchers: {
      type: 'array',
      items: { ...matcherSchema, required: ['name', 'value', 'isRegex', 'isEqual'] },
    },
    starts_at: { type: 'string', format: 'date-time', description: 'From when it recurs.' },
    ends_at: { ...nullableTime, description: 'Until when it recurs; null: until expired.' },
    status: {
      type: 'string',
      enum: ['pending', 'active', 'expired'],
      description: 'Whether it recurs yet, now, or no longer.',
    },
    in_window: {
      type: 'boolean',
      description: 'Whether one of its windows is on now (matching incidents suppressed).',
    },
    next: {
      type: ['object', 'null'],
      description: 'The window on now, or the next one to start (within a week and its range); null when none.',
      required: ['starts_at', 'ends_at'],
      properties: {
        starts_at: { type: 'string', format: 'date-time' },
        ends_at: { type: 'string', format: 'date-time' },
      },
      additionalProperties: false,
    },
    updated_at: { type: 'string', format: 'date-time' },
  },
  additionalProperties: false,
} as const;

interface PostableWindow {
  matchers: { name: string; value: string; isRegex: boolean; isEqual: boolean }[];
  days: string[];
  start: string;
  end: string;
  timezone: string;
  starts_at?: string;
  ends_at?: string;
  created_by?: string;
  comment?: string;
}

const iso = (ms: number) => new Date(ms).toISOString();

function windowView(s: SilenceRecord & { recurrence: StoredRecurrence }, nowMs: number) {
  const compiled = compileRecurrence(s.recurrence);
  const state = silenceState(s, nowMs);
  const on = state === 'active' && typeof compiled !== 'string' && recurrenceActive(compiled, nowMs);
  const next =
    state === 'expired' || typeof compiled === 'string'
      ? undefined
      : currentOrNextWindow(compiled, Math.max(nowMs, s.startsAtMs));
  return {
    id: s.id,
    matchers: s.matchers,
    ...s.recurrence,
    starts_at: iso(s.startsAtMs),
    ends_at: s.endsAtMs >= FOREVER_MS ? null : iso(s.endsAtMs),
    created_by: s.createdBy,
    comment: s.comment,
    status: state,
    in_window: on,
    next:
      next && next.startMs < s.endsAtMs
        ? { starts_at: iso(next.startMs), ends_at: iso(Math.min(next.endMs, s.endsAtMs)) }
        : null,
    updated_at: iso(s.updatedAtMs),
  };
}

function invalid(path: string, message: string): ApiProblem {
  return new ApiProblem('VIGIL_INVALID_REQUEST', `${path.split('/')[1] ?? path} ${message}`, [{ path, message }]);
}

/**
 * `/api/v1/maintenance-windows…`: silences that recur weekly in a time zone. They are silences
 * of the core (kept, shared and applied as silences are), on only while one of their windows
 * is; Alertmanager's API has no such thing, so its routes do not show them.
 */
export function registerMaintenanceRoutes(app: FastifyInstance, opts: MaintenanceRoutesOptions): void {
  const tags = ['silences'];
  const notFound = (id: string) => new ApiProblem('VIGIL_MAINTENANCE_NOT_FOUND', `no maintenance window has id ${id}`);
  const deskFor = () => silencingDesk(opts.desk);
  const visible = (req: FastifyRequest, id: string) => {
    const s = opts.desk()?.silence(id);
    if (!s?.recurrence || !visibleTo(req.principal, s.tenant)) throw notFound(id);
    return s as SilenceRecord & { recurrence: StoredRecurrence };
  };
  const idParams = {
    type: 'object',
    required: ['id'],
    properties: { id: { type: 'string', minLength: 1, maxLength: 128, description: 'The window id.' } },
    additionalProperties: false,
  } as const;
  const one = { ...windowSchema, description: 'The maintenance window' };

  app.get(
    '/api/v1/maintenance-windows',
    {
      config: { role: 'viewer' } satisfies RouteDoc,
      schema: {
        operationId: 'listMaintenanceWindows',
        tags,
        summary: 'List maintenance windows',
        description:
          "The caller's tenant's recurring maintenance windows, pending, active and expired ones (kept 120h after they end), by start.",
        response: {
          200: { description: 'The windows', type: 'array', items: windowSchema },
          ...problemResponses(PROBLEMS, 401, 403),
        },
      },
    },
    async (req) => {
      const desk = opts.desk();
      if (!desk) return [];
      const nowMs = desk.nowMs();
      return desk
        .silences()
        .filter((s) => s.recurrence && visibleTo(req.principal, s.tenant))
        .sort((a, b) => a.startsAtMs - b.startsAtMs || (a.id < b.id ? -1 : 1))
        .map((s) => windowView(s as SilenceRecord & { recurrence: StoredRecurrence }, nowMs));
    },
  );

  app.post<{ Body: PostableWindow }>(
    '/api/v1/maintenance-windows',
    {
      config: { role: 'operator' } satisfies RouteDoc,
      schema: {
        operationId: 'createMaintenanceWindow',
        tags,
        summary: 'Create a recurring maintenance window',
        description:
          'Incidents its matchers match are suppressed (`suppressed_by: maintenance:<id>`) and not notified while one of its windows is on: on each of `days`, from `start` to `end`, local time in `timezone`, between `starts_at` (default now) and `ends_at` (default: until expired; in the future, and after `starts_at`). On the nights clocks change, a start or end that does not exist is read as the same time after the change, one that happens twice as its first occurrence. At least one matcher must not match the empty value.',
        body: {
          type: 'object',
          required: ['matchers', 'days', 'start', 'end', 'timezone'],
          properties: {
            ...recurrenceFields,
            starts_at: { type: 'string', format: 'date-time', description: 'From when it recurs; default now.' },
            ends_at: {
              type: 'string',
              format: 'date-time',
              description: 'Until when it recurs; default: until expired.',
            },
          },
          additionalProperties: false,
        },
        response: {
          201: one,
          ...problemResponses(PROBLEMS, 400, 401, 403, 413, 415, 503),
        },
      },
    },
    async (req, reply) => {
      const desk = deskFor();
      const b = req.body;
      const recurrence: StoredRecurrence = { days: b.days, start: b.start, end: b.end, timezone: b.timezone };
      const compiled = compileRecurrence(recurrence);
      if (typeof compiled === 'string') throw invalid('body/timezone', compiled);
      const nowMs = desk.nowMs();
      const time = (text: string | undefined, field: string, absent: number) => {
        if (text === undefined) return absent;
        const ms = Date.parse(text);
        if (!Number.isFinite(ms)) throw invalid(`body/${field}`, 'must be an RFC 3339 date-time');
        return ms;
      };
      const startsAtMs = time(b.starts_at, 'starts_at', nowMs);
      const endsAtMs = Math.min(time(b.ends_at, 'ends_at', FOREVER_MS), FOREVER_MS);
      // Said in this API's own field names (the silences' check below speaks Alertmanager's).
      if (endsAtMs <= nowMs)
        throw invalid('body/ends_at', `(${iso(endsAtMs)}) must be in the future: it is ${iso(nowMs)}`);
      if (endsAtMs <= startsAtMs)
        throw invalid('body/ends_at', `(${iso(endsAtMs)}) must be after starts_at (${iso(startsAtMs)})`);
      const matchers: SilenceMatcher[] = b.matchers.map((m) => ({
        name: m.name,
        value: m.value,
        isRegex: m.isRegex,
        isEqual: m.isEqual,
      }));
      const admitted = admitSilence(
        {
          matchers,
          startsAtMs,
          endsAtMs,
          createdBy: b.created_by ?? req.principal.subject,
          comment: b.comment ?? '',
        },
        undefined,
        req.principal.tenant ?? '',
        nowMs,
        randomUUID,
      );
      if (!admitted.ok) throw invalid('body/matchers', admitted.message);
      const window = { ...admitted.silence, recurrence };
      await desk.putSilence(window);
      return reply.code(201).send(windowView(window, nowMs));
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/v1/maintenance-windows/:id',
    {
      config: { role: 'viewer' } satisfies RouteDoc,
      schema: {
        operationId: 'getMaintenanceWindow',
        tags,
        summary: 'Get one maintenance window',
        params: idParams,
        response: { 200: one, ...problemResponses(PROBLEMS, 400, 401, 403, 404) },
      },
    },
    async (req) => windowView(visible(req, req.params.id), opts.desk()!.nowMs()),
  );

  app.delete<{ Params: { id: string } }>(
    '/api/v1/maintenance-windows/:id',
    {
      config: { role: 'operator' } satisfies RouteDoc,
      schema: {
        operationId: 'expireMaintenanceWindow',
        tags,
        summary: 'Expire a maintenance window',
        description:
          'Ends it now: a window on is cut short (the incidents it held that are still open are notified), a pending one never starts. Expiring an expired one changes nothing.',
        params: idParams,
        response: { 200: one, ...problemResponses(PROBLEMS, 400, 401, 403, 404, 503) },
      },
    },
    async (req) => {
      const s = visible(req, req.params.id);
      const desk = deskFor();
      const nowMs = desk.nowMs();
      const ended = expiredNow(s, nowMs) as typeof s;
      if (ended !== s) await desk.putSilence(ended);
      return windowView(ended, nowMs);
    },
  );
}
