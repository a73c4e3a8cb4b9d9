import { VigilError } from '../errors.ts';

/**
 * Every error the API answers, in one shape: RFC 9457 problem details (`application/problem+json`)
 * with Vigil's stable `code`, which clients act on instead of parsing `detail`.
 */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  /** For an invalid request: each field at fault and why. */
  errors?: { path: string; message: string }[];
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** The codes the API answers with, their status and title. Stable: clients may match on them. */
export const PROBLEMS = {
  VIGIL_INVALID_REQUEST: { status: 400, title: 'The request is not valid' },
  VIGIL_INVALID_CURSOR: { status: 400, title: 'The cursor is not valid for this query' },
  VIGIL_UNAUTHENTICATED: { status: 401, title: 'Authentication is required' },
  VIGIL_FORBIDDEN: { status: 403, title: "The caller's role does not allow this" },
  VIGIL_ROUTE_NOT_FOUND: { status: 404, title: 'No such route' },
  VIGIL_METHOD_NOT_ALLOWED: { status: 405, title: 'The route does not take this method' },
  VIGIL_INCIDENT_NOT_FOUND: { status: 404, title: 'No such incident' },
  VIGIL_INCIDENT_RESOLVED: { status: 409, title: 'The incident is resolved' },
  VIGIL_INCIDENT_NOT_RESOLVED: { status: 409, title: 'The incident is not resolved' },
  VIGIL_INCIDENT_ALREADY_ACKNOWLEDGED: { status: 409, title: 'The incident is acknowledged already' },
  VIGIL_INCIDENT_UNAVAILABLE: { status: 503, title: 'The agent that holds the incident did not answer' },
  VIGIL_SILENCE_NOT_FOUND: { status: 404, title: 'No such silence' },
  VIGIL_MAINTENANCE_NOT_FOUND: { status: 404, title: 'No such maintenance window' },
  VIGIL_SILENCES_UNAVAILABLE: { status: 503, title: 'No correlation runs, so there is nothing to silence' },
  VIGIL_EVENTS_UNAVAILABLE: { status: 503, title: 'No event store is configured' },
  VIGIL_EVENT_STORE_FAILED: { status: 502, title: 'The event store did not answer' },
  VIGIL_RULES_UNAVAILABLE: { status: 503, title: 'No correlation rules are configured' },
  VIGIL_PAYLOAD_TOO_LARGE: { status: 413, title: 'The request body is too large' },
  VIGIL_UNSUPPORTED_MEDIA_TYPE: { status: 415, title: "The request body's content type is not supported" },
  VIGIL_SHUTTING_DOWN: { status: 503, title: 'Vigil is shutting down' },
  VIGIL_INTERNAL: { status: 500, title: 'Internal error' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ProblemCode = keyof typeof PROBLEMS;

/** A URI per code, as RFC 9457 asks; docs/api.md lists them. */
export function problemType(code: string): string {
  return `urn:vigil:problem:${code}`;
}

/** An error a route throws to answer with a problem. */
export class ApiProblem extends VigilError {
  readonly status: number;
  readonly errors: Problem['errors'];
  constructor(code: ProblemCode, detail: string, errors?: Problem['errors']) {
    super(code, detail);
    this.status = PROBLEMS[code].status;
    this.errors = errors;
  }
}

export function problemOf(code: ProblemCode, detail: string, errors?: Problem['errors']): Problem {
  const { status, title } = PROBLEMS[code];
  return { type: problemType(code), title, status, detail, code, ...(errors ? { errors } : {}) };
}

/** The JSON schema of a problem, declared on every route's error answers. */
export const problemSchema = {
  type: 'object',
  required: ['type', 'title', 'status', 'detail', 'code'],
  properties: {
    type: { type: 'string', description: 'A URI naming the kind of problem: `urn:vigil:problem:<code>`.' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string', description: 'What went wrong, and what to change.' },
    code: { type: 'string', enum: Object.keys(PROBLEMS), description: "Vigil's stable error code." },
    errors: {
      type: 'array',
      items: {
        type: 'object',
        required: ['path', 'message'],
        properties: { path: { type: 'string' }, message: { type: 'string' } },
        additionalProperties: false,
      },
    },
  },
  additionalProperties: false,
} as const;

/** A route's error answers, each the problem schema with a description of when it is given. */
export function problemResponses(
  descriptions: Readonly<Record<number, string>>,
  ...statuses: number[]
): Record<number, typeof problemSchema & { description: string | undefined }> {
  return Object.fromEntries(statuses.map((s) => [s, { ...problemSchema, description: descriptions[s] }]));
}
