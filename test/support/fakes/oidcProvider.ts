import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  exportJWK,
  exportSPKI,
  generateKeyPair,
  SignJWT,
  UnsecuredJWT,
  type CryptoKey,
  type JWK,
  type JWTPayload,
} from 'jose';
import { FakeHttpServer, type RecordedRequest, type Reply } from './server.ts';

export interface SigningKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
  /** The public key as SPKI PEM, as an operator would paste it into `keys`. */
  publicPem: string;
}

export async function newSigningKey(kid: string, alg = 'RS256'): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicJwk, publicPem: await exportSPKI(publicKey) };
}

/** A client registered with the provider: a public one has no secret (it proves itself by PKCE alone). */
export interface RegisteredClient {
  clientId: string;
  clientSecret?: string;
  redirectUris: string[];
}

/** An authorization code as the provider remembers it: what it was issued for, and whether it was redeemed. */
interface IssuedCode {
  clientId: string;
  redirectUri: string;
  challenge: string;
  nonce: string | undefined;
  claims: JWTPayload;
  expiresAt: number;
  used: boolean;
}

/** RFC 7636 §4.1: 43 to 128 characters of the unreserved set. */
const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * An OpenID provider as far as a relying party sees it: the discovery document at
 * `/.well-known/openid-configuration`, the JWK Set of the keys it currently publishes (a test
 * rotates them with `publish`), and the authorization code flow with PKCE (OpenID Connect Core
 * §3.1, RFC 6749 §4.1, RFC 7636): `/authorize` signs in `user` at once (no login page) and
 * redirects back with a code bound to the client, the redirect URI and the S256 challenge;
 * `/token` redeems a code once, checking the client's credentials and the code verifier, and
 * answers errors as RFC 6749 §5.2 spells them. Tokens are signed with `jose`, as a real
 * provider would sign them.
 */
export class FakeOidcProvider {
  readonly server: FakeHttpServer;
  private published: SigningKey[] = [];
  private readonly clients = new Map<string, RegisteredClient>();
  private readonly codes = new Map<string, IssuedCode>();
  /** Whom `/authorize` signs in (their claims go into the ID token); undefined: the user declines (`access_denied`). */
  user: JWTPayload | undefined = { sub: 'alice' };
  /** Lifetime of the ID tokens `/token` issues, in seconds (negative: already expired). */
  idTokenTtl = 3600;
  /** Lifetime of an authorization code, in ms (RFC 6749 §4.1.2 recommends at most 10 minutes). */
  codeTtl = 60_000;
  /** The provider's clock, in ms. */
  now: () => number = () => Date.now();
  /** Claims written over each ID token's, to make a provider that misbehaves. */
  idTokenOverrides: JWTPayload = {};

  constructor() {
    this.server = new FakeHttpServer((req) => {
      if (req.path === '/.well-known/openid-configuration')
        return {
          status: 200,
          body: {
            issuer: this.issuer,
            jwks_uri: `${this.issuer}/jwks`,
            authorization_endpoint: `${this.issuer}/authorize`,
            token_endpoint: `${this.issuer}/token`,
            response_types_supported: ['code'],
            grant_types_supported: ['authorization_code'],
            subject_types_supported: ['public'],
            code_challenge_methods_supported: ['S256'],
            token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
            id_token_signing_alg_values_supported: ['RS256', 'ES256'],
          },
        };
      if (req.path === '/jwks') return { status: 200, body: { keys: this.published.map((k) => k.publicJwk) } };
      if (req.path === '/authorize' && req.method === 'GET') return this.authorize(req);
      if (req.path === '/token') return this.token(req);
      return { status: 404 };
    });
  }

  async start(...keys: SigningKey[]): Promise<this> {
    await this.server.listen();
    this.published = keys;
    return this;
  }

  get issuer(): string {
    return this.server.url;
  }

  /** Replaces the published key set (a key rotation). */
  publish(...keys: SigningKey[]): void {
    this.published = keys;
  }

  register(client: RegisteredClient): this {
    this.clients.set(client.clientId, client);
    return this;
  }

  jwksFetches(): number {
    return this.server.requests.filter((r) => r.path === '/jwks').length;
  }

