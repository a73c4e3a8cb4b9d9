import {
  duration,
  list,
  literalUnion,
  obj,
  optional,
  record,
  refine,
  str,
  url,
  type ConfigIssue,
  type Infer,
  type Schema,
} from '../../config/schema.ts';
import { parseVerificationKeys } from './verificationKeys.ts';
import { roles, type Role } from './principal.ts';

/**
 * Asymmetric signature algorithms only: a verifier holding a public key must never accept an
 * HMAC (HS*) token, which anyone holding that same public key could sign (the HS/RS
 * confusion), nor an unsigned one (`alg: none`).
 */
export const SIGNATURE_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/** Keys fetched in clear from elsewhere than this machine could be swapped on the way: https, or http to localhost only (a local identity provider, tests). */
export function keySourceProblem(u: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(u);
  } catch {
    return `must be a URL, got ${JSON.stringify(u)}`;
  }
  return parsed.protocol === 'https:' || (parsed.protocol === 'http:' && LOOPBACK.has(parsed.hostname))
    ? undefined
    : `must be an https URL (http only to localhost), got ${JSON.stringify(u)}`;
}

function keySourceUrl(doc: string): Schema<string | undefined> {
  return optional(
    refine(
      url({ doc }),
      (u) => {
        const problem = keySourceProblem(u);
        return problem ? { path: '', message: problem } : undefined;
      },
      'An https URL (http only to localhost).',
    ),
  );
}

const roleSchema = (doc?: string) => literalUnion(roles as readonly Role[], { doc });

const jwtSchema = refine(
  obj(
    {
      issuer: str({
        nonEmpty: true,
        doc: 'Expected `iss` of every token, exactly as the identity provider writes it. Without `keys` or `jwks_url`, the keys are found by OIDC discovery: `<issuer>/.well-known/openid-configuration` names the `jwks_uri`.',
      }),
      audience: list(str({ nonEmpty: true }), {
        minItems: 1,
        doc: 'Accepted `aud` values; a token must name at least one of them.',
      }),
      keys: optional(
        list(str({ nonEmpty: true }), {
          minItems: 1,
          doc: 'Verification keys instead of fetching them: each a PEM public key or certificate, a JWK or a JWK Set (JSON). Keep them in files: `"${file:/etc/vigil/idp.pem}"`.',
        }),
      ),
      jwks_url: keySourceUrl(
        'Where the JWK Set is fetched, instead of OIDC discovery (https; http only to localhost).',
      ),
      algorithms: list(literalUnion(SIGNATURE_ALGORITHMS), {
        default: ['RS256', 'PS256', 'ES256', 'EdDSA'],
        minItems: 1,
        doc: 'Signature algorithms accepted (asymmetric only: `none` and HMAC HS* are never accepted, so a token signed with the public key as an HMAC secret is refused).',
      }),
      clock_skew: duration({ default: '30s', doc: 'Tolerance on `exp` and `nbf` for clocks that disagree.' }),
      jwks_cache_max_age: duration({
        default: '10m',
        positive: true,
        doc: 'How long fetched keys are used before they are fetched again. When that fetch fails, they keep verifying tokens, and the provider is asked again after `jwks_refresh_cooldown`.',
      }),
      jwks_refresh_cooldown: duration({
        default: '30s',
        doc: 'A token signed by an unknown key (`kid`) makes the key set be fetched again, at most once per this interval, so rotated keys are taken without a restart and forged `kid`s cannot flood the identity provider.',
      }),
      fetch_timeout: duration({
        default: '5s',
        positive: true,
        doc: 'Timeout of each discovery and JWK Set request; meanwhile requests wait, then get 503 / UNAVAILABLE.',
      }),
      roles_claim: str({
        default: 'vigil_role',
        nonEmpty: true,
        doc: 'Claim holding the role: a string or a list of strings; a dotted path reaches into objects (`realm_access.roles`). With several values, the highest role wins.',
      }),
      role_mapping: record(roleSchema(), {
        doc: 'Claim value → role (`viewer`, `operator`, `admin`). Values not listed are taken as role names when they are one.',
      }),
      default_role: optional(
        roleSchema('Role of a token whose roles claim maps to no role; absent, such a token is refused (401).'),
      ),
      tenant_claim: optional(
        str({
          nonEmpty: true,
          doc: 'Claim naming the tenant whose data the caller sends and sees (dotted path allowed). Absent, or absent from a token: no tenant (the default one).',
        }),
      ),
    },
    { doc: 'Accept JWT bearer tokens from an identity provider (OIDC).' },
  ),
  (c) => {
    const issues: ConfigIssue[] = [];
    if (c.keys && c.jwks_url) issues.push({ path: 'jwks_url', message: 'give keys or jwks_url, not both' });
    c.keys?.forEach((text, i) => {
      try {
        parseVerificationKeys(text);
      } catch (err) {
        issues.push({ path: `keys[${i}]`, message: (err as Error).message });
      }
    });
    const problem = c.keys || c.jwks_url ? undefined : keySourceProblem(c.issuer);
    if (problem)
      issues.push({
        path: 'issuer',
        message: `${problem} (OIDC discovery fetches the keys from it; or give keys or jwks_url)`,
      });
    return issues;
  },
  '`keys` or `jwks_url`, not both, each key parses; without either, `issuer` is an https URL keys can be discovered from.',
);

const apiKeysSchema = obj(
  {
    file: optional(
      str({
        nonEmpty: true,
        doc: 'The keys file `vigil apikey` writes (SHA-256 hashes, never the keys). Default: `apikeys.json` in the data dir.',
      }),
    ),
  },
  { doc: 'Accept API keys (`vgk_…`) made by `vigil apikey create`. Write `api_keys: {}` for the default file.' },
);

export const authenticatorSchema = refine(
  obj({
    jwt: optional(jwtSchema),
    api_keys: optional(apiKeysSchema),
  }),
  (c) => (c.jwt || c.api_keys ? undefined : { path: '', message: 'configure jwt, api_keys or both' }),
  'At least one of `jwt` and `api_keys`.',
);

export type AuthenticatorConfig = Infer<typeof authenticatorSchema>;
export type JwtConfig = NonNullable<AuthenticatorConfig['jwt']>;
