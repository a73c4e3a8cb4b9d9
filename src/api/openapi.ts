import type { RouteOptions } from 'fastify';
import type { Role } from '../extensions/auth/principal.ts';
import { PROBLEM_CONTENT_TYPE } from './problem.ts';

type JsonSchema = Record<string, unknown>;

declare module 'fastify' {
  interface FastifySchema {
    operationId?: string;
    summary?: string;
    description?: string;
    tags?: string[];
  }
}

export interface OpenApiDocument {
  openapi: '3.1.0';
  info: { title: string; version: string; description: string };
  paths: Record<string, Record<string, Operation>>;
  components: { securitySchemes: Record<string, unknown> };
}

export interface Operation {
  operationId: string;
  summary: string;
  description?: string;
  tags?: string[];
  parameters: { name: string; in: 'path' | 'query'; required: boolean; description?: string; schema: JsonSchema }[];
  requestBody?: { required: boolean; content: Record<string, { schema: JsonSchema }> };
  responses: Record<string, { description: string; content: Record<string, { schema: JsonSchema }> }>;
  security: Record<string, string[]>[];
  'x-vigil-role'?: Role;
}

/** What a route declares beyond fastify's schema, read by the OpenAPI generator and the auth hook. */
export interface RouteDoc {
  /** The least role that may call it; absent: public (the spec and its page). */
  role?: Role;
  /** The body may be left out (an empty object then). */
  optionalBody?: boolean;
  /** The success answer's media type, when not JSON. */
  produces?: string;
  /** Not listed in the document. */
  hidden?: boolean;
}

/** Fastify's `/a/:id` as OpenAPI's `/a/{id}`. */
function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

function withoutDescription(schema: JsonSchema): JsonSchema {
  const { description: _description, ...rest } = schema;
  return rest;
}

/** A body schema as fastify takes it: one JSON schema, or one per media type (`content`). */
function bodyContent(body: JsonSchema): Record<string, { schema: JsonSchema }> {
  const byType = body.content as Record<string, { schema: JsonSchema }> | undefined;
  if (!byType) return { 'application/json': { schema: body } };
  return Object.fromEntries(Object.entries(byType).map(([type, c]) => [type, { schema: c.schema }]));
}

/**
 * Builds the OpenAPI 3.1 document from the routes as they are registered (fastify's `onRoute`
 * hook): the route schemas that validate requests and serialise answers are the document, so
 * the two cannot drift apart. Errors answer `application/problem+json`.
 */
export class OpenApiCollector {
  readonly document: OpenApiDocument;
  /** Whether an authenticator checks credentials: without one, operations declare no security (they take none). */
  private readonly authenticated: boolean;

  constructor(info: OpenApiDocument['info'], authenticated: boolean) {
    this.authenticated = authenticated;
    this.document = {
      openapi: '3.1.0',
      info,
      paths: {},
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            description:
              'A token or API key the configured authenticator accepts; without an authenticator, requests are anonymous with `api.anonymous_role`.',
          },
        },
      },
    };
  }

  add(route: RouteOptions): void {
    const doc = (route.config ?? {}) as RouteDoc;
    if (doc.hidden || !route.schema) return;
    const schema = route.schema as {
      summary?: string;
      description?: string;
      tags?: string[];
      operationId?: string;
      params?: JsonSchema;
      querystring?: JsonSchema;
      body?: JsonSchema;
      response?: Record<string, JsonSchema>;
    };
    const methods = (Array.isArray(route.method) ? route.method : [route.method]).filter((m) => m !== 'HEAD');
    const parameters: Operation['parameters'] = [];
    for (const [where, s] of [
      ['path', schema.params],
      ['query', schema.querystring],
    ] as const) {
      const props = (s?.properties ?? {}) as Record<string, JsonSchema>;
      const required = new Set((s?.required ?? []) as string[]);
      for (const [name, p] of Object.entries(props)) {
        parameters.push({
          name,
          in: where,
          required: where === 'path' || required.has(name),
          ...(p.description ? { description: p.description as string } : {}),
          schema: withoutDescription(p),
        });
      }
    }
    const responses: Operation['responses'] = {};
    for (const [status, s] of Object.entries(schema.response ?? {})) {
      const type = Number(status) >= 400 ? PROBLEM_CONTENT_TYPE : (doc.produces ?? 'application/json');
      responses[status] = {
        description: (s.description as string | undefined) ?? status,
        content: { [type]: { schema: withoutDescription(s) } },
      };
    }
    for (const method of methods) {
      const op: Operation = {
        operationId: schema.operationId ?? `${method.toLowerCase()}${route.url.replace(/[^A-Za-z0-9]+/g, '_')}`,
        summary: schema.summary ?? '',
        ...(schema.description ? { description: schema.description } : {}),
        ...(schema.tags ? { tags: schema.tags } : {}),
        parameters,
        ...(schema.body ? { requestBody: { required: !doc.optionalBody, content: bodyContent(schema.body) } } : {}),
        responses,
        security: doc.role && this.authenticated ? [{ bearer: [] }] : [],
        ...(doc.role ? { 'x-vigil-role': doc.role } : {}),
      };
      (this.document.paths[openApiPath(route.url)] ??= {})[method.toLowerCase()] = op;
    }
  }

  /** The methods a path takes (HEAD with GET, as fastify answers it), for a 405's Allow header; [] for a path no route has. */
  methodsOf(path: string): string[] {
    for (const [template, ops] of Object.entries(this.document.paths)) {
      const pattern = new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}$`);
      if (!pattern.test(path)) continue;
      const methods = Object.keys(ops).map((m) => m.toUpperCase());
      return methods.includes('GET') ? [...methods, 'HEAD'] : methods;
    }
    return [];
  }
}
