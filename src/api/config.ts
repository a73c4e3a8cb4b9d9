import { endpoint, literalUnion, obj, optional, str, type Infer } from '../config/schema.ts';
import { httpServerLimitFields } from '../receivers/http/serverConfig.ts';
import { tlsServerSchema } from '../config/tls.ts';

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
