import type { ApiConfig } from '../../api/config.ts';
import type { CorrelationConnectorConfig } from '../../connectors/correlation/config.ts';
import type { RoutingTree } from '../../exporters/tickets/routingTree.ts';
import { allowedHostsField } from '../../receivers/http/allowedHosts.ts';
import {
  any,
  bytes,
  duration,
  endpoint,
  int,
  list,
  literalUnion,
  obj,
  optional,
  record,
  str,
  type ConfigIssue,
  type Infer,
} from '../../config/schema.ts';

const componentId = /^[a-z][a-z0-9_]*(\/[A-Za-z0-9_.-]+)?$/;

export const pipelineSchema = obj({
  receivers: list(str(), {
    default: [],
    doc: 'Receiver or connector ids feeding this pipeline. An `incidents` pipeline lists `correlation` (none: with a top-level `correlation:` section it gets it).',
  }),
  processors: list(str(), {
    default: [],
    doc: 'Processor ids, applied in order. A receiver feeding several pipelines hands each the same records; a pipeline with a processor that changes them (any but `filter`) works on copies of its own, so the others see them as received.',
  }),
  exporters: list(str(), {
    minItems: 1,
    doc: 'Exporter or connector ids; each gets every batch that leaves the processors.',
  }),
  queue_size: int({
    default: 20_000,
    min: 1,
    doc: 'Records the pipeline queue holds before receivers get 429 / RESOURCE_EXHAUSTED. Larger absorbs longer bursts but costs memory and no throughput (docs/benchmarks.md).',
  }),
  acknowledge: literalUnion(['queued', 'exported'], {
    default: 'exported',
    doc: 'When a sender is told its data is safe: `exported` once every exporter of the pipeline took it (written, inserted or spooled to disk), so a crash loses nothing acknowledged; `queued` as soon as it is in the in-memory queue (lower latency; a crash loses the queue). An exporter failure under `exported` answers 503 / UNAVAILABLE so the sender retries.',
  }),
});

export const PIPELINE_NAME = /^(logs|metrics|traces|incidents)(\/[A-Za-z0-9_.-]+)?$/;

