import { createRequire } from 'node:module';
import { expect } from 'vitest';
import { apiSchema } from '../../src/api/config.ts';
import type { RuleReplayer } from '../../src/api/dryRunRoutes.ts';
import type { EventStore } from '../../src/api/eventStore.ts';
import { ApiServer } from '../../src/api/server.ts';
import type { CorrelationEngine } from '../../src/correlation/engine.ts';
import type { IncidentDesk } from '../../src/correlation/incidentActions.ts';
import { AuthenticationError, type Authenticator, type Principal } from '../../src/extensions/auth/principal.ts';
import type { Incident, IncidentChange } from '../../src/model/incident.ts';
import type { TicketLink } from '../../src/pipeline/component.ts';
import type { Registry } from 'prom-client';

// Ajv 8 (JSON Schema 2020-12, OpenAPI 3.1's dialect) as fastify's own validator compiler ships it;
// the top-level `ajv` is an older major that a lint tool pulls in.
const fromFastify = createRequire(createRequire(import.meta.url).resolve('@fastify/ajv-compiler'));
type Validator = ((value: unknown) => boolean) & { errors?: unknown };
const { Ajv2020 } = fromFastify('ajv/dist/2020') as {
  Ajv2020: new (opts: object) => { compile(schema: object): Validator; errorsText(errors: unknown): string };
};
const addFormats = fromFastify('ajv-formats') as (ajv: unknown) => void;

/** The core's incidents and actions on a virtual clock, as the runtime offers them in the daemon; `delivered` gets every change an action made. */
export function engineDesk(
  engine: CorrelationEngine,
  clock: () => number,
  delivered: IncidentChange[] = [],
): IncidentDesk {
  return {
    *incidents() {
      for (const rec of engine.eachIncident(false)) yield rec.incident;
    },
    watchIncidents: () => engine.watchIncidents(),
    rules: () => engine.rules.map((r) => r.definition),
    current: (key) => engine.book.get(key)?.incident,
    incident: (id) => engine.incidentById(id)?.incident,
    parentOf: (key) => engine.parentOf(key),
    act: async (id, actor, action) => {
      const out = engine.act(id, actor, action, clock());
      if (out.ok) delivered.push(...out.changes);
      return out.ok ? { ...out, incident: structuredClone(out.incident) } : out;
    },
    nowMs: clock,
    silences: () => engine.silences.list(),
    silence: (id) => engine.silences.get(id),
    putSilence: async (s) => {
      delivered.push(...engine.putSilence(s, clock()));
    },
  };
}

/** Test credentials: `Bearer <token>` names a principal from the table; anything else is refused as a real authenticator would. */
export class FakeAuthenticator implements Authenticator {
  readonly id = 'fake';
  readonly principals = new Map<string, Principal>();

  add(token: string, principal: Omit<Principal, 'method'>): this {
    this.principals.set(token, { ...principal, method: 'token' });
    return this;
  }

  async authenticate(authorization: string | undefined): Promise<Principal> {
    const m = /^Bearer (\S+)$/.exec(authorization ?? '');
    if (!m) throw new AuthenticationError('a bearer token is required');
    const p = this.principals.get(m[1]!);
    if (!p) throw new AuthenticationError('the token is not valid');
    return p;
  }
}

export interface RunningApi {
  base: string;
  server: ApiServer;
  /** JSON request; `as` is the bearer token. */
  call(
    method: string,
    path: string,
    opts?: { as?: string; body?: unknown; raw?: string; headers?: Record<string, string> },
  ): Promise<{ status: number; body: unknown; contentType: string; headers: Headers }>;
  close(): Promise<void>;
}

export async function startApi(opts: {
  desk: () => IncidentDesk | undefined;
  authenticator?: Authenticator;
  anonymousRole?: string;
  ticketsOf?: (i: Incident) => Promise<TicketLink[]>;
  eventStore?: () => EventStore | undefined;
  replayer?: () => RuleReplayer | undefined;
  registry?: Registry;
}): Promise<RunningApi> {
  const config = apiSchema.parse(
    { endpoint: '127.0.0.1:0', ...(opts.anonymousRole ? { anonymous_role: opts.anonymousRole } : {}) },
    'api',
    [],
  )!;
  const server = new ApiServer({
    config,
    desk: opts.desk,
    authenticator: opts.authenticator,
    ticketsOf: opts.ticketsOf,
    eventStore: opts.eventStore,
    replayer: opts.replayer,
    registry: opts.registry,
  });
  await server.start();
  const base = `http://127.0.0.1:${server.address!.port}`;
  return {
    base,
    server,
    call: (method, path, o = {}) => callApi(base, method, path, o),
    close: () => server.stop(),
  };
}

export async function callApi(
  base: string,
  method: string,
  path: string,
  o: { as?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {},
) {
  const headers: Record<string, string> = {
    ...(o.as ? { authorization: `Bearer ${o.as}` } : {}),
    ...(o.body !== undefined ? { 'content-type': 'application/json' } : {}),
    ...o.headers,
  };
  const res = await fetch(base + path, {
    method,
    headers,
    body: o.raw ?? (o.body === undefined ? undefined : JSON.stringify(o.body)),
  });
  const text = await res.text();
  const contentType = res.headers.get('content-type') ?? '';
  return {
    status: res.status,
    body: contentType.includes('json') ? JSON.parse(text) : text,
    contentType,
    headers: res.headers,
  };
}

type OpenApi = {
  paths: Record<string, Record<string, { responses: Record<string, { content: Record<string, { schema: object }> }> }>>;
};

/**
 * Checks answers against the document the server serves: the status is declared for the
 * operation, the media type is the declared one, and the body is valid against its schema.
 */
export class SpecChecker {
  private readonly ajv = new Ajv2020({ strict: false, allErrors: true });
  private readonly spec: OpenApi;
  private readonly cache = new Map<string, Validator>();
  readonly seen = new Set<string>();

  constructor(spec: unknown) {
    addFormats(this.ajv);
    this.spec = spec as OpenApi;
  }

  static async load(base: string): Promise<SpecChecker> {
    const res = await fetch(`${base}/openapi.json`);
    return new SpecChecker(await res.json());
  }

  operations(): { method: string; path: string }[] {
    return Object.entries(this.spec.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => ({ method, path })),
    );
  }

  /** `template` is the document's path (`/api/v1/incidents/{id}`). */
  check(method: string, template: string, answer: { status: number; body: unknown; contentType: string }): void {
    const op = this.spec.paths[template]?.[method.toLowerCase()];
    expect(op, `${method} ${template} is in the document`).toBeDefined();
    const declared = op!.responses[String(answer.status)];
    expect(
      declared,
      `${method} ${template} declares status ${answer.status} (got ${JSON.stringify(answer.body)})`,
    ).toBeDefined();
    const [mediaType, { schema }] = Object.entries(declared!.content)[0]!;
    expect(answer.contentType.split(';')[0]).toBe(mediaType);
    const key = `${method} ${template} ${answer.status}`;
    const validate = this.cache.get(key) ?? this.ajv.compile(schema);
    this.cache.set(key, validate);
    const ok = validate(answer.body);
    expect(ok, `${key}: ${this.ajv.errorsText(validate.errors)}`).toBe(true);
    this.seen.add(`${method.toLowerCase()} ${template} ${answer.status}`);
  }
}
