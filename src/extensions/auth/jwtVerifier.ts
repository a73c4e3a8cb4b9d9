import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
  type KeyObject,
} from 'jose';
import { keySourceProblem, type JwtConfig } from './config.ts';
import { AuthenticationError, AuthenticationUnavailableError, roles, type Principal, type Role } from './principal.ts';
import { parseVerificationKeys } from './verificationKeys.ts';

export interface JwtVerifierOptions {
  /** The clock `exp` and `nbf` are checked against; tests pass their own. */
  now?: () => Date;
}

/**
 * Verifies JWT bearer tokens with `jose`: signature against the configured keys, a JWK Set URL
 * or the issuer's OIDC discovery; `iss`, `aud`, `exp` (required) and `nbf` with the configured
 * skew; only the allowed asymmetric algorithms. Then reads the role and tenant claims.
 */
export class JwtVerifier {
  private readonly config: JwtConfig;
  private readonly now: () => Date;
  private keySet: JWTVerifyGetKey | undefined;
  /** The discovery in flight or done, shared by concurrent requests. */
  private discovery: Promise<JWTVerifyGetKey> | undefined;
  private discoveryFailedAt = -Infinity;

  constructor(config: JwtConfig, opts: JwtVerifierOptions = {}) {
    this.config = config;
    this.now = opts.now ?? (() => new Date());
    if (config.keys) this.keySet = createLocalJWKSet({ keys: config.keys.flatMap((k) => parseVerificationKeys(k)) });
    else if (config.jwks_url) this.keySet = this.remoteKeySet(config.jwks_url);
  }

  get issuer(): string {
    return this.config.issuer;
  }

  /** Timeout of each request to the identity provider, in ms. */
  get fetchTimeout(): number {
    return this.config.fetch_timeout;
  }

  async verify(token: string): Promise<Principal> {
    return this.principalOf(await this.verifiedPayload(token));
  }

  /**
   * An ID token the console's sign-in received (OpenID Connect Core §3.1.3.7): verified as any
   * token, with `aud` the client id this verifier was made for, and its `nonce` the one the
   * sign-in sent; a token for several audiences names this client as `azp`.
   */
  async verifyIdToken(token: string, nonce: string): Promise<{ principal: Principal; expiresAt: number }> {
    const payload = await this.verifiedPayload(token);
    if (payload.nonce !== nonce)
      throw new AuthenticationError("the ID token's nonce is not this sign-in's", 'nonce_mismatch');
    if (Array.isArray(payload.aud) && payload.aud.length > 1 && !this.config.audience.includes(String(payload.azp)))
      throw new AuthenticationError('the ID token names several audiences and another party as azp', 'invalid_claims');
    return { principal: this.principalOf(payload), expiresAt: payload.exp! * 1000 };
  }

  private async verifiedPayload(token: string): Promise<JWTPayload> {
    // Garbage is refused as such before any key is fetched: it must not wait on, or count against, the provider.
    try {
      decodeProtectedHeader(token);
    } catch {
      throw new AuthenticationError('token is not a valid signed JWT', 'malformed');
    }
    const keys = this.keySet ?? (await this.discover());
    const { config } = this;
    const options: JWTVerifyOptions = {
      issuer: config.issuer,
      audience: config.audience,
      algorithms: [...config.algorithms],
      clockTolerance: Math.floor(config.clock_skew / 1000),
      requiredClaims: ['exp'],
      currentDate: this.now(),
    };
    try {
      return await verifyTryingEachKey(token, keys, options);
    } catch (err) {
      throw failureFor(err);
    }
  }

  private principalOf(payload: JWTPayload): Principal {
    return {
      subject: typeof payload.sub === 'string' ? payload.sub : 'unknown',
      role: this.roleOf(payload),
      ...this.tenantOf(payload),
      method: 'jwt',
    };
  }

  /**
   * jose's remote key set, made to ride out a provider outage: when a refresh fails, the keys
   * fetched last keep verifying (jose alone would refuse every token once the cache aged), and
   * the provider is asked again at most once per cooldown (jose alone would ask at every request).
   */
  private remoteKeySet(url: string): JWTVerifyGetKey {
    const { jwks_cache_max_age, jwks_refresh_cooldown, fetch_timeout } = this.config;
    const remote = createRemoteJWKSet(new URL(url), {
      cacheMaxAge: jwks_cache_max_age,
      cooldownDuration: jwks_refresh_cooldown,
      timeoutDuration: fetch_timeout,
    });
    let failedAt = -Infinity;
    let stale: JWTVerifyGetKey | undefined;
    return async (header, token) => {
      if (stale && Date.now() - failedAt < jwks_refresh_cooldown) return stale(header, token);
      try {
        const key = await remote(header, token);
        stale = undefined;
        return key;
      } catch (err) {
        if (
          err instanceof errors.JWKSNoMatchingKey ||
          err instanceof errors.JWKSMultipleMatchingKeys ||
          err instanceof errors.JOSENotSupported
        )
          throw err;
        failedAt = Date.now();
        const jwks = remote.jwks();
        stale = jwks ? createLocalJWKSet(jwks) : undefined;
        if (stale) return stale(header, token);
        throw err;
      }
    };
  }

