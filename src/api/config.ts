import {
  endpoint,
  list,
  literalUnion,
  obj,
  optional,
  refine,
  str,
  url,
  type ConfigIssue,
  type Infer,
} from '../config/schema.ts';
import { httpServerLimitFields } from '../receivers/http/serverConfig.ts';
import { tlsServerSchema } from '../config/tls.ts';

const oidcSignInSchema = refine(
  obj(
    {
      client_id: str({
        nonEmpty: true,
        doc: "The console's client id at the identity provider: the `aud` of the ID tokens it issues to the console.",
      }),
      client_secret: optional(
        str({
          nonEmpty: true,
          doc: 'The client secret of a confidential client (sent with HTTP Basic to the token endpoint); absent, the client is public and PKCE alone binds the code. Keep it out of the file: `"${env:VIGIL_OIDC_CLIENT_SECRET}"`.',
        }),
      ),
      redirect_url: optional(
        url({
          doc: "The sign-in callback as the browser reaches it, registered at the identity provider: `https://vigil.example.com/ui/auth/callback`. Absent: `/ui/auth/callback` on the request's own host (http, or https with `tls`), which is right unless a proxy stands in front.",
        }),
      ),
      scopes: list(str({ nonEmpty: true }), {
        default: ['openid', 'profile'],
        doc: 'Scopes asked for; `openid` is required. Add the ones that put the roles and tenant claims into the ID token (e.g. `groups`).',
      }),
    },
    {
      doc: "Console sign-in with OpenID Connect (authorization code with PKCE, S256) against the issuer of the authenticator's `jwt`, which verifies the ID token and maps its claims to role and tenant. The session is an HttpOnly cookie (docs/console.md).",
    },
  ),
  (c) => (c.scopes.includes('openid') ? undefined : { path: 'scopes', message: 'must include openid' }),
  '`scopes` includes `openid`.',
);

export const apiSchema = obj(
  {
    endpoint: endpoint({
      default: '127.0.0.1:8081',
      doc: "Where the operators' API listens (`/api/v1/…`, `/openapi.json`, `/docs`). Its own listener: never shared with receivers.",
    }),
    tls: optional(tlsServerSchema),
    auth: optional(
      obj(
        {
          authenticator: str({
            nonEmpty: true,
            doc: "Id of an authenticator extension (listed in service.extensions). Its token or API key gives the caller's role and tenant.",
          }),
          oidc: optional(oidcSignInSchema),
        },
        {
          doc: 'Require `Authorization: Bearer <token or API key>` on every `/api/` route (401 otherwise). Without it every caller is anonymous with `anonymous_role`.',
        },
      ),
    ),
    event_store: optional(
      str({
        nonEmpty: true,
        doc: 'Id of a clickhouse exporter (used by a pipeline) whose tables `/api/v1/events`, `/api/v1/events/histogram` and the ClickHouse parts of `/api/v1/stats/overview` read. Absent: those answer 503 `VIGIL_EVENTS_UNAVAILABLE`.',
      }),
    ),
    anonymous_role: literalUnion(['viewer', 'operator', 'admin'], {
      default: 'viewer',
      doc: 'The role of every request when `auth` is not set: `viewer` reads, `operator` also acknowledges, resolves, reopens, comments and assigns, `admin` also manages. Keep such a listener on loopback (or behind mTLS).',
    }),
    ...httpServerLimitFields,
  },
  {
    doc: "The operators' API (docs/api.md): incidents over REST, with OpenAPI. Served only when this section is present (`api: {}` takes the defaults).",
  },
);

export type ApiConfig = Infer<typeof apiSchema>;

/** Why `api.auth.oidc` cannot work with this authenticator: the console's sign-in verifies the provider's ID tokens with its `jwt:` settings. */
export function oidcWithoutJwtIssue(authenticator: string): ConfigIssue {
  return {
    path: 'api.auth.oidc',
    message: `the authenticator "${authenticator}" accepts no JWTs: give it jwt: with the identity provider's issuer, whose ID tokens the console's sign-in verifies`,
  };
}
