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
import { FakeHttpServer } from './server.ts';

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

/**
 * An OpenID provider as far as a relying party sees it: the discovery document at
 * `/.well-known/openid-configuration` naming `/jwks`, and the JWK Set of the keys it currently
 * publishes (a test rotates them with `publish`). Tokens are signed with `jose`, as a real
 * provider would sign them.
 */
export class FakeOidcProvider {
  readonly server: FakeHttpServer;
  private published: SigningKey[] = [];

  constructor() {
    this.server = new FakeHttpServer((req) => {
      if (req.path === '/.well-known/openid-configuration')
        return {
          status: 200,
          body: {
            issuer: this.issuer,
            jwks_uri: `${this.issuer}/jwks`,
            id_token_signing_alg_values_supported: ['RS256', 'ES256'],
          },
        };
      if (req.path === '/jwks') return { status: 200, body: { keys: this.published.map((k) => k.publicJwk) } };
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

  jwksFetches(): number {
    return this.server.requests.filter((r) => r.path === '/jwks').length;
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
