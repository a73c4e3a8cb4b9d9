import { duration, list, literalUnion, obj, optional, refine, str, url, type Infer } from '../config/schema.ts';
import { insecureSkipVerify, tlsClientFiles } from '../config/tls.ts';

const hostPort = /^(?:\[[^\]]+\]|[^:\s]+):\d{1,5}$/;

const redisTlsSchema = obj(
  {
    ...tlsClientFiles,
    server_name: optional(
      str({ doc: 'Name checked against the server certificate when it differs from the host connected to.' }),
    ),
    insecure_skip_verify: insecureSkipVerify('it allows a man in the middle'),
  },
  { doc: 'TLS to Redis (also implied by a `rediss://` url).' },
);

export const redisStateSchema = refine(
  obj(
    {
      store: literalUnion(['memory', 'redis'], {
        default: 'memory',
        doc: '`memory`: each agent correlates alone, its state kept on disk in `<data dir>/correlation/` across restarts. `redis`: agents sharing one Redis correlate as one.',
      }),
      url: url({
        protocols: ['redis:', 'rediss:'],
        default: 'redis://127.0.0.1:6379',
        doc: 'Standalone Redis: `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS.',
      }),
      prefix: str({
        default: 'vigil',
        pattern: /^[A-Za-z0-9_.:-]+$/,
        patternHint: 'letters, digits and _ . : - (no braces: they delimit hash tags)',
        doc: 'Prefix of every key and channel: one per deployment sharing a Redis.',
      }),
      agent_id: optional(
        str({ doc: 'Names this agent in shared state (last-writer ties, leases). Default (or empty): the host name.' }),
      ),
      flush_interval: duration({
        default: '100ms',
        doc: 'How often local writes, pre-aggregated, are flushed to Redis in one pipeline.',
      }),
      ttl_grace: duration({
        default: '1m',
        doc: "Added to every key's time-to-live beyond its window, so agents with skewed clocks still find it.",
      }),
      lease_ttl: duration({
        default: '10s',
        doc: 'Leadership lease (once-only timers) and ticket-claim leases: how long a dead agent holds them.',
      }),
      connect_timeout: duration({ default: '5s', doc: 'Time to establish a connection before retrying.' }),
      username: optional(str({ doc: "ACL user name (Redis 6+); overrides the url's unless empty." })),
      password: optional(str({ doc: "Password; overrides the url's unless empty. Use `${env:REDIS_PASSWORD}`." })),
      tls: optional(redisTlsSchema),
      sentinel: optional(
        obj(
          {
            name: str({ nonEmpty: true, doc: "The monitored master's name." }),
            nodes: list(str({ pattern: hostPort, patternHint: 'host:port' }), {
              minItems: 1,
              doc: 'Sentinels, `host:port`.',
            }),
            username: optional(str({ doc: 'ACL user for the sentinels.' })),
            password: optional(str({ doc: 'Password for the sentinels.' })),
          },
          { doc: 'Find the master through Redis Sentinel instead of `url` (whose credentials and db still apply).' },
        ),
      ),
      cluster: optional(
        obj(
          {
            nodes: list(str({ pattern: hostPort, patternHint: 'host:port' }), {
              minItems: 1,
              doc: 'Some nodes of the cluster, `host:port`; the rest are discovered.',
            }),
          },
          { doc: "Redis Cluster instead of `url`. Each rule's keys share one hash slot, so its updates stay atomic." },
        ),
      ),
    },
    { doc: 'Where correlation state lives.' },
  ),
  (c) =>
    c.sentinel && c.cluster
      ? { path: 'cluster', message: 'cannot be set together with sentinel; choose one topology' }
      : undefined,
  '`sentinel` and `cluster` exclude each other.',
);

export type RedisStateConfig = Infer<typeof redisStateSchema>;
