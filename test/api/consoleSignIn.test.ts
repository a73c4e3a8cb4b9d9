import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { apiSchema } from '../../src/api/config.ts';
import { ApiServer } from '../../src/api/server.ts';
import { ConfigError } from '../../src/errors.ts';
import { AuthenticatorExtension } from '../../src/extensions/auth/authenticator.ts';
import { authenticatorSchema } from '../../src/extensions/auth/config.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { SelfMetrics } from '../../src/telemetry/selfMetrics.ts';
import { FakeOidcProvider, newSigningKey, type SigningKey } from '../support/fakes/oidcProvider.ts';

const CLIENT = 'vigil-console';
const SECRET = 'console-secret-1';

let idp: FakeOidcProvider;
let key: SigningKey;
const servers: ApiServer[] = [];

function parsed<T>(
  schema: { parse(v: unknown, p: string, i: { path: string; message: string }[]): T | undefined },
  raw: unknown,
): T {
  const issues: { path: string; message: string }[] = [];
  const value = schema.parse(raw, 'x', issues);
  if (!value) throw new Error(issues.map((i) => `${i.path}: ${i.message}`).join('\n'));
  return value;
}

async function authenticator(jwt: boolean): Promise<AuthenticatorExtension> {
  const auth = new AuthenticatorExtension(
    {
      id: 'authenticator',
      logger: createLogger('info', new PassThrough()),
      metrics: new SelfMetrics(),
      dataDir: mkdtempSync(join(tmpdir(), 'vigil-signin-')),
    },
    parsed(
      authenticatorSchema,
      jwt
        ? {
            jwt: {
              issuer: idp.issuer,
              audience: ['vigil'],
              roles_claim: 'groups',
              role_mapping: { 'vigil-operators': 'operator' },
              tenant_claim: 'org',
            },
          }
        : { api_keys: {} },
    ),
  );
  await auth.start();
  return auth;
}

/** An API whose console signs in with the fake provider; `secret` is the client secret Vigil is configured with. */
async function startApi(oidc: Record<string, unknown> = { client_id: CLIENT, client_secret: SECRET }): Promise<string> {
  const config = parsed(apiSchema, {
    endpoint: '127.0.0.1:0',
    auth: { authenticator: 'authenticator', oidc },
  });
  const server = new ApiServer({ config, desk: () => undefined, authenticator: await authenticator(true) });
  servers.push(server);
  await server.start();
  return `http://127.0.0.1:${server.address!.port}`;
}

/** What a browser keeps: its cookies, as the server set them (a Max-Age of 0 deletes one). */
class Browser {
  readonly cookies = new Map<string, string>();
  /** Every Set-Cookie received, in full, for their attributes. */
  readonly setCookies: string[] = [];

  async get(url: string, headers: Record<string, string> = {}): Promise<Response> {
    return this.request('GET', url, headers);
  }

  async request(method: string, url: string, headers: Record<string, string> = {}, body?: string): Promise<Response> {
    const cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(url, {
      method,
      body,
      redirect: 'manual',
      headers: { ...(cookie ? { cookie } : {}), ...headers },
    });
    for (const c of res.headers.getSetCookie()) {
      this.setCookies.push(c);
      const [pair] = c.split(';');
      const eq = pair!.indexOf('=');
      if (/max-age=0(;|$)/i.test(c)) this.cookies.delete(pair!.slice(0, eq));
      else this.cookies.set(pair!.slice(0, eq), pair!.slice(eq + 1));
    }
    return res;
  }
}

/** Vigil's login redirect, then the provider's: the callback URL the browser is sent back to. */
async function throughProvider(browser: Browser, base: string, returnTo?: string): Promise<string> {
  const login = await browser.get(
    `${base}/ui/auth/login${returnTo ? `?return_to=${encodeURIComponent(returnTo)}` : ''}`,
  );
  expect(login.status).toBe(302);
  const authorize = login.headers.get('location')!;
  expect(authorize.startsWith(`${idp.issuer}/authorize?`)).toBe(true);
  const atProvider = await browser.get(authorize);
  expect(atProvider.status).toBe(302);
  return atProvider.headers.get('location')!;
}

/** Follows the callback; the console page it lands on, and the refusal shown there if any. */
async function callback(browser: Browser, url: string): Promise<{ location: string; error: string | null }> {
  const res = await browser.get(url);
  expect(res.status).toBe(303);
  const location = res.headers.get('location')!;
  return { location, error: new URL(location, 'http://x').searchParams.get('signin_error') };
}

