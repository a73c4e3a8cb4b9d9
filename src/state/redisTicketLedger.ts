import { randomBytes } from 'node:crypto';
import type { TicketLedger, TicketRecord } from '../exporters/tickets/ledger.ts';
import { runScript, type RedisClient } from './redisConnection.ts';
import type { RedisConnectionConfig } from './redisConfig.ts';
import { RedisKeys } from './redisKeys.ts';
import { RedisLease } from './redisLease.ts';
import { reaching } from './ledgerReach.ts';
import { RedisNotificationGroups } from './redisNotificationGroups.ts';

export interface RedisTicketLedgerOptions {
  /** A connected client, shared with the state store; the ledger never closes it. */
  client: RedisClient;
  keys: RedisKeys;
  /** The exporter whose tickets these are: its records and claims are apart from any other exporter's. */
  exporter: string;
  /**
   * Also keep to the layout before records were an exporter's own (keyed by incident alone): read
   * such a record when the exporter's own is missing, and claim and write both. Only for the one
   * exporter of a config using the ledger, whose tickets those records are.
   */
  unscoped?: boolean;
  /** Agent id; each ledger adds a random suffix so two processes of one agent never share a claim. */
  owner: string;
  /** How long a claim outlives an agent that died while creating a ticket. */
  claimTtlMs: number;
  /** How long a ticket record is kept after its last change. */
  recordTtlMs: number;
}

/**
 * One exporter's incident → ticket map, shared by every agent, so each incident gets one ticket
 * per exporter whichever agent delivers it. Records and claims are keyed by exporter and incident:
 * a GLPI and a Jira exporter on one ledger each keep their own ticket of an incident. A claim is
 * a lease on the exporter's incident key, renewed while its holder creates the ticket; it is
 * refused while an open ticket is recorded, so an agent that read "no ticket" just
 * before another stored one cannot create a second.
 *
 * While Redis is unreachable every call throws TicketLedgerUnavailableError: nothing is known,
 * so callers wait. A claim taken before an outage is lost with a Redis that restarts empty; the
 * exporter keeps the ticket it created meanwhile in its outbox, and stores it once Redis answers.
 */
export class RedisTicketLedger implements TicketLedger {
  private readonly client: RedisClient;
  private readonly keys: RedisKeys;
  private readonly owner: string;
  private readonly claimTtlMs: number;
  private readonly recordTtlMs: number;
  private readonly exporter: string;
  private readonly unscoped: boolean;
  private readonly held = new Map<string, { leases: RedisLease[]; timer: NodeJS.Timeout }>();
  /** The exporter's notification groups, shared like its tickets: each group's ticket and notifications are one agent's doing. */
  readonly groups: RedisNotificationGroups;

  constructor(opts: RedisTicketLedgerOptions) {
    this.client = opts.client;
    this.keys = opts.keys;
    this.exporter = opts.exporter;
    this.unscoped = opts.unscoped ?? false;
    this.owner = `${opts.owner}#${randomBytes(4).toString('hex')}`;
    this.claimTtlMs = opts.claimTtlMs;
    this.recordTtlMs = opts.recordTtlMs;
    this.groups = new RedisNotificationGroups({
      client: this.client,
      keys: this.keys,
      exporter: this.exporter,
      owner: this.owner,
      claimTtlMs: this.claimTtlMs,
      ttlMs: this.recordTtlMs,
    });
  }

  /** The keys of incident `key`: this exporter's, then those of the earlier layout when it keeps to it. */
  private layouts(key: string): [lease: string, fence: string, record: string][] {
    const own = this.keys.ticketKeys(key, this.exporter);
    return this.unscoped ? [own, this.keys.ticketKeys(key)] : [own];
  }

  async get(key: string): Promise<TicketRecord | undefined> {
    let h: Record<string, string> = {};
    for (const [, , record] of this.layouts(key)) {
      h = await reaching('reading a ticket', () => this.client.hgetall(record));
      if (h.ref !== undefined) break;
    }
    if (h.ref === undefined) return undefined;
    const rec: TicketRecord = { ref: h.ref, incidentId: h.incidentId ?? '', resolved: h.resolved === '1' };
    if (h.mergedIds) rec.mergedIds = h.mergedIds.split(',');
    if (h.written) rec.written = h.written;
    return rec;
  }

  async claim(key: string): Promise<boolean> {
    if (this.held.has(key)) return false;
    // The earlier layout's claim too, so an agent not yet upgraded cannot create meanwhile.
    const leases: RedisLease[] = [];
    for (const keys of this.layouts(key)) {
      const lease = new RedisLease(this.client, keys, this.owner, this.claimTtlMs);
      const fence = await reaching('claiming an incident', () => lease.acquire()).catch(async (err: unknown) => {
        await Promise.allSettled(leases.map((l) => l.release()));
        throw err;
      });
      if (fence === undefined) {
        await Promise.allSettled(leases.map((l) => l.release()));
        return false;
      }
      leases.push(lease);
    }
    // Creating a ticket may take several tracker round trips and retries: keep the claim alive.
    const timer = setInterval(
      () => {
        for (const lease of leases) lease.renew().catch(() => undefined);
      },
      Math.max(this.claimTtlMs / 3, 10),
    );
    timer.unref();
    this.held.set(key, { leases, timer });
    return true;
  }

  async put(key: string, record: TicketRecord): Promise<void> {
    // One transaction per layout: their keys hash to different slots of a cluster.
    for (const [, , recordKey] of this.layouts(key)) await this.write(recordKey, record);
    await this.release(key);
  }

  private async write(recordKey: string, record: TicketRecord): Promise<void> {
    const replies = await reaching('storing a ticket', () =>
      this.client
        .multi()
        .hset(recordKey, {
          ref: record.ref,
          incidentId: record.incidentId,
          resolved: record.resolved ? '1' : '0',
          mergedIds: record.mergedIds?.join(',') ?? '',
          written: record.written ?? '',
        })
        .pexpire(recordKey, this.recordTtlMs)
        .exec(),
    );
    // A command of a transaction fails in its reply, not in exec().
    const failed = replies?.find(([err]) => err)?.[0];
    if (failed) throw failed;
  }

  async release(key: string): Promise<void> {
    const h = this.held.get(key);
    if (!h) return;
    this.held.delete(key);
    clearInterval(h.timer);
    await reaching('releasing a claim', () => Promise.all(h.leases.map((l) => l.release())));
  }

  async merge(key: string, lost: string, into: string): Promise<void> {
    for (const [, , record] of this.layouts(key))
      await reaching('recording a merge', () => runScript(this.client, 'vigilTicketMerge', [record], [lost, into]));
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.held.keys()].map((k) => this.release(k)));
  }
}

/** How long ticket records stay in Redis after their last change. */
const TICKET_RECORD_TTL_MS = 30 * 86_400_000;

/**
 * Exporter `exporter`'s ledger on a `redis_state` extension's connection: its prefix, its agent
 * name, claims held for its `lease_ttl`. `unscoped`: the exporter is the config's only one on the
 * ledger, and keeps to the records written before they were an exporter's own.
 */
export function openRedisTicketLedger(
  client: RedisClient,
  cfg: RedisConnectionConfig,
  owner: string,
  scope: { exporter: string; unscoped: boolean },
): RedisTicketLedger {
  return new RedisTicketLedger({
    client,
    keys: new RedisKeys(cfg.prefix),
    owner,
    ...scope,
    claimTtlMs: cfg.lease_ttl,
    recordTtlMs: TICKET_RECORD_TTL_MS,
  });
}
