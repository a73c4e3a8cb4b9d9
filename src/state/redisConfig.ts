import { hostname } from 'node:os';
import {
  duration,
  int,
  list,
  literalUnion,
  obj,
  optional,
  refine,
  str,
  url,
  type ConfigIssue,
  type Infer,
  type Schema,
} from '../config/schema.ts';
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

/** The connection to one Redis deployment, and how agents share state through it: a `redis_state` extension's settings. */
const redisConnectionFields = {
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
};

function oneTopology(c: { sentinel?: unknown; cluster?: unknown }): ConfigIssue | undefined {
  return c.sentinel && c.cluster
    ? { path: 'cluster', message: 'cannot be set together with sentinel; choose one topology' }
    : undefined;
}
const ONE_TOPOLOGY = '`sentinel` and `cluster` exclude each other.';

/** A `redis_state` extension: the Redis connection that correlation state and the ticket ledger share. */
export const redisConnectionSchema = refine(
  obj(redisConnectionFields, {
    doc: 'One Redis connection shared by the correlation state store and the ticket ledger of every agent pointing at it.',
  }),
  oneTopology,
  ONE_TOPOLOGY,
);

export type RedisConnectionConfig = Infer<typeof redisConnectionSchema>;

const inlineStateSchema = refine(
  obj(
    {
      store: literalUnion(['memory', 'redis'], {
        default: 'memory',
        doc: '`memory`: each agent correlates alone, its state kept on disk in `<data dir>/correlation/` across restarts. `redis`: agents sharing one Redis correlate as one.',
      }),
      extension: optional(
        str({
          nonEmpty: true,
          doc: "A `redis_state` extension (under `extensions:`) whose Redis keeps the state; implies `store: redis`, and its connection settings are the extension's, so none of the keys below may be set here. Without it, `store: redis` with the keys below stands for an extension `redis_state/<connector>` of those settings, which incident exporters keep their ticket ledger in (see docs/extensions.md).",
        }),
      ),
      sharing: literalUnion(['state', 'partitions'], {
        default: 'state',
        doc: "How agents on one Redis share the work (docs/correlation.md, \"Sharing through Redis\"). `state`: every agent takes the events it receives and their groups' state is merged in Redis. `partitions`: groups fall into `partitions`, each owned by one agent at a time, which takes every agent's events of its groups from a Redis stream and checkpoints their state there; an agent that dies hands its partitions to the others within `lease_ttl`. `inhibit` and `topology` look at the other partitions' open incidents as their owners last told them (a delivery behind).",
      }),
      partitions: int({
        default: 12,
        min: 1,
        max: 1024,
        doc: 'With `sharing: partitions`: how many partitions the groups fall into. Every agent sharing the Redis must say the same; more partitions than agents spread the work more evenly.',
      }),
      checkpoint_interval: duration({
        default: '1s',
        doc: "With `sharing: partitions`: how often the holder of a partition writes what changed in its state to Redis. The next holder replays the partition's stream from there: a longer interval costs less and replays more.",
      }),
      replica_wait: duration({
        default: '250ms',
        doc: 'With `sharing: partitions` and a Redis with replicas: how long a send is held before its sender is answered, and a notification before it goes out, until a replica has it (WAIT), so that a failover that takes the agent down with the master (a node lost) loses neither. Replicas that do not answer in time are left behind (the agent keeps what they lack and sends it again after a failover) until they catch up. `0s` never waits. Keep it well under `lease_ttl`: a wait holds the connection the agent renews its partitions on (half of it or more is warned of at start).',
      }),
      ...redisConnectionFields,
    },
    { doc: 'Where correlation state lives.' },
  ),
  oneTopology,
  ONE_TOPOLOGY,
);

/**
 * `state:` of the correlation connector. With `extension`, the connection is the extension's,
 * so setting its keys here too would be two sources for one connection: refused, with the key's path.
 */
export const redisStateSchema: Schema<Infer<typeof inlineStateSchema>> = {
  ...inlineStateSchema,
  parse(value: unknown, path: string, issues: ConfigIssue[]) {
    const raw = value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
    if (raw.extension === undefined || raw.extension === null) return inlineStateSchema.parse(value, path, issues);
    const before = issues.length;
    for (const key of Object.keys(raw)) {
      if (key in redisConnectionFields)
        issues.push({
          path: `${path}.${key}`,
          message: `is a setting of the redis_state extension named by ${path}.extension; set it there`,
        });
    }
    if (raw.store !== undefined && raw.store !== 'redis')
      issues.push({ path: `${path}.store`, message: 'must be redis (or left out) when extension is set' });
    const parsed = inlineStateSchema.parse(value, path, issues);
    return parsed && issues.length === before ? { ...parsed, store: 'redis' as const } : undefined;
  },
  describe: () => {
    const d = inlineStateSchema.describe();
    return {
      ...d,
      rules: [
        ...(d.rules ?? []),
        'With `extension`, only `store` (redis), `sharing`, `partitions`, `checkpoint_interval` and `replica_wait` may be set beside it.',
      ],
    };
  },
};

export type RedisStateConfig = Infer<typeof redisStateSchema>;

/** The connection settings of an inline `state:` (the form before extensions), as a `redis_state` extension takes them. */
export function connectionOf(state: RedisStateConfig): RedisConnectionConfig {
  const {
    store: _store,
    extension: _extension,
    sharing: _sharing,
    partitions: _partitions,
    checkpoint_interval: _checkpointInterval,
    replica_wait: _replicaWait,
    ...connection
  } = state;
  return connection;
}

/** The name of this agent in shared state: `agent_id`, else the host name. */
export function agentName(cfg: RedisConnectionConfig): string {
  return cfg.agent_id || hostname();
}
