import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { keySlot } from './keySlot.ts';
import type { RedisConnectionConfig } from './redisConfig.ts';
import {
  APPLY_SCRIPT,
  GROUP_FLUSH_SCRIPT,
  GROUP_JOIN_SCRIPT,
  GROUP_RESTORE_SCRIPT,
  LEASE_ACQUIRE_SCRIPT,
  LEASE_RELEASE_SCRIPT,
  LEASE_RENEW_SCRIPT,
  NOTIFY_CLAIM_SCRIPT,
  NOTIFY_DONE_SCRIPT,
  NOTIFY_TAKEOVER_SCRIPT,
  PARTITION_FENCED_SCRIPT,
  PARTITION_SEND_SCRIPT,
  PARTITIONS_STEP_SCRIPT,
  PARTITIONS_WATERMARK_SCRIPT,
  SILENCE_RESTORE_SCRIPT,
  TICKET_MERGE_SCRIPT,
} from './redisScripts.ts';

export type RedisClient = Redis | Cluster;

/** The longest wait between two attempts to reconnect. */
export const MAX_RECONNECT_DELAY_MS = 2_000;

/** Reconnect after 50 ms, doubling up to 2 s: an outage costs little, a recovery is noticed soon. */
export function reconnectDelay(attempt: number): number {
  return Math.min(50 * 2 ** Math.min(attempt, 6), MAX_RECONNECT_DELAY_MS);
}

function splitHostPort(text: string): { host: string; port: number } {
  const colon = text.lastIndexOf(':');
  return { host: text.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(text.slice(colon + 1)) };
}

function tlsOptions(cfg: RedisConnectionConfig, urlWantsTls: boolean): ConnectionOptions | undefined {
  const t = cfg.tls;
  if (!t && !urlWantsTls) return undefined;
  return {
    ca: t?.ca_file ? readFileSync(t.ca_file) : undefined,
    cert: t?.cert_file ? readFileSync(t.cert_file) : undefined,
    key: t?.key_file ? readFileSync(t.key_file) : undefined,
    servername: t?.server_name,
    rejectUnauthorized: !(t?.insecure_skip_verify ?? false),
  };
}

/**
 * Options shared by every connection. Commands fail at once while disconnected (no offline queue)
 * and are never resent after a reconnect, so a flush either lands or is known to have failed and
 * is retried by the store; commands issued in one tick go out as one pipeline.
 */
function baseOptions(cfg: RedisConnectionConfig): RedisOptions {
  const u = new URL(cfg.url);
  // An empty value (an unset environment variable) leaves the url's credentials in force.
  const username = cfg.username || (u.username ? decodeURIComponent(u.username) : undefined);
  const password = cfg.password || (u.password ? decodeURIComponent(u.password) : undefined);
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : undefined;
  return {
    username,
    password,
    db: Number.isInteger(db) ? db : undefined,
    tls: tlsOptions(cfg, u.protocol === 'rediss:'),
    connectTimeout: cfg.connect_timeout,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    enableAutoPipelining: true,
    lazyConnect: true,
    retryStrategy: reconnectDelay,
  };
}

/** A client for the configured topology: standalone `url`, `sentinel` or `cluster`. Not yet connected. */
export function createRedisClient(cfg: RedisConnectionConfig): RedisClient {
  return withScripts(clientFor(cfg));
}

function clientFor(cfg: RedisConnectionConfig): RedisClient {
  const options = baseOptions(cfg);
  if (cfg.cluster) {
    const {
      retryStrategy: _retry,
      enableOfflineQueue: _queue,
      db: _db,
      enableAutoPipelining: _auto,
      ...redisOptions
    } = options;
    const clusterOptions: ClusterOptions = {
      redisOptions,
      enableOfflineQueue: false,
      // ioredis refuses an automatic pipeline whose keys span slots of one node; commands issued
      // together still leave back to back on each node's connection without waiting for replies.
      enableAutoPipelining: false,
      lazyConnect: true,
      maxRedirections: 16,
      clusterRetryStrategy: reconnectDelay,
    };
    return new Cluster(cfg.cluster.nodes.map(splitHostPort), clusterOptions);
  }
  if (cfg.sentinel) {
    return new Redis({
      ...options,
      sentinels: cfg.sentinel.nodes.map(splitHostPort),
      name: cfg.sentinel.name,
      sentinelUsername: cfg.sentinel.username,
      sentinelPassword: cfg.sentinel.password,
      enableTLSForSentinelMode: options.tls !== undefined,
      sentinelRetryStrategy: reconnectDelay,
    });
  }
  const u = new URL(cfg.url);
  return new Redis({ ...options, host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port ? Number(u.port) : 6379 });
}