async function whoami(browser: Browser, base: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await browser.get(`${base}/api/v1/whoami`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  key = await newSigningKey('k1');
  idp = await new FakeOidcProvider().start(key);
  idp.user = { sub: 'alice', groups: ['vigil-operators'], org: 'acme' };
});

afterEach(async () => {
  idp.user = { sub: 'alice', groups: ['vigil-operators'], org: 'acme' };
  idp.idTokenTtl = 3600;
  idp.idTokenOverrides = {};
  while (servers.length) await servers.pop()!.stop();
});

afterAll(async () => {
  await idp.close();
});

function registerAt(base: string, secret: string | null = SECRET): void {
  idp.register({
    clientId: CLIENT,
    ...(secret === null ? {} : { clientSecret: secret }),
    redirectUris: [`${base}/ui/auth/callback`],
  });
}

describe("the console's OIDC sign-in (authorization code with PKCE)", () => {
  it('signs in through the provider: the ID token becomes an HttpOnly session cookie, with nothing in the address, and names the role and tenant', async () => {
    const base = await startApi();
    registerAt(base);
    const browser = new Browser();
    expect(await (await browser.get(`${base}/ui/auth/options`)).json()).toEqual({ oidc: true });
    expect((await whoami(browser, base)).status).toBe(401);

    const back = await throughProvider(browser, base, '/ui/incidents?state=open');
    const asked = idp.authorizeRequests().at(-1)!;
    expect(asked.get('code_challenge_method')).toBe('S256');
    expect(asked.get('redirect_uri')).toBe(`${base}/ui/auth/callback`);
    expect(asked.get('scope')).toBe('openid profile');
    expect(asked.get('nonce')).toMatch(/^[\w-]{43}$/);

    const landed = await callback(browser, back);
    expect(landed).toEqual({ location: '/ui/incidents?state=open', error: null });
    // The code went to the provider with the verifier whose S256 hash it was bound to, and the client's secret.
    const exchanged = idp.tokenRequests().at(-1)!;
    expect(createHash('sha256').update(exchanged.get('code_verifier')!).digest('base64url')).toBe(
      asked.get('code_challenge'),
    );
    expect(exchanged.get('client_secret')).toBeNull();
    const session = browser.setCookies.find((c) => c.startsWith('vigil_session=') && !/max-age=0;/i.test(c))!;
    expect(session).toMatch(/; Path=\/; Max-Age=(359\d|3600); HttpOnly; SameSite=Strict$/);
    expect([...browser.cookies.keys()]).toEqual(['vigil_session']);

    expect(await whoami(browser, base)).toEqual({
      status: 200,
      body: { subject: 'alice', role: 'operator', tenant: 'acme', method: 'jwt' },
    });

    const out = await browser.request('POST', `${base}/ui/auth/logout`, { origin: base });
    expect(out.status).toBe(204);
    expect((await whoami(browser, base)).status).toBe(401);
  });

  it('lets the session change things only from its own origin', async () => {
    const base = await startApi();
    registerAt(base);
    const browser = new Browser();
    await callback(browser, await throughProvider(browser, base));
    const dryRun = (headers: Record<string, string>) =>
      browser.request('POST', `${base}/api/v1/rules/dry-run`, { 'content-type': 'application/json', ...headers }, '[]');
    const crossSite = await dryRun({ origin: 'https://evil.example' });
    expect(crossSite.status).toBe(403);
    expect(((await crossSite.json()) as { detail: string }).detail).toContain("console's own page");
    expect((await dryRun({})).status).toBe(403);
    // Past authentication from its own origin: this API has no rules to run.
    const own = await dryRun({ origin: base });
    expect(((await own.json()) as { code: string }).code).toBe('VIGIL_RULES_UNAVAILABLE');
  });

  it('works as a public client: the client id in the form, no secret', async () => {
    const base = await startApi({ client_id: CLIENT });
    registerAt(base, null);
    const browser = new Browser();
    expect((await callback(browser, await throughProvider(browser, base))).error).toBeNull();
    expect(idp.tokenRequests().at(-1)!.get('client_id')).toBe(CLIENT);
    expect((await whoami(browser, base)).body.subject).toBe('alice');
  });

  it('refuses an answer whose state is not the one this browser sent, without redeeming its code', async () => {
    const base = await startApi();
    registerAt(base);
    const browser = new Browser();
    const back = new URL(await throughProvider(browser, base));
    back.searchParams.set('state', 'forged-state');
    const before = idp.tokenRequests().length;
    const landed = await callback(browser, back.href);
    expect(landed.error).toContain('state differs');
    expect(idp.tokenRequests().length).toBe(before);
    expect(browser.cookies.has('vigil_session')).toBe(false);
  });

  it('refuses a callback in a browser that started no sign-in (a code sent to another person)', async () => {
    const base = await startApi();
    registerAt(base);
    const back = await throughProvider(new Browser(), base);
    const other = new Browser();
    expect((await callback(other, back)).error).toContain('not started in this browser');
    expect(other.cookies.has('vigil_session')).toBe(false);
  });

  it('is refused by the provider when the code verifier is not the one the challenge was made from', async () => {
    const base = await startApi();
    registerAt(base);
    const browser = new Browser();
    const back = await throughProvider(browser, base);
    const pending = JSON.parse(Buffer.from(browser.cookies.get('vigil_signin')!, 'base64url').toString()) as object;
    const tampered = { ...pending, verifier: 'x'.repeat(43) };
    browser.cookies.set('vigil_signin', Buffer.from(JSON.stringify(tampered)).toString('base64url'));
    const landed = await callback(browser, back);
    expect(landed.error).toContain('invalid_grant: code_verifier does not match the code challenge');
    expect(browser.cookies.has('vigil_session')).toBe(false);
  });

  it('does not redeem a code twice: a replayed callback is refused by the provider', async () => {
    const base = await startApi();
    registerAt(base);
    const browser = new Browser();
    const back = await throughProvider(browser, base);
    const pending = browser.cookies.get('vigil_signin')!;
    expect((await callback(browser, back)).error).toBeNull();
    const attacker = new Browser();
    attacker.cookies.set('vigil_signin', pending);
    const replay = await callback(attacker, back);
    expect(replay.error).toContain('invalid_grant: the code was used already');
    expect(attacker.cookies.has('vigil_session')).toBe(false);
  });

  it("refuses an expired ID token, one with another sign-in's nonce, and a person with no Vigil role", async () => {
    const base = await startApi();
    registerAt(base);
    const cases: [() => void, string][] = [
      [() => (idp.idTokenTtl = -120), 'token expired'],
      [() => (idp.idTokenOverrides = { nonce: 'another-sign-in' }), "nonce is not this sign-in's"],
      [() => (idp.user = { sub: 'bob', groups: ['payroll'] }), 'names no Vigil role'],
    ];
    for (const [arrange, refusal] of cases) {
      arrange();
      const browser = new Browser();
      const landed = await callback(browser, await throughProvider(browser, base));
      expect(landed.error, refusal).toContain(refusal);
      expect(browser.cookies.has('vigil_session')).toBe(false);
      idp.user = { sub: 'alice', groups: ['vigil-operators'], org: 'acme' };
      idp.idTokenTtl = 3600;
      idp.idTokenOverrides = {};
    }
  });

  it('answers 401 to a session whose ID token has expired, or that is not a token of this client', async () => {
    const base = await startApi();
    registerAt(base);
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, string][] = [
      [await idp.sign(key, { groups: ['vigil-operators'], exp: now - 120 }, { audience: CLIENT }), 'token expired'],
      // An access token for the API (aud vigil) is no console session.
      [await idp.sign(key, { groups: ['vigil-operators'] }), 'another audience'],
    ];
    for (const [token, reason] of cases) {
      const browser = new Browser();
      browser.cookies.set('vigil_session', token);
      const answer = await whoami(browser, base);
      expect(answer.status).toBe(401);
      expect(answer.body.detail).toContain(reason);
    }
  });

  it("tells the operator when the provider refuses Vigil's client credentials, and the person when they decline", async () => {
    const base = await startApi({ client_id: CLIENT, client_secret: 'not-the-secret' });
    registerAt(base);
    const browser = new Browser();
    const landed = await callback(browser, await throughProvider(browser, base));
    expect(landed.error).toContain("refused Vigil's client credentials (invalid_client");
    expect(landed.error).toContain('api.auth.oidc.client_id and client_secret');

    idp.user = undefined;
    const declined = await callback(browser, await throughProvider(browser, base));
    expect(declined.error).toContain('did not sign you in (access_denied');
  });

  it('names its cookies __Host- and marks them Secure when the console is reached over https, so no other host of the domain can plant one', async () => {
    const publicUrl = 'https://vigil.example.com/ui/auth/callback';
    const base = await startApi({ client_id: CLIENT, client_secret: SECRET, redirect_url: publicUrl });
    idp.register({ clientId: CLIENT, clientSecret: SECRET, redirectUris: [publicUrl] });
    const browser = new Browser();
    const back = new URL(await throughProvider(browser, base));
    expect(back.origin + back.pathname).toBe(publicUrl);
    expect(browser.setCookies.at(-1)).toMatch(
      /^__Host-vigil_signin=[\w-]+; Path=\/; Max-Age=600; HttpOnly; SameSite=Lax; Secure$/,
    );
    // The proxy in front hands the callback to Vigil over http.
    expect((await callback(browser, `${base}/ui/auth/callback${back.search}`)).error).toBeNull();
    expect([...browser.cookies.keys()]).toEqual(['__Host-vigil_session']);
    expect(browser.setCookies.at(-1)).toMatch(/; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Strict; Secure$/);
    expect((await whoami(browser, base)).body.subject).toBe('alice');
    // A cookie without the prefix, as another host could set for the whole domain, names no one.
    const planted = new Browser();
    planted.cookies.set('vigil_session', browser.cookies.get('__Host-vigil_session')!);
    expect((await whoami(planted, base)).status).toBe(401);
  });

  it('returns only to pages of the console, never to another site', async () => {
    const base = await startApi();
    registerAt(base);
    for (const returnTo of ['//evil.example/ui/', 'https://evil.example/', '/api/v1/incidents', '/ui\\@evil.example']) {
      const browser = new Browser();
      expect((await callback(browser, await throughProvider(browser, base, returnTo))).location).toBe('/ui/');
    }
  });

  it('needs an authenticator that verifies JWTs, and says so', async () => {
    const config = parsed(apiSchema, {
      endpoint: '127.0.0.1:0',
      auth: { authenticator: 'keys-only', oidc: { client_id: CLIENT } },
    });
    expect(() => new ApiServer({ config, desk: () => undefined, authenticator: undefined })).toThrow(ConfigError);
    const keysOnly = await authenticator(false);
    expect(() => new ApiServer({ config, desk: () => undefined, authenticator: keysOnly })).toThrow(
      /api.auth.oidc: the authenticator "keys-only" accepts no JWTs/,
    );
    const issues: { path: string; message: string }[] = [];
    apiSchema.parse({ auth: { authenticator: 'a', oidc: { client_id: CLIENT, scopes: ['profile'] } } }, 'api', issues);
    expect(issues).toEqual([{ path: 'api.auth.oidc.scopes', message: 'must include openid' }]);
  });
});