  /**
   * OIDC discovery, once: `<issuer>/.well-known/openid-configuration` names `jwks_uri`. A failure
   * is remembered for `jwks_refresh_cooldown`, so a down identity provider is not asked again for
   * every request meanwhile.
   */
  private discover(): Promise<JWTVerifyGetKey> {
    if (this.discovery) return this.discovery;
    if (Date.now() - this.discoveryFailedAt < this.config.jwks_refresh_cooldown) {
      return Promise.reject(
        new AuthenticationUnavailableError("the identity provider's OIDC discovery failed recently; retry later"),
      );
    }
    this.discovery = this.fetchDiscovery().then(
      (jwksUri) => (this.keySet = this.remoteKeySet(jwksUri)),
      (err: unknown) => {
        this.discovery = undefined;
        this.discoveryFailedAt = Date.now();
        throw new AuthenticationUnavailableError(
          `OIDC discovery at ${discoveryUrl(this.config.issuer)} failed: ${(err as Error).message}; retry later`,
        );
      },
    );
    return this.discovery;
  }

  private async fetchDiscovery(): Promise<string> {
    const res = await fetch(discoveryUrl(this.config.issuer), {
      redirect: 'error',
      signal: AbortSignal.timeout(this.config.fetch_timeout),
      headers: { accept: 'application/json' },
    });
    if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
    const doc = (await res.json()) as { issuer?: unknown; jwks_uri?: unknown };
    // OpenID Connect Discovery 1.0 §4.3: the document must name the issuer it was fetched for.
    if (doc.issuer !== this.config.issuer)
      throw new Error(
        `the document names issuer ${JSON.stringify(doc.issuer)}, not ${JSON.stringify(this.config.issuer)}`,
      );
    if (typeof doc.jwks_uri !== 'string') throw new Error('the document has no jwks_uri');
    const problem = keySourceProblem(doc.jwks_uri);
    if (problem) throw new Error(`its jwks_uri ${problem}`);
    return doc.jwks_uri;
  }

  private roleOf(payload: JWTPayload): Role {
    const { roles_claim, role_mapping, default_role } = this.config;
    const value = claimAt(payload, roles_claim);
    const values =
      typeof value === 'string'
        ? [value]
        : Array.isArray(value)
          ? value.filter((v): v is string => typeof v === 'string')
          : [];
    let best = -1;
    for (const v of values) {
      const role = role_mapping[v] ?? (roles.includes(v as Role) ? (v as Role) : undefined);
      if (role) best = Math.max(best, roles.indexOf(role));
    }
    if (best >= 0) return roles[best]!;
    if (default_role) return default_role;
    throw new AuthenticationError(
      `the token's "${roles_claim}" claim names no Vigil role (and no default_role is configured)`,
      'no_role',
    );
  }

  private tenantOf(payload: JWTPayload): { tenant?: string } {
    const claim = this.config.tenant_claim;
    if (!claim) return {};
    const value = claimAt(payload, claim);
    if (value === undefined) return {};
    if (typeof value !== 'string' || value === '')
      throw new AuthenticationError(`the token's "${claim}" claim must be a non-empty string`, 'invalid_claims');
    return { tenant: value };
  }
}

export function discoveryUrl(issuer: string): string {
  return `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
}

/** A claim by dotted path: the whole name first (`https://example.com/role`), then nested objects. */
function claimAt(payload: JWTPayload, path: string): unknown {
  if (path in payload) return payload[path];
  let at: unknown = payload;
  for (const part of path.split('.')) {
    if (!at || typeof at !== 'object' || Array.isArray(at)) return undefined;
    at = (at as Record<string, unknown>)[part];
  }
  return at;
}

/**
 * A key set without `kid`s may hold several keys of the token's type; jose then hands back
 * every candidate and each is tried, as its documentation advises.
 */
async function verifyTryingEachKey(
  token: string,
  keys: JWTVerifyGetKey,
  options: JWTVerifyOptions,
): Promise<JWTPayload> {
  try {
    return (await jwtVerify(token, keys, options)).payload;
  } catch (err) {
    if (!(err instanceof errors.JWKSMultipleMatchingKeys)) throw err;
    for await (const key of err as unknown as AsyncIterable<KeyObject>) {
      try {
        return (await jwtVerify(token, key, options)).payload;
      } catch (e) {
        if (!(e instanceof errors.JWSSignatureVerificationFailed)) throw e;
      }
    }
    throw new errors.JWSSignatureVerificationFailed();
  }
}

/** jose's error as the 401 (or 503) to answer, with a reason for the failures metric. */
function failureFor(err: unknown): Error {
  if (err instanceof AuthenticationError || err instanceof AuthenticationUnavailableError) return err;
  if (err instanceof errors.JWTExpired) return new AuthenticationError('token expired', 'expired');
  if (err instanceof errors.JWTClaimValidationFailed) {
    const byClaim: Record<string, [string, string]> = {
      nbf: ['token not valid yet (nbf)', 'not_yet_valid'],
      iss: ['token from another issuer', 'wrong_issuer'],
      aud: ['token for another audience', 'wrong_audience'],
    };
    const [message, reason] = byClaim[err.claim] ?? [
      `token claim "${err.claim}" is invalid: ${err.reason}`,
      'invalid_claims',
    ];
    return new AuthenticationError(message, reason);
  }
  if (err instanceof errors.JOSEAlgNotAllowed)
    return new AuthenticationError('token signature algorithm not allowed', 'algorithm_not_allowed');
  if (err instanceof errors.JWSSignatureVerificationFailed)
    return new AuthenticationError('token signature does not verify', 'bad_signature');
  if (err instanceof errors.JWKSNoMatchingKey)
    return new AuthenticationError('token signed by an unknown key', 'unknown_key');
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid || err instanceof errors.JOSENotSupported)
    return new AuthenticationError('token is not a valid signed JWT', 'malformed');
  // The key set could not be fetched (timeout, refused connection, non-200, not a JWK Set).
  return new AuthenticationUnavailableError(
    `the identity provider's keys cannot be fetched: ${(err as Error).message}; retry later`,
  );
}