/**
 * Waits until a replica of the server that holds `key` has every write this client made there so
 * far (WAIT 1), for up to `timeoutMs`: true when one has. On a Cluster, asks the master serving
 * `key`'s slot on the cluster's own connection to it (its writes went on that one).
 */
export async function replicaHas(client: RedisClient, key: string, timeoutMs: number): Promise<boolean> {
  const connection = client instanceof Cluster ? masterOf(client, key) : client;
  return connection !== undefined && (await connection.wait(1, timeoutMs)) >= 1;
}

/** The cluster's connection to the master serving `key`'s slot, as its slot map says now. */
export function masterOf(cluster: Cluster, key: string): Redis | undefined {
  const at = cluster.slots[keySlot(key)]?.[0];
  return at === undefined ? undefined : masterAt(cluster, at);
}

/** The cluster's connection to the master at `host:port` (as its slot map names nodes). */
export function masterAt(cluster: Cluster, at: string): Redis | undefined {
  return cluster.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === at);
}

/** Whether every command of `client` goes on one connection (not a Cluster's, one per node). */
export function singleConnection(client: RedisClient): client is Redis {
  return !(client instanceof Cluster);
}

/**
 * A second connection for pub/sub (a subscribed connection can issue nothing else) or blocking
 * reads (which hold their connection while they wait). It queues its
 * SUBSCRIBE until connected and resubscribes by itself after every reconnect.
 */
export function createSubscriber(client: RedisClient): RedisClient {
  if (client instanceof Cluster)
    return client.duplicate(undefined, { enableOfflineQueue: true, enableAutoPipelining: false });
  return client.duplicate({ enableOfflineQueue: true, enableAutoPipelining: false });
}

const SCRIPTS = {
  vigilStateApply: APPLY_SCRIPT,
  vigilLeaseAcquire: LEASE_ACQUIRE_SCRIPT,
  vigilLeaseRenew: LEASE_RENEW_SCRIPT,
  vigilLeaseRelease: LEASE_RELEASE_SCRIPT,
  vigilPartitionsStep: PARTITIONS_STEP_SCRIPT,
  vigilPartitionFenced: PARTITION_FENCED_SCRIPT,
  vigilPartitionSend: PARTITION_SEND_SCRIPT,
  vigilPartitionsWatermark: PARTITIONS_WATERMARK_SCRIPT,
  vigilTicketMerge: TICKET_MERGE_SCRIPT,
  vigilNotifyClaim: NOTIFY_CLAIM_SCRIPT,
  vigilNotifyDone: NOTIFY_DONE_SCRIPT,
  vigilNotifyTakeover: NOTIFY_TAKEOVER_SCRIPT,
  vigilGroupJoin: GROUP_JOIN_SCRIPT,
  vigilGroupFlush: GROUP_FLUSH_SCRIPT,
  vigilGroupRestore: GROUP_RESTORE_SCRIPT,
  vigilSilenceRestore: SILENCE_RESTORE_SCRIPT,
} as const;

export type ScriptName = keyof typeof SCRIPTS;
const defined = new WeakSet<RedisClient>();

/**
 * Defines Vigil's scripts as commands of `client`, before it issues anything: ioredis gives a
 * tick's automatic pipeline only the commands defined when the pipeline was made, so a script
 * defined on its first call, in a tick that a plain command opened, failed with "pipeline[...]
 * is not a function" and broke the reply of every command in that pipeline.
 */
function withScripts(client: RedisClient): RedisClient {
  if (!defined.has(client)) {
    for (const [n, lua] of Object.entries(SCRIPTS)) client.defineCommand(n, { lua });
    defined.add(client);
  }
  return client;
}

/**
 * Runs one of Vigil's Lua scripts by its SHA1, loading it on NOSCRIPT (after a Redis restart, or
 * on a cluster node that has not seen it yet). Calls issued in one tick share a pipeline.
 */
export function runScript(
  client: RedisClient,
  name: ScriptName,
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<unknown> {
  // A client made elsewhere (not by createRedisClient) gets them on its first call.
  withScripts(client);
  const call = (client as unknown as Record<ScriptName, (...a: (string | number)[]) => Promise<unknown>>)[name];
  return call.call(client, keys.length, ...keys, ...args);
}

/**
 * Whether a failed command means Redis could not serve it now, rather than refused it. The client
 * fails at once while disconnected ("Stream isn't writeable", "Connection is closed"); among the
 * replies, only those of a server that is starting, failing over or busy are worth waiting for.
 */
export function unreachable(err: unknown): boolean {
  // A bug is no outage: waiting would hide it.
  if (!(err instanceof Error) || err instanceof TypeError || err instanceof RangeError || err instanceof ReferenceError)
    return false;
  if (err.name !== 'ReplyError') return true;
  return /^(LOADING|READONLY|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|BUSY)\b/.test(err.message);
}
