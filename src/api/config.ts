import { endpoint, literalUnion, obj, optional, type Infer } from '../config/schema.ts';
import { httpServerLimitFields } from '../receivers/http/serverConfig.ts';
import { tlsServerSchema } from '../receivers/http/tlsConfig.ts';

export const apiSchema = obj(
  {
    endpoint: endpoint({ default: '127.0.0.1:8081', doc: 'Where the operators\' API listens (`/api/v1/…`, `/openapi.json`, `/docs`). Its own listener: never shared with receivers.' }),
    tls: optional(tlsServerSchema),
    anonymous_role: literalUnion(['viewer', 'operator', 'admin'], {
      default: 'viewer',
      doc: 'The role of every request while no authenticator is configured: `viewer` reads, `operator` also acknowledges, resolves, reopens, comments and assigns, `admin` also manages. Keep the listener on loopback unless an authenticator guards it.',
    }),
    ...httpServerLimitFields,
  },
  { doc: 'The operators\' API (docs/api.md): incidents over REST, with OpenAPI. Served only when this section is present (`api: {}` takes the defaults).' },
);

export type ApiConfig = Infer<typeof apiSchema>;
