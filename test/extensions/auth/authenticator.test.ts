import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { base64url, SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../../src/service/config/load.ts';
import { obj } from '../../../src/config/schema.ts';
import type { ExtensionFactory } from '../../../src/pipeline/component.ts';
import { registry } from '../../../src/components.ts';
import { generateApiKey, hashApiKey, writeKeysFile } from '../../../src/extensions/auth/apiKeys.ts';
import { AuthenticatorExtension } from '../../../src/extensions/auth/authenticator.ts';
import { authenticatorSchema, type AuthenticatorConfig } from '../../../src/extensions/auth/config.ts';
import { AuthenticationError, AuthenticationUnavailableError } from '../../../src/extensions/auth/principal.ts';
import { createLogger } from '../../../src/telemetry/logger.ts';
import { SelfMetrics } from '../../../src/telemetry/selfMetrics.ts';
import { FakeOidcProvider, newSigningKey, tokensToRefuse, type SigningKey } from '../../support/fakes/oidcProvider.ts';

function parse(raw: unknown): AuthenticatorConfig {
  const issues: { path: string; message: string }[] = [];
  const config = authenticatorSchema.parse(raw, 'extensions.authenticator', issues);
  if (!config) throw new Error(issues.map((i) => `${i.path}: ${i.message}`).join('\n'));
  return config;
}

interface Built {
  auth: AuthenticatorExtension;
  metrics: SelfMetrics;
  logs: string[];
  dataDir: string;
}

async function build(raw: unknown, now?: () => Date): Promise<Built> {
  const metrics = new SelfMetrics();
  const logs: string[] = [];
  const sink = new PassThrough();
  sink.on('data', (d: Buffer) => logs.push(d.toString()));
  const dataDir = mkdtempSync(join(tmpdir(), 'vigil-auth-'));
  const auth = new AuthenticatorExtension(
    { id: 'authenticator', logger: createLogger('info', sink), metrics, dataDir },
    parse(raw),
    { now },
  );
  await auth.start();
  return { auth, metrics, logs, dataDir };
}

async function failures(metrics: SelfMetrics): Promise<Record<string, number>> {
  const m = await metrics.registry.getSingleMetric('vigil_auth_failures_total')!.get();
  return Object.fromEntries(m.values.map((v) => [String(v.labels.reason), v.value]));
}

async function refusal(auth: AuthenticatorExtension, header: string | undefined): Promise<AuthenticationError> {
  const err = await auth.authenticate(header).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AuthenticationError);
  return err as AuthenticationError;
}

const bearer = (t: string) => `Bearer ${t}`;

describe('authenticator: JWTs from an OIDC provider', () => {
  let idp: FakeOidcProvider;
  let key: SigningKey;
  let built: Built;

  beforeAll(async () => {
    key = await newSigningKey('k1');
    idp = await new FakeOidcProvider().start(key);
    built = await build({
      jwt: {
        issuer: idp.issuer,
        audience: ['vigil'],
        roles_claim: 'realm_access.roles',
        role_mapping: { 'vigil-ops': 'operator', 'vigil-admins': 'admin' },
        tenant_claim: 'tenant',
        jwks_refresh_cooldown: '1h',
      },
    });
  });
  afterAll(() => idp.close());

  it('accepts a valid token found by discovery, with the highest mapped role and the tenant claim', async () => {
    const token = await idp.sign(key, {
      realm_access: { roles: ['offline_access', 'vigil-ops', 'viewer'] },
      tenant: 'team-a',
    });
    expect(await built.auth.authenticate(bearer(token))).toEqual({
      subject: 'alice',
      role: 'operator',
      tenant: 'team-a',
      method: 'jwt',
    });
    expect(idp.server.requests.filter((r) => r.path === '/.well-known/openid-configuration')).toHaveLength(1);
  });

  it('refuses each bad token with its reason counted, and never logs the token', async () => {
    const roles = { realm_access: { roles: ['viewer'] } };
    const cases = [
      ...(await tokensToRefuse(idp, key, roles)),
      [await idp.sign(key, { realm_access: { roles: ['nobody'] } }), 'no_role'] as [string, string],
    ];
    for (const [token, reason] of cases) {
      const err = await refusal(built.auth, bearer(token));
      expect(err.reason, `${reason}: ${err.message}`).toBe(reason);
    }
    expect((await refusal(built.auth, undefined)).reason).toBe('missing');
    expect((await refusal(built.auth, `Basic ${base64url.encode('a:b')}`)).reason).toBe('unsupported_scheme');
    const counted = await failures(built.metrics);
    for (const [, reason] of cases) expect(counted[reason], reason).toBeGreaterThanOrEqual(1);
    expect(counted.algorithm_not_allowed).toBe(2);
    const logged = built.logs.join('');
    expect(logged).toContain('"reason":"expired"');
    for (const [token] of cases) expect(logged).not.toContain(token.split('.')[2] || token);
  });

  it('a token of an unknown kid refetches the key set at most once per cooldown', async () => {
    const stranger = await newSigningKey('k-unknown');
    const before = idp.jwksFetches();
    expect(
      (await refusal(built.auth, bearer(await idp.sign(stranger, { realm_access: { roles: ['viewer'] } })))).reason,
    ).toBe('unknown_key');
    expect(
      (await refusal(built.auth, bearer(await idp.sign(stranger, { realm_access: { roles: ['viewer'] } })))).reason,
    ).toBe('unknown_key');
    expect(idp.jwksFetches() - before).toBeLessThanOrEqual(1);
  });
});