  /** The token requests received, with their form fields. */
  tokenRequests(): URLSearchParams[] {
    return this.server.requests.filter((r) => r.path === '/token').map((r) => new URLSearchParams(r.body));
  }

  /** The authorization requests received, with their query. */
  authorizeRequests(): URLSearchParams[] {
    return this.server.requests.filter((r) => r.path === '/authorize').map((r) => r.query);
  }

  /** A token valid for an hour from `now`, for `audience`, with `claims` on top; `header` overrides the protected header. */
  async sign(
    key: SigningKey,
    claims: JWTPayload = {},
    opts: { audience?: string; now?: number; header?: Record<string, unknown> } = {},
  ): Promise<string> {
    const now = opts.now ?? Math.floor(Date.now() / 1000);
    return new SignJWT({
      sub: 'alice',
      iss: this.issuer,
      aud: opts.audience ?? 'vigil',
      iat: now,
      exp: now + 3600,
      ...claims,
    })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...opts.header })
      .sign(key.privateKey);
  }

  async close(): Promise<void> {
    await this.server.close();
  }

  /**
   * RFC 6749 §4.1.2.1: an unknown client or a redirect URI not registered is told to the user,
   * never redirected to (that would make the provider an open redirector); any other error goes
   * back to the client in the redirect, with its state.
   */
  private authorize(req: RecordedRequest): Reply {
    const q = req.query;
    const client = this.clients.get(q.get('client_id') ?? '');
    if (!client) return { status: 400, body: 'unknown client_id' };
    const redirectUri = q.get('redirect_uri') ?? '';
    if (!client.redirectUris.includes(redirectUri))
      return { status: 400, body: 'redirect_uri is not registered for this client' };
    const back = (params: Record<string, string>): Reply => {
      const to = new URL(redirectUri);
      for (const [k, v] of Object.entries(params)) to.searchParams.set(k, v);
      const state = q.get('state');
      if (state !== null) to.searchParams.set('state', state);
      to.searchParams.set('iss', this.issuer);
      return { status: 302, headers: { location: to.href } };
    };
    if (q.get('response_type') !== 'code')
      return back({ error: 'unsupported_response_type', error_description: 'only response_type=code' });
    if (!(q.get('scope') ?? '').split(' ').includes('openid'))
      return back({ error: 'invalid_scope', error_description: 'scope must include openid' });
    const challenge = q.get('code_challenge');
    if (!challenge) return back({ error: 'invalid_request', error_description: 'PKCE is required: code_challenge' });
    if (q.get('code_challenge_method') !== 'S256')
      return back({ error: 'invalid_request', error_description: 'code_challenge_method must be S256' });
    if (!this.user) return back({ error: 'access_denied', error_description: 'the user declined' });
    const code = randomBytes(24).toString('base64url');
    this.codes.set(code, {
      clientId: client.clientId,
      redirectUri,
      challenge,
      nonce: q.get('nonce') ?? undefined,
      claims: this.user,
      expiresAt: this.now() + this.codeTtl,
      used: false,
    });
    return back({ code });
  }

  private async token(req: RecordedRequest): Promise<Reply> {
    // RFC 6749 §5.1 and §5.2: JSON, never cached.
    const answer = (status: number, body: object, headers: Record<string, string> = {}): Reply => ({
      status,
      headers: { 'cache-control': 'no-store', pragma: 'no-cache', ...headers },
      body,
    });
    const error = (status: number, code: string, description: string, headers?: Record<string, string>) =>
      answer(status, { error: code, error_description: description }, headers);
    if (req.method !== 'POST') return error(400, 'invalid_request', 'the token endpoint takes POST');
    if (!(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded'))
      return error(400, 'invalid_request', 'the body must be application/x-www-form-urlencoded');
    const form = new URLSearchParams(req.body);
    const client = this.authenticateClient(req, form);
    if (typeof client === 'string')
      return error(
        401,
        'invalid_client',
        client,
        req.headers.authorization ? { 'www-authenticate': 'Basic realm="token"' } : {},
      );
    if (form.get('grant_type') !== 'authorization_code')
      return error(400, 'unsupported_grant_type', 'only authorization_code');
    const code = form.get('code') ?? '';
    const issued = this.codes.get(code);
    if (!issued || issued.clientId !== client.clientId)
      return error(400, 'invalid_grant', 'the code is unknown or was issued to another client');
    if (issued.used) return error(400, 'invalid_grant', 'the code was used already');
    issued.used = true;
    if (this.now() > issued.expiresAt) return error(400, 'invalid_grant', 'the code expired');
    if (form.get('redirect_uri') !== issued.redirectUri)
      return error(400, 'invalid_grant', 'redirect_uri differs from the authorization request');
    const verifier = form.get('code_verifier') ?? '';
    if (!VERIFIER.test(verifier)) return error(400, 'invalid_grant', 'code_verifier is missing or malformed');
    if (!same(createHash('sha256').update(verifier).digest('base64url'), issued.challenge))
      return error(400, 'invalid_grant', 'code_verifier does not match the code challenge');
    const key = this.published[0];
    if (!key) return error(500, 'server_error', 'no signing key');
    const now = Math.floor(this.now() / 1000);
    const idToken = await this.sign(
      key,
      {
        ...issued.claims,
        iat: now,
        auth_time: now,
        exp: now + this.idTokenTtl,
        ...(issued.nonce !== undefined ? { nonce: issued.nonce } : {}),
        ...this.idTokenOverrides,
      },
      { audience: client.clientId, now },
    );
    return answer(200, {
      access_token: randomBytes(24).toString('base64url'),
      token_type: 'Bearer',
      expires_in: 300,
      scope: 'openid',
      id_token: idToken,
    });
  }

  /** RFC 6749 §2.3.1: HTTP Basic (form-encoded id and secret), or both in the body; a public client names itself only. */
  private authenticateClient(req: RecordedRequest, form: URLSearchParams): RegisteredClient | string {
    let id = form.get('client_id') ?? undefined;
    let secret = form.get('client_secret') ?? undefined;
    const basic = /^Basic (\S+)$/i.exec(req.headers.authorization ?? '');
    if (basic) {
      if (secret !== undefined) return 'more than one client authentication method';
      const [u, p] = Buffer.from(basic[1]!, 'base64').toString('utf8').split(':');
      id = decodeURIComponent((u ?? '').replace(/\+/g, ' '));
      secret = decodeURIComponent((p ?? '').replace(/\+/g, ' '));
    }
    const client = this.clients.get(id ?? '');
    if (!client) return 'unknown client';
    if (client.clientSecret === undefined) return secret === undefined ? client : 'a public client has no secret';
    if (secret === undefined) return 'client authentication required';
    return same(secret, client.clientSecret) ? client : 'client authentication failed';
  }
}

/**
 * Tokens a verifier configured for `idp` (audience `vigil`) must refuse, each with the reason
 * it should count: every one carries `claims` so that only its one defect is wrong.
 */
export async function tokensToRefuse(
  idp: FakeOidcProvider,
  key: SigningKey,
  claims: JWTPayload = {},
): Promise<[token: string, reason: string][]> {
  const now = Math.floor(Date.now() / 1000);
  const other = await newSigningKey(key.kid, key.alg);
  const forged = { sub: 'mallory', iss: idp.issuer, aud: 'vigil', exp: now + 600, ...claims };
  // The HS/RS confusion: HMAC-signed with the provider's public key, which anyone can download, as the secret.
  const hsWithPublicKey = await new SignJWT(forged)
    .setProtectedHeader({ alg: 'HS256', kid: key.kid })
    .sign(new TextEncoder().encode(key.publicPem));
  return [
    [await idp.sign(key, { ...claims, exp: now - 120 }), 'expired'],
    [await idp.sign(key, { ...claims, nbf: now + 600 }), 'not_yet_valid'],
    [await idp.sign(key, claims, { audience: 'someone-else' }), 'wrong_audience'],
    [await idp.sign(key, { ...claims, iss: 'https://evil.example.com' }), 'wrong_issuer'],
    [await idp.sign(other, claims), 'bad_signature'],
    [new UnsecuredJWT(forged).encode(), 'algorithm_not_allowed'],
    [hsWithPublicKey, 'algorithm_not_allowed'],
    [await idp.sign(key, { ...claims, exp: undefined }), 'invalid_claims'],
    ['not-a-jwt', 'malformed'],
  ];
}
