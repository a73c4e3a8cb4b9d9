import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ConfigError } from '../errors.ts';
import type { JwtVerifier } from '../extensions/auth/jwtVerifier.ts';
import { OidcClient, SignInError } from '../extensions/auth/oidcClient.ts';
import { AuthenticationError, type Authenticator, type Principal } from '../extensions/auth/principal.ts';
import type { Logger } from '../telemetry/logger.ts';
import { RateLimitedWarn } from '../telemetry/rateLimitedLog.ts';
import { oidcWithoutJwtIssue, type ApiConfig } from './config.ts';
import type { RouteDoc } from './openapi.ts';
import { ApiProblem } from './problem.ts';

/** The console's session: the verified ID token, which every request presents again in place of a bearer token. */
const SESSION_COOKIE = 'vigil_session';
/** What a sign-in in flight must remember between the redirect out and the callback: state, nonce, PKCE verifier. */
const PENDING_COOKIE = 'vigil_signin';
/**
 * Over https the cookies are `__Host-` ones: a browser takes them only from this very host,
 * Secure, on path `/`, so no other host of the domain (a sibling subdomain) can plant one.
 */
const HOST_PREFIX = '__Host-';
const AUTH_PATH = '/ui/auth';
/** RFC 6749 §4.1.2 recommends codes live at most 10 minutes: a sign-in longer than that starts again. */
const PENDING_MAX_AGE_S = 600;
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

interface PendingSignIn {
  state: string;
  nonce: string;
  verifier: string;
  redirectUri: string;
  returnTo: string;
}

export function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Only a page of the console itself: never another site (`//evil.example`), so the sign-in is no open redirector. */
function returnPath(value: unknown): string {
  return typeof value === 'string' && /^\/ui(\/[^\\]*)?$/.test(value) && !value.startsWith('//') ? value : '/ui/';
}

function decodePending(value: string | undefined): PendingSignIn | undefined {
  if (value === undefined) return undefined;
  try {
    const p = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as Partial<PendingSignIn>;
    return typeof p.state === 'string' &&
      typeof p.nonce === 'string' &&
      typeof p.verifier === 'string' &&
      typeof p.redirectUri === 'string'
      ? { ...(p as PendingSignIn), returnTo: returnPath(p.returnTo) }
      : undefined;
  } catch {
    return undefined;
  }
}

type OidcSignInConfig = NonNullable<NonNullable<ApiConfig['auth']>['oidc']>;

export interface ConsoleSignInOptions {
  logger?: Logger;
  /** The clock session lifetimes are counted on, in ms. */
  now?: () => number;
}

/**
 * The console's OIDC sign-in, as a confidential client on the server (docs/console.md says why):
 * `/ui/auth/login` sends the browser to the identity provider with a PKCE challenge, state and
 * nonce, kept in an HttpOnly cookie; `/ui/auth/callback` checks the state, exchanges the code for
 * the ID token server to server, verifies it (signature, issuer, audience, expiry, nonce) and
 * keeps it as the HttpOnly, SameSite=Strict session cookie, then redirects to the console with
 * nothing in the address. Each API request with that cookie is the ID token's principal until it
 * expires. No token ever reaches the page's script, storage or address bar.
 */
export class ConsoleSignIn {
  private readonly client: OidcClient;
  private readonly verifier: JwtVerifier;
  private readonly config: OidcSignInConfig;
  private readonly secure: boolean;
  private readonly session: string;
  private readonly pendingName: string;
  /** Where the pending sign-in's cookie is sent: only to the callback, but `__Host-` cookies must be on `/`. */
  private readonly pendingPath: string;
  private readonly tls: boolean;
  private readonly logger: Logger | undefined;
  private readonly warn: RateLimitedWarn | undefined;
  private readonly now: () => number;