describe('authenticator: key rotation', () => {
  it('takes a key the provider starts publishing without a restart', async () => {
    const old = await newSigningKey('2025-01');
    const next = await newSigningKey('2025-02', 'ES256');
    const idp = await new FakeOidcProvider().start(old);
    try {
      const { auth } = await build({
        jwt: {
          issuer: idp.issuer,
          audience: ['vigil'],
          jwks_url: `${idp.issuer}/jwks`,
          jwks_refresh_cooldown: 0,
          default_role: 'viewer',
        },
      });
      expect((await auth.authenticate(bearer(await idp.sign(old)))).subject).toBe('alice');
      expect((await refusal(auth, bearer(await idp.sign(next)))).reason).toBe('unknown_key');
      idp.publish(old, next);
      expect(await auth.authenticate(bearer(await idp.sign(next, { sub: 'bob' })))).toMatchObject({
        subject: 'bob',
        role: 'viewer',
      });
      idp.publish(next);
      await auth.authenticate(bearer(await idp.sign(next)));
    } finally {
      await idp.close();
    }
  });
});

describe('authenticator: provider outage', () => {
  afterEach(() => vi.useRealTimers());

  it('keeps verifying with the keys fetched last when a refresh fails, and asks the provider again only after the cooldown', async () => {
    const key = await newSigningKey('steady');
    const idp = await new FakeOidcProvider().start(key);
    try {
      const { auth } = await build({
        jwt: {
          issuer: idp.issuer,
          audience: ['vigil'],
          jwks_url: `${idp.issuer}/jwks`,
          jwks_cache_max_age: '1m',
          jwks_refresh_cooldown: '5m',
          default_role: 'viewer',
        },
      });
      await auth.authenticate(bearer(await idp.sign(key)));
      expect(idp.jwksFetches()).toBe(1);
      // Only Date moves (jose's cache ages by it); sockets and timers stay real.
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(Date.now() + 2 * 60_000);
      idp.server.failNext({ status: 503 }, (r) => r.path === '/jwks');
      const token = await idp.sign(key, { sub: 'during-outage' }, { now: Math.floor(Date.now() / 1000) });
      expect((await auth.authenticate(bearer(token))).subject).toBe('during-outage');
      expect(idp.jwksFetches()).toBe(2);
      await auth.authenticate(bearer(token));
      expect(idp.jwksFetches()).toBe(2);
      vi.setSystemTime(Date.now() + 6 * 60_000);
      const later = await idp.sign(key, {}, { now: Math.floor(Date.now() / 1000) });
      await auth.authenticate(bearer(later));
      expect(idp.jwksFetches()).toBe(3);
    } finally {
      await idp.close();
    }
  });
});

