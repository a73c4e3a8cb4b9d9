import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RouteDoc } from './openapi.ts';
import { problemSchema } from './problem.ts';

/** The console's built files (`npm run build:console`), shipped inside the package. */
export const CONSOLE_ASSETS = join(import.meta.dirname, 'console', 'assets');

/**
 * The console runs its own files only: no inline script or style, no other origin, no framing.
 * Styles set from script (element.style) are CSSOM, which `style-src 'self'` allows.
 */
export const CONSOLE_CSP =
  "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

function loadAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  if (!existsSync(dir)) return assets;
  for (const name of readdirSync(dir)) {
    const type = TYPES[extname(name)];
    if (!type) continue;
    const body = readFileSync(join(dir, name));
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
    assets.set(name, { body, type, etag });
  }
  return assets;
}

const problems = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [s, { ...problemSchema, description: DESCRIPTIONS[s] }]));
const DESCRIPTIONS: Record<number, string> = {
  401: 'The authenticator refused the credentials (VIGIL_UNAUTHENTICATED)',
};

/**
 * The web console under `/ui/` (its files read once, at start, from the package: no network at
 * run time) and `GET /api/v1/whoami`, which tells the console who signed in. Any path under
 * `/ui/` that is not a file is the console's page, whose script routes it.
 */
export function registerConsoleRoutes(app: FastifyInstance, assetsDir = CONSOLE_ASSETS): void {
  app.get(
    '/api/v1/whoami',
    {
      config: { role: 'viewer' } satisfies RouteDoc,
      schema: {
        operationId: 'whoami',
        tags: ['auth'],
        summary: 'Who the credentials name',
        description:
          "The caller as the authenticator resolved it: subject, role and tenant (null when the credentials name none and every tenant's incidents are visible).",
        response: {
          200: {
            description: 'The caller',
            type: 'object',
            required: ['subject', 'role', 'tenant', 'method'],
            properties: {
              subject: { type: 'string', description: "A token's `sub`, an API key's name, or `anonymous`." },
              role: { type: 'string', enum: ['viewer', 'operator', 'admin'] },
              tenant: { type: ['string', 'null'] },
              method: { type: 'string', enum: ['jwt', 'apikey', 'token', 'none'] },
            },
            additionalProperties: false,
          },
          ...problems(401),
        },
      },
    },
    async (req) => ({
      subject: req.principal.subject,
      role: req.principal.role,
      tenant: req.principal.tenant ?? null,
      method: req.principal.method,
    }),
  );

  const assets = loadAssets(assetsDir);
  const send = (req: FastifyRequest, reply: FastifyReply, asset: Asset | undefined) => {
    if (!asset) return reply.code(404).type('text/plain; charset=utf-8').send('no such file in the console');
    reply
      .header('content-security-policy', CONSOLE_CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      // Revalidated every time: one round trip with a 304 when unchanged, and a new version is never stale.
      .header('cache-control', 'no-cache')
      .header('etag', asset.etag);
    if (req.headers['if-none-match'] === asset.etag) return reply.code(304).send();
    return reply.type(asset.type).send(asset.body);
  };
  const hidden: RouteDoc = { hidden: true };
  app.get('/ui', { config: hidden }, async (_req, reply) => reply.redirect('/ui/', 302));
  app.get<{ Params: { '*': string } }>('/ui/*', { config: hidden }, async (req, reply) => {
    const name = req.params['*'];
    // A missing file is missing; any other path is one of the console's pages.
    return send(req, reply, extname(name) ? assets.get(name) : assets.get('index.html'));
  });
}
