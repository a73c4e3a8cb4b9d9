import { randomBytes } from 'node:crypto';
import type { TicketLedger, TicketRecord } from '../exporters/tickets/ledger.ts';
import type { RedisClient } from './redisConnection.ts';
import type { RedisKeys } from './redisKeys.ts';
import { RedisLease } from './redisLease.ts';

export interface RedisTicketLedgerOptions {
  /** A connected client, shared with the state store; the ledger never closes it. */
  client: RedisClient;
  keys: RedisKeys;
  /** Agent id; each ledger adds a random suffix so two processes of one agent never share a claim. */
  owner: string;
  /** How long a claim outlives an agent that died while creating a ticket. */
  claimTtlMs: number;
  /** How long a ticket record is kept after its last change. */
  recordTtlMs: number;
}

/**
 * The incident → ticket map shared by every agent, so each incident gets one ticket whichever
 * agent delivers it. A claim is a lease on the incident key, renewed while its holder creates the
 * ticket; it is refused while an open ticket is recorded, so an agent that read "no ticket" just
 * before another stored one cannot create a second.
 */
export class RedisTicketLedger implements TicketLedger {
  private readonly client: RedisClient;
  private readonly keys: RedisKeys;
  private readonly owner: string;
  private readonly claimTtlMs: number;
  private readonly recordTtlMs: number;
  private readonly held = new Map<string, { lease: RedisLease; timer: NodeJS.Timeout }>();

  constructor(opts: RedisTicketLedgerOptions) {
    this.client = opts.client;
    this.keys = opts.keys;
    this.owner = `${opts.owner}#${randomBytes(4).toString('hex')}`;
    this.claimTtlMs = opts.claimTtlMs;
    this.recordTtlMs = opts.recordTtlMs;
  }

  async get(key: string): Promise<TicketRecord | undefined> {
    const h = await this.client.hgetall(this.keys.ticketKeys(key)[2]);
    if (h.ref === undefined) return undefined;
    return { ref: h.ref, incidentId: h.incidentId ?? '', resolved: h.resolved === '1' };
  }

  async claim(key: string): Promise<boolean> {
    if (this.held.has(key)) return false;
    const lease = new RedisLease(this.client, this.keys.ticketKeys(key), this.owner, this.claimTtlMs);
    if ((await lease.acquire()) === undefined) return false;
    // Creating a ticket may take several tracker round trips and retries: keep the claim alive.
    const timer = setInterval(() => {
      lease.renew().catch(() => undefined);
    }, Math.max(this.claimTtlMs / 3, 10));
    timer.unref();
    this.held.set(key, { lease, timer });
    return true;
  }

  async put(key: string, record: TicketRecord): Promise<void> {
    const recordKey = this.keys.ticketKeys(key)[2];
    await this.client
      .multi()
      .hset(recordKey, 'ref', record.ref, 'incidentId', record.incidentId, 'resolved', record.resolved ? '1' : '0')
      .pexpire(recordKey, this.recordTtlMs)
      .exec();
    await this.release(key);
  }

  async release(key: string): Promise<void> {
    const h = this.held.get(key);
    if (!h) return;
    this.held.delete(key);
    clearInterval(h.timer);
    await h.lease.release();
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.held.keys()].map((k) => this.release(k)));
  }
}