  /** Throws a ConfigError when the authenticator cannot verify the provider's ID tokens. */
  static create(config: ApiConfig, authenticator: Authenticator | undefined, opts: ConsoleSignInOptions = {}) {
    const oidc = config.auth?.oidc;
    if (!oidc) return undefined;
    const verifier = authenticator?.idTokenVerifier?.(oidc.client_id);
    if (!verifier) throw new ConfigError([oidcWithoutJwtIssue(config.auth!.authenticator)]);
    return new ConsoleSignIn(oidc, verifier, config.tls !== undefined, opts);
  }

  private constructor(config: OidcSignInConfig, verifier: JwtVerifier, tls: boolean, opts: ConsoleSignInOptions) {
    this.config = config;
    this.verifier = verifier;
    this.tls = tls;
    this.secure = config.redirect_url ? config.redirect_url.startsWith('https:') : tls;
    this.session = `${this.secure ? HOST_PREFIX : ''}${SESSION_COOKIE}`;
    this.pendingName = `${this.secure ? HOST_PREFIX : ''}${PENDING_COOKIE}`;
    this.pendingPath = this.secure ? '/' : AUTH_PATH;
    this.logger = opts.logger;
    this.warn = opts.logger && new RateLimitedWarn(opts.logger);
    this.now = opts.now ?? Date.now;
    this.client = new OidcClient({
      issuer: verifier.issuer,
      clientId: config.client_id,
      ...(config.client_secret !== undefined ? { clientSecret: config.client_secret } : {}),
      scopes: config.scopes,
      fetchTimeout: verifier.fetchTimeout,
    });
  }

  /**
   * Who a request's session cookie names; undefined when it has none. A request that changes
   * something must also come from the console's own origin: the cookie is SameSite=Strict, and
   * checking `Origin` as well keeps a cross-site form from acting with it in older browsers.
   */
  async principalOf(req: FastifyRequest): Promise<Principal | undefined> {
    const token = readCookie(req.headers.cookie, this.session);
    if (token === undefined) return undefined;
    if (!SAFE_METHODS.has(req.method)) {
      const origin = req.headers.origin;
      let host: string | undefined;
      try {
        host = origin ? new URL(origin).host : undefined;
      } catch {
        host = undefined;
      }
      if (host === undefined || host !== req.headers.host)
        throw new ApiProblem(
          'VIGIL_FORBIDDEN',
          "a change made with the console's session cookie must come from the console's own page (Origin); scripts send Authorization: Bearer instead",
        );
    }
    try {
      return await this.verifier.verify(token);
    } catch (err) {
      if (err instanceof AuthenticationError)
        throw new AuthenticationError(
          `the console session is no longer valid (${err.message}); sign in again`,
          err.reason,
        );
      throw err;
    }
  }

