import { createHash, randomBytes } from 'node:crypto';
import { VigilError } from '../../errors.ts';
import { discoveryUrl } from './jwtVerifier.ts';
import { keySourceProblem } from './config.ts';

export interface OidcClientConfig {
  issuer: string;
  clientId: string;
  clientSecret?: string;
  scopes: readonly string[];
  /** Timeout of each discovery and token request, in ms. */
  fetchTimeout: number;
}

/** What the browser is sent to the provider with, and what must be kept (in its cookie) to finish the sign-in. */
export interface AuthorizationRequest {
  url: string;
  state: string;
  nonce: string;
  /** The PKCE code verifier (RFC 7636 §4.1), whose S256 hash went to the provider as the challenge. */
  verifier: string;
}

/**
 * A sign-in that did not complete, with what the person (or the operator) can do about it. `reason`
 * is one word for logs: `state_mismatch`, `invalid_grant`, `invalid_client`, `provider_unavailable`…
 */
export class SignInError extends VigilError {
  readonly reason: string;
  constructor(message: string, reason: string) {
    super('VIGIL_SIGN_IN_FAILED', message);
    this.reason = reason;
  }
}

interface ProviderEndpoints {
  authorization_endpoint: string;
  token_endpoint: string;
}

/** 32 random bytes as base64url: 43 characters, within RFC 7636's 43–128 unreserved characters. */
const random = () => randomBytes(32).toString('base64url');

export function pkceChallenge(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

/**
 * The relying party's side of the authorization code flow with PKCE (OpenID Connect Core §3.1,
 * RFC 6749 §4.1, RFC 7636 S256): the authorization request, and the code exchanged for tokens at
 * the token endpoint, server to server. The endpoints come from the issuer's discovery document,
 * read once (again after a failure).
 */
export class OidcClient {
  private readonly config: OidcClientConfig;
  private endpoints: Promise<ProviderEndpoints> | undefined;

  constructor(config: OidcClientConfig) {
    this.config = config;
  }

  async authorizationRequest(redirectUri: string): Promise<AuthorizationRequest> {
    const { authorization_endpoint } = await this.discover();
    const req = { state: random(), nonce: random(), verifier: random() };
    const url = new URL(authorization_endpoint);
    const params = {
      response_type: 'code',
      client_id: this.config.clientId,
      redirect_uri: redirectUri,
      scope: this.config.scopes.join(' '),
      state: req.state,
      nonce: req.nonce,
      code_challenge: pkceChallenge(req.verifier),
      code_challenge_method: 'S256',
    };
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    return { url: url.href, ...req };
  }

  /** The code for the ID token (not yet verified: the caller checks it, with the nonce). */
  async exchangeCode(code: string, verifier: string, redirectUri: string): Promise<string> {
    const { token_endpoint } = await this.discover();
    const { clientId, clientSecret } = this.config;
    const form = new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: redirectUri,
      code_verifier: verifier,
    });
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    };
    // RFC 6749 §2.3.1: id and secret form-encoded before they are joined for HTTP Basic.
    if (clientSecret !== undefined)
      headers.authorization = `Basic ${Buffer.from(`${formEncode(clientId)}:${formEncode(clientSecret)}`).toString('base64')}`;
    else form.set('client_id', clientId);
    let res: Response;
    try {
      res = await fetch(token_endpoint, {
        method: 'POST',
        headers,
        body: form.toString(),
        redirect: 'error',
        signal: AbortSignal.timeout(this.config.fetchTimeout),
      });
    } catch (err) {
      throw new SignInError(
        `the identity provider's token endpoint cannot be reached (${(err as Error).message}); try again later`,
        'provider_unavailable',
      );
    }
    const body = (await res.json().catch(() => undefined)) as
      { error?: unknown; error_description?: unknown; id_token?: unknown } | undefined;
    if (res.status !== 200) throw tokenError(res.status, body);
    if (typeof body?.id_token !== 'string')
      throw new SignInError(
        'the identity provider answered without an ID token: api.auth.oidc.scopes must include openid',
        'no_id_token',
      );
    return body.id_token;
  }

  private discover(): Promise<ProviderEndpoints> {
    this.endpoints ??= this.fetchDiscovery().catch((err: unknown) => {
      this.endpoints = undefined;
      throw err;
    });
    return this.endpoints;
  }

  private async fetchDiscovery(): Promise<ProviderEndpoints> {
    const where = discoveryUrl(this.config.issuer);
    let doc: Record<string, unknown>;
    try {
      const res = await fetch(where, {
        redirect: 'error',
        signal: AbortSignal.timeout(this.config.fetchTimeout),
        headers: { accept: 'application/json' },
      });
      if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
      doc = (await res.json()) as Record<string, unknown>;
    } catch (err) {
      throw new SignInError(
        `OIDC discovery at ${where} failed (${(err as Error).message}); try again later`,
        'provider_unavailable',
      );
    }
    const problems: string[] = [];
    if (doc.issuer !== this.config.issuer) problems.push(`it names issuer ${JSON.stringify(doc.issuer)}`);
    for (const name of ['authorization_endpoint', 'token_endpoint'] as const) {
      const value = doc[name];
      const problem = typeof value === 'string' ? keySourceProblem(value) : 'is missing';
      if (problem) problems.push(`its ${name} ${problem}`);
    }
    const methods = doc.code_challenge_methods_supported;
    if (Array.isArray(methods) && !methods.includes('S256')) problems.push('it does not support PKCE with S256');
    if (problems.length)
      throw new SignInError(
        `the identity provider's discovery document at ${where} cannot be used: ${problems.join('; ')}`,
        'provider_misconfigured',
      );
    return doc as unknown as ProviderEndpoints;
  }
}

function formEncode(s: string): string {
  return new URLSearchParams({ s }).toString().slice(2);
}

/** RFC 6749 §5.2's error codes, as what they mean to the person signing in or to the operator. */
function tokenError(status: number, body: { error?: unknown; error_description?: unknown } | undefined): SignInError {
  const code = typeof body?.error === 'string' ? body.error : `HTTP ${status}`;
  const said = `${code}${typeof body?.error_description === 'string' ? `: ${body.error_description}` : ''}`;
  switch (code) {
    case 'invalid_grant':
      return new SignInError(
        `the identity provider refused the sign-in code (${said}): it was used already, expired, or was not issued to this browser's sign-in; sign in again`,
        'invalid_grant',
      );
    case 'invalid_client':
    case 'unauthorized_client':
      return new SignInError(
        `the identity provider refused Vigil's client credentials (${said}): check api.auth.oidc.client_id and client_secret`,
        code,
      );
    default:
      return new SignInError(
        `the identity provider's token endpoint refused the sign-in (${said})`,
        status >= 500 ? 'provider_unavailable' : 'token_refused',
      );
  }
}