describe('authenticator: configured keys and clock', () => {
  it('verifies against a PEM key, with exp/nbf checked on the injected clock and the skew', async () => {
    const key = await newSigningKey('pem');
    let clock = new Date('2030-01-01T00:00:00Z');
    const issuer = 'https://idp.example.com/realms/ops';
    const { auth } = await build(
      {
        jwt: {
          issuer,
          audience: ['vigil', 'vigil-api'],
          keys: [key.publicPem],
          clock_skew: '60s',
          default_role: 'viewer',
        },
      },
      () => clock,
    );
    const t0 = Math.floor(clock.getTime() / 1000);
    const sign = (claims: Record<string, unknown>) =>
      new SignJWT({ iss: issuer, aud: 'vigil-api', sub: 'svc', ...claims })
        .setProtectedHeader({ alg: 'RS256' })
        .sign(key.privateKey);
    const token = await sign({ nbf: t0 - 10, exp: t0 + 300 });
    expect((await auth.authenticate(bearer(token))).role).toBe('viewer');
    clock = new Date((t0 + 330) * 1000); // past exp, within the 60 s skew
    await auth.authenticate(bearer(token));
    clock = new Date((t0 + 400) * 1000);
    expect((await refusal(auth, bearer(token))).reason).toBe('expired');
  });

  it('refuses private, symmetric and unreadable keys, non-https key sources and HS algorithms at load, with their paths', () => {
    const issues = (jwt: Record<string, unknown>) => {
      const out: { path: string; message: string }[] = [];
      authenticatorSchema.parse(
        { jwt: { issuer: 'https://idp.example.com', audience: ['vigil'], ...jwt } },
        'extensions.authenticator',
        out,
      );
      return out.map((i) => `${i.path}: ${i.message}`);
    };
    expect(issues({ keys: ['-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----'] })).toEqual([
      expect.stringMatching(/^extensions\.authenticator\.jwt\.keys\[0\]: is a private key/),
    ]);
    expect(issues({ keys: ['{"kty":"oct","k":"c2VjcmV0"}'] })).toEqual([
      expect.stringMatching(/keys\[0\]: is a symmetric \(HMAC\) key/),
    ]);
    expect(issues({ keys: ['hello'] })).toEqual([expect.stringMatching(/keys\[0\]: must be a PEM public key/)]);
    expect(issues({ jwks_url: 'http://idp.example.com/jwks' })).toEqual([
      expect.stringMatching(/jwt\.jwks_url: must be an https URL \(http only to localhost\)/),
    ]);
    expect(issues({ issuer: 'http://idp.example.com' })).toEqual([
      expect.stringMatching(/jwt\.issuer: must be an https URL/),
    ]);
    expect(issues({ algorithms: ['HS256'] })).toEqual([
      expect.stringMatching(/jwt\.algorithms\[0\]: must be one of RS256/),
    ]);
    expect(issues({ algorithms: ['none'] })).toHaveLength(1);
    const empty: { path: string; message: string }[] = [];
    authenticatorSchema.parse({}, 'extensions.authenticator', empty);
    expect(empty).toEqual([{ path: 'extensions.authenticator', message: 'configure jwt, api_keys or both' }]);
  });

  it('answers 503-style unavailability, not 401, while the provider cannot be reached, and is degraded until a token verifies', async () => {
    const key = await newSigningKey('k');
    const idp = await new FakeOidcProvider().start(key);
    try {
      const { auth, metrics } = await build({
        jwt: { issuer: idp.issuer, audience: ['vigil'], default_role: 'viewer', jwks_refresh_cooldown: 0 },
      });
      idp.server.failNext({ status: 503 });
      expect((await refusal(auth, bearer('not-a-jwt'))).reason).toBe('malformed');
      const err = await auth.authenticate(bearer(await idp.sign(key))).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AuthenticationUnavailableError);
      expect((await failures(metrics)).keys_unavailable).toBe(1);
      expect(auth.health()).toMatchObject({
        status: 'degraded',
        reason: expect.stringMatching(
          /^JWTs cannot be checked \(OIDC discovery at http:\/\/127\.0\.0\.1:\d+\/\.well-known\/openid-configuration failed: HTTP 503/,
        ),
      });
      idp.server.failNext({ status: 500 }, (r) => r.path === '/jwks');
      await expect(auth.authenticate(bearer(await idp.sign(key)))).rejects.toBeInstanceOf(
        AuthenticationUnavailableError,
      );
      expect(auth.health().status).toBe('degraded');
      expect((await auth.authenticate(bearer(await idp.sign(key)))).role).toBe('viewer');
      expect(auth.health()).toEqual({ status: 'ok' });
    } finally {
      await idp.close();
    }
  });
});