export const serviceSchema = obj({
  extensions: list(str(), {
    default: [],
    doc: 'Extension ids to start (before every pipeline; shut down after them). An extension defined under `extensions:` but not listed here is not started, and a component referring to it is refused.',
  }),
  pipelines: record(pipelineSchema, {
    keyPattern: PIPELINE_NAME,
    doc: 'Named pipelines: `logs`, `metrics`, `traces` or `incidents`, optionally `/name`.',
  }),
  telemetry: obj({
    metrics: obj({
      endpoint: endpoint({ default: '127.0.0.1:8080', doc: 'Admin listener: `/metrics`, `/healthz`, `/readyz`.' }),
      allowed_hosts: allowedHostsField,
    }),
    logs: obj({
      level: literalUnion(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'], {
        default: 'info',
        doc: "Log level of Vigil's own structured logs (stderr).",
      }),
    }),

    health: obj(
      {
        failing_after: duration({
          default: '30s',
          positive: true,
          doc: 'How long a destination (ClickHouse, a ticket tracker, a webhook) may fail, or the ClickHouse spool may go without a batch leaving it, before its exporter counts as failing and `/readyz` answers 503; until then it is `degraded` and the agent stays ready.',
        }),
        check_interval: duration({
          default: '5s',
          positive: true,
          doc: 'How often an exporter probes a remote ClickHouse that has no rows to insert, so an outage shows in `/readyz` without traffic.',
        }),
      },
      { doc: 'What `/readyz` and `vigil_component_healthy` count as failing.' },
    ),
  }),
  memory_limiter: obj(
    {
      limit_mib: int({
        default: 0,
        min: 0,
        doc: "Hard memory ceiling in MiB. Memory is what the kernel counts: this process's resident anonymous memory (heap, buffers, embedded ClickHouse's allocations; not the pages of its code, which the kernel can drop) and, in a cgroup (a container), the cgroup's working set, whichever is larger. 0 takes `limit_percentage` instead.",
      }),
      limit_percentage: int({
        default: 80,
        min: 1,
        max: 100,
        doc: "With `limit_mib: 0`, the ceiling as a percentage of the cgroup's memory limit, or of the machine's memory outside a cgroup with a limit.",
      }),
      spike_limit_mib: int({
        default: 0,
        min: 0,
        doc: "Headroom below the ceiling: receivers refuse new data above limit − spike (the soft limit), and take it again once a periodic check finds use under it, or finds nothing in flight for 3 s (what stays above the soft limit then is the daemon's resident floor: logged as an error, shown on `/readyz` and as `vigil_memory_floor_bytes`, and new data may raise use by half the spike above it); a thorough garbage collection (V8 hands its free pages back) is forced at every check above the hard limit, at most every second, every 10 s above the soft one, and a quick, concurrent one at each check while the V8 heap and its buffers keep growing (by a quarter of the spike since the last one), or at most every second while resident memory does, above the soft limit or within half the spike below it; the daemon also keeps V8's young generation at its starting size. With embedded ClickHouse in the process, the soft limit is lower by the room its next insert needs (18× its batch: 18 MiB at 256 MiB), as that memory arrives whatever receivers refuse; from half the spike below the soft limit up, the limiter also asks it, at most every 100 ms, to hand back the pages its allocator holds freed. 0 means 20 % of the limit. It also bounds `max_receive_buffer_size`, since bodies admitted before the soft limit keep arriving after it.",
      }),
      check_interval: duration({
        default: '1s',
        doc: "How often the cgroup is read; the process's own memory is also sampled as requests arrive, at most every 20 ms.",
      }),
      max_receive_buffer_size: bytes({
        default: '256MiB',
        min: 1,
        doc: 'Bytes all receivers together may hold for requests still arriving (bodies being read, decompressed output, gRPC messages being assembled); past it new requests get 429 / RESOURCE_EXHAUSTED with Retry-After before their body is read. Never more than the spike headroom (`spike_limit_mib`).',
      }),
      peer_receive_buffer_percentage: int({
        default: 25,
        min: 1,
        max: 100,
        doc: "The percentage of `max_receive_buffer_size` one peer (an address; an IPv6 network, see the listeners' `peer_ipv6_prefix`) may hold across every listener; past it that peer's new requests get 429 / RESOURCE_EXHAUSTED, so one sender's stalled uploads cannot refuse everyone else. Raise it when one sender (a gateway) sends more than this many bodies of `max_request_body_size` at once; 100 turns the per-peer share off.",
      }),
    },
    { doc: 'Refuse data (429 / RESOURCE_EXHAUSTED with Retry-After) instead of growing past a memory ceiling.' },
  ),
  shutdown_timeout: duration({
    default: '30s',
    doc: 'On SIGTERM, how long queues may take to drain before Vigil exits anyway.',
  }),
  data_dir: optional(
    str({
      doc: 'Where Vigil keeps files (embedded ClickHouse, spools, outbox). `--data-dir` overrides it. Default `./data`.',
    }),
  ),
});

export const vigilConfigSchema = obj({
  receivers: record(any(), { keyPattern: componentId, doc: 'Receiver instances by id (`type` or `type/name`).' }),
  processors: record(any(), { keyPattern: componentId, doc: 'Processor instances by id.' }),
  exporters: record(any(), { keyPattern: componentId, doc: 'Exporter instances by id.' }),
  connectors: record(any(), {
    keyPattern: componentId,
    doc: 'Connector instances by id: each is an exporter of some pipelines and the receiver of others.',
  }),
  routing: optional(any({ doc: 'An Alertmanager-style routing tree for incident changes (see "Routing tree").' })),
  extensions: record(any(), {
    keyPattern: componentId,
    doc: 'Extension instances by id: shared resources (the authenticator) that components look up by id.',
  }),
  service: serviceSchema,
});

export type PipelineConfig = Infer<typeof pipelineSchema>;
export type ServiceConfig = Infer<typeof serviceSchema>;

export interface ComponentConfig {
  id: string;
  type: string;
  config: unknown;
}

/** The validated configuration: components parsed by their factories' schemas. */
export interface VigilConfig {
  receivers: Record<string, ComponentConfig>;
  processors: Record<string, ComponentConfig>;
  exporters: Record<string, ComponentConfig>;
  /** Connectors, including those a shorthand stands for (a top-level `correlation:` section). */
  connectors: Record<string, ComponentConfig>;
  /** Extensions by id; those listed in `service.extensions` are started. */
  extensions: Record<string, ComponentConfig>;
  service: ServiceConfig;
  /** The `correlation` connector's config (rules and state), whichever form the config used. */
  correlation?: CorrelationConnectorConfig;
  /** The top-level `routing:` tree, checked against the incident exporters. */
  routing?: RoutingTree;
  /** The operators' API (`api:`); absent: not served. */
  api?: ApiConfig;
}

export type { ConfigIssue };