  register(app: FastifyInstance): void {
    const hidden: RouteDoc = { hidden: true };
    app.get<{ Querystring: { return_to?: string } }>(`${AUTH_PATH}/login`, { config: hidden }, async (req, reply) => {
      const redirectUri =
        this.config.redirect_url ?? `${this.tls ? 'https' : 'http'}://${req.headers.host}${AUTH_PATH}/callback`;
      try {
        const ask = await this.client.authorizationRequest(redirectUri);
        const pending: PendingSignIn = {
          state: ask.state,
          nonce: ask.nonce,
          verifier: ask.verifier,
          redirectUri,
          returnTo: returnPath(req.query.return_to),
        };
        // SameSite=Lax: the provider's redirect back is a cross-site navigation, which Strict would strip it from.
        this.setCookies(reply, [
          this.cookie(this.pendingName, Buffer.from(JSON.stringify(pending)).toString('base64url'), {
            path: this.pendingPath,
            maxAge: PENDING_MAX_AGE_S,
            sameSite: 'Lax',
          }),
        ]);
        return reply.header('cache-control', 'no-store').redirect(ask.url, 302);
      } catch (err) {
        return this.refuse(reply, err, '/ui/');
      }
    });

    app.get<{ Querystring: Record<string, string | undefined> }>(
      `${AUTH_PATH}/callback`,
      { config: hidden },
      async (req, reply) => {
        const pending = decodePending(readCookie(req.headers.cookie, this.pendingName));
        // Whatever happens next, this sign-in is over: its state and verifier are never used twice.
        this.setCookies(reply, [
          this.cookie(this.pendingName, '', { path: this.pendingPath, maxAge: 0, sameSite: 'Lax' }),
        ]);
        reply.header('cache-control', 'no-store');
        try {
          const q = req.query;
          if (!pending)
            throw new SignInError(
              'this sign-in was not started in this browser, or took longer than 10 minutes; sign in again',
              'no_pending_sign_in',
            );
          if (typeof q.state !== 'string' || !sameText(q.state, pending.state))
            throw new SignInError(
              "the identity provider's answer is not for this browser's sign-in (state differs); sign in again",
              'state_mismatch',
            );
          if (typeof q.error === 'string')
            throw new SignInError(
              `the identity provider did not sign you in (${q.error}${q.error_description ? `: ${q.error_description}` : ''})`,
              `provider_${q.error}`,
            );
          if (typeof q.code !== 'string' || q.code === '')
            throw new SignInError('the identity provider sent no code', 'no_code');
          const idToken = await this.client.exchangeCode(q.code, pending.verifier, pending.redirectUri);
          const { principal, expiresAt } = await this.verifier.verifyIdToken(idToken, pending.nonce).catch((err) => {
            if (err instanceof AuthenticationError)
              throw new SignInError(`the identity provider's ID token is refused: ${err.message}`, err.reason);
            throw err;
          });
          const maxAge = Math.floor((expiresAt - this.now()) / 1000);
          this.setCookies(reply, [this.cookie(this.session, idToken, { path: '/', maxAge, sameSite: 'Strict' })]);
          this.logger?.info(
            { subject: principal.subject, role: principal.role, tenant: principal.tenant },
            'console sign-in',
          );
          return reply.redirect(pending.returnTo, 303);
        } catch (err) {
          return this.refuse(reply, err, pending?.returnTo ?? '/ui/');
        }
      },
    );

    app.post(`${AUTH_PATH}/logout`, { config: hidden }, async (_req, reply) => {
      this.setCookies(reply, [this.cookie(this.session, '', { path: '/', maxAge: 0, sameSite: 'Strict' })]);
      return reply.code(204).send();
    });
  }

  /** Back to the console, which shows why; only the message travels in the address, never a code or token. */
  private refuse(reply: FastifyReply, err: unknown, returnTo: string): FastifyReply {
    if (!(err instanceof SignInError)) throw err;
    this.warn?.warn({ reason: err.reason }, `console sign-in failed: ${err.message}`);
    const to = new URL(returnTo, 'http://console');
    to.searchParams.set('signin_error', err.message);
    return reply.redirect(`${to.pathname}${to.search}`, 303);
  }

  private cookie(name: string, value: string, o: { path: string; maxAge: number; sameSite: 'Strict' | 'Lax' }): string {
    return `${name}=${value}; Path=${o.path}; Max-Age=${Math.max(0, o.maxAge)}; HttpOnly; SameSite=${o.sameSite}${this.secure ? '; Secure' : ''}`;
  }

  private setCookies(reply: FastifyReply, cookies: string[]): void {
    const had = reply.getHeader('set-cookie');
    const before = had === undefined ? [] : Array.isArray(had) ? had : [String(had)];
    reply.header('set-cookie', [...before, ...cookies]);
  }
}

/** Which sign-ins the console offers: the page asks before showing its form. */
export function registerSignInOptions(app: FastifyInstance, signIn: ConsoleSignIn | undefined): void {
  app.get(`${AUTH_PATH}/options`, { config: { hidden: true } satisfies RouteDoc }, async (_req, reply) => {
    reply.header('cache-control', 'no-store');
    return { oidc: signIn !== undefined };
  });
}