describe('authenticator: API keys', () => {
  it('accepts a stored key by its hash, refuses revoked and unknown ones, and sees file changes at once', async () => {
    const { auth, dataDir, metrics } = await build({ api_keys: {} });
    const file = join(dataDir, 'apikeys.json');
    const key = generateApiKey();
    const entry = {
      name: 'ci',
      role: 'operator' as const,
      tenant: 'team-b',
      hash: hashApiKey(key),
      hint: key.slice(0, 8),
      created_at: new Date().toISOString(),
    };
    expect((await refusal(auth, bearer(key))).reason).toBe('unknown_api_key');
    await writeKeysFile(file, [entry]);
    expect(await auth.authenticate(bearer(key))).toEqual({
      subject: 'ci',
      role: 'operator',
      tenant: 'team-b',
      method: 'apikey',
    });
    expect(readFileSync(file, 'utf8')).not.toContain(key.slice(8));
    await writeKeysFile(file, [{ ...entry, revoked_at: new Date().toISOString() }]);
    expect((await refusal(auth, bearer(key))).reason).toBe('revoked_api_key');
    expect((await refusal(auth, bearer(generateApiKey()))).reason).toBe('unknown_api_key');
    expect((await refusal(auth, bearer('vgk_short'))).reason).toBe('unknown_api_key');
    expect((await refusal(auth, bearer('eyJhbGciOiJSUzI1NiJ9.e30.c2ln'))).reason).toBe('jwt_disabled');
    expect(await failures(metrics)).toMatchObject({ unknown_api_key: 3, revoked_api_key: 1, jwt_disabled: 1 });
  });
});

describe('extensions in the config', () => {
  const base = (extensions: string, started: string, auth: string) => `
extensions:
${extensions}
receivers:
  otlp:
    protocols: { http: { endpoint: "127.0.0.1:0" } }
    auth: { authenticator: ${auth} }
exporters:
  debug: {}
service:
  extensions: [${started}]
  pipelines:
    logs: { receivers: [otlp], exporters: [debug] }
`;
  const problems = (yaml: string) => {
    try {
      parseConfig(yaml, registry, {});
      return [];
    } catch (err) {
      return (err as { issues: { path: string; message: string }[] }).issues.map((i) => `${i.path}: ${i.message}`);
    }
  };

  it('loads an authenticator referred to by a receiver', () => {
    const config = parseConfig(
      base('  authenticator/ops:\n    api_keys: {}', 'authenticator/ops', 'authenticator/ops'),
      registry,
      {},
    );
    expect(config.extensions['authenticator/ops']?.type).toBe('authenticator');
    expect(config.service.extensions).toEqual(['authenticator/ops']);
  });

  it('refuses an unknown, unstarted or unlisted extension with its YAML path', () => {
    expect(problems(base('  authenticator:\n    api_keys: {}', 'authenticator', 'authenticator/typo'))).toEqual([
      'receivers.otlp.auth.authenticator: extension "authenticator/typo" is not defined under extensions: (defined: authenticator)',
    ]);
    expect(problems(base('  authenticator:\n    api_keys: {}', '', 'authenticator'))).toEqual([
      'receivers.otlp.auth.authenticator: extension "authenticator" is not started; list it under service.extensions',
    ]);
    expect(problems(base('  authenticator:\n    api_keys: {}', 'authenticator, nope', 'authenticator'))).toEqual([
      'service.extensions[1]: "nope" is not defined under extensions:',
    ]);
    expect(problems(base('  vault: {}', 'vault', 'vault'))).toEqual([
      expect.stringMatching(/^extensions\.vault: unknown extension type "vault"; known types: authenticator/),
    ]);
  });

  it('refuses console sign-in through an authenticator that verifies no JWTs, at validation', () => {
    const yaml = `${base('  authenticator:\n    api_keys: {}', 'authenticator', 'authenticator')}
api:
  endpoint: "127.0.0.1:0"
  auth:
    authenticator: authenticator
    oidc: { client_id: vigil-console, redirect_url: "http://127.0.0.1:8080/ui/auth/callback" }
`;
    expect(problems(yaml)).toEqual([
      'api.auth.oidc: the authenticator "authenticator" accepts no JWTs: give it jwt: with the identity provider\'s issuer, whose ID tokens the console\'s sign-in verifies',
    ]);
  });

  it('refuses an extension of the wrong kind', () => {
    const ledger: ExtensionFactory = {
      kind: 'extension',
      type: 'ledger',
      signals: [],
      provides: [],
      description: 'a ledger',
      configSchema: obj({}),
      create: () => ({ start: async () => {}, shutdown: async () => {} }),
    };
    const yaml = base('  ledger: {}', 'ledger', 'ledger');
    expect(() => parseConfig(yaml, { ...registry, extensions: [...registry.extensions, ledger] }, {})).toThrow(
      'receivers.otlp.auth.authenticator: extension "ledger" is a ledger, not an authenticator',
    );
  });
});