describe('the fake OpenID provider', () => {
  it('refuses an authorization request without a PKCE S256 challenge, and never redirects to an unregistered URI', async () => {
    idp.register({ clientId: 'probe', redirectUris: ['http://127.0.0.1:9/cb'] });
    const ask = (q: Record<string, string>) =>
      fetch(
        `${idp.issuer}/authorize?${new URLSearchParams({ response_type: 'code', scope: 'openid', client_id: 'probe', redirect_uri: 'http://127.0.0.1:9/cb', state: 's', ...q })}`,
        { redirect: 'manual' },
      );
    const noChallenge = new URL((await ask({})).headers.get('location')!);
    expect(noChallenge.searchParams.get('error')).toBe('invalid_request');
    expect(noChallenge.searchParams.get('state')).toBe('s');
    const plain = new URL(
      (await ask({ code_challenge: 'abc', code_challenge_method: 'plain' })).headers.get('location')!,
    );
    expect(plain.searchParams.get('error_description')).toContain('S256');
    expect(
      (await ask({ redirect_uri: 'https://evil.example/cb', code_challenge: 'abc', code_challenge_method: 'S256' }))
        .status,
    ).toBe(400);
  });

  it('answers RFC 6749 §5.2 errors at the token endpoint: invalid_client (401) and invalid_grant (400), never cached', async () => {
    idp.register({ clientId: 'probe2', clientSecret: 's3cret', redirectUris: ['http://127.0.0.1:9/cb'] });
    const token = (form: Record<string, string>, headers: Record<string, string> = {}) =>
      fetch(`${idp.issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code: 'nope',
          redirect_uri: 'http://127.0.0.1:9/cb',
          code_verifier: 'v'.repeat(43),
          ...form,
        }),
      });
    const badSecret = await token({}, { authorization: `Basic ${Buffer.from('probe2:wrong').toString('base64')}` });
    expect(badSecret.status).toBe(401);
    expect(badSecret.headers.get('www-authenticate')).toContain('Basic');
    expect(((await badSecret.json()) as { error: string }).error).toBe('invalid_client');
    const unknownCode = await token({ client_id: 'probe2', client_secret: 's3cret' });
    expect(unknownCode.status).toBe(400);
    expect(unknownCode.headers.get('cache-control')).toBe('no-store');
    expect(((await unknownCode.json()) as { error: string }).error).toBe('invalid_grant');
  });
});
