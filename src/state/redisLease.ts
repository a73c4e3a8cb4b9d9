import { runScript, type RedisClient } from './redisConnection.ts';

/**
 * A time-limited, exclusive hold on a name in Redis (SET NX PX), with a fencing number that grows
 * with every new term: work done under a lease can carry its fence, so a holder that stalled past
 * its term is recognisably stale. Renewal checks owner and fence in one script, so a holder whose
 * term lapsed never extends the next holder's.
 */
export class RedisLease {
  readonly owner: string;
  readonly ttlMs: number;
  private readonly client: RedisClient;
  private readonly keys: string[];
  private fenceHeld: number | undefined;

  constructor(
    client: RedisClient,
    keys: [lease: string, fence: string] | [lease: string, fence: string, openTicket: string],
    owner: string,
    ttlMs: number,
  ) {
    this.client = client;
    this.keys = keys;
    this.owner = owner;
    this.ttlMs = ttlMs;
  }

  /** The fence of the term this owner holds, if it believes it holds one. */
  get fence(): number | undefined {
    return this.fenceHeld;
  }

  /** Takes the lease if free (or already ours); resolves to the term's fence, or undefined if another owner holds it. */
  async acquire(): Promise<number | undefined> {
    const fence = Number(await runScript(this.client, 'vigilLeaseAcquire', this.keys, [this.owner, this.ttlMs]));
    this.fenceHeld = fence > 0 ? fence : undefined;
    return this.fenceHeld;
  }

  /** Extends the term; false when it was lost (expired, and maybe taken by another owner). */
  async renew(): Promise<boolean> {
    if (this.fenceHeld === undefined) return false;
    const ok =
      Number(
        await runScript(this.client, 'vigilLeaseRenew', this.keys.slice(0, 2), [
          this.owner,
          this.ttlMs,
          this.fenceHeld,
        ]),
      ) === 1;
    if (!ok) this.fenceHeld = undefined;
    return ok;
  }

  /** Gives the lease up at once, so another owner need not wait for it to expire. */
  async release(): Promise<void> {
    if (this.fenceHeld === undefined) return;
    const fence = this.fenceHeld;
    this.fenceHeld = undefined;
    await runScript(this.client, 'vigilLeaseRelease', this.keys.slice(0, 2), [this.owner, fence]);
  }
}

export interface ElectionTimers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: ElectionTimers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface LeaderElectionOptions {
  lease: RedisLease;
  /** Called when this agent becomes leader (true) or stops being it (false). */
  onChange?: (leader: boolean) => void;
  timers?: ElectionTimers;
}

/**
 * Elects one leader among agents sharing a Redis, for work that must run once (the correlation
 * timers: absence checks, auto-resolve). Every `ttl/3` the leader renews and the others try to
 * take over, so a dead leader is replaced within one lease term.
 *
 * A leader counts itself leader only until its last confirmed term would end by its own clock
 * (minus a margin for clock drift): when Redis becomes unreachable it steps down before anyone
 * else could have taken over, so two leaders never run timers at once. Timers are due-time
 * based, so they run late during an outage rather than twice.
 */
export class LeaderElection {
  private readonly lease: RedisLease;
  private readonly timers: ElectionTimers;
  private readonly onChange: ((leader: boolean) => void) | undefined;
  private leaderUntil = 0;
  private wasLeader = false;
  private handle: unknown;
  private running = false;
  private stepping: Promise<void> | undefined;

  constructor(opts: LeaderElectionOptions) {
    this.lease = opts.lease;
    this.timers = opts.timers ?? realTimers;
    this.onChange = opts.onChange;
  }

  get isLeader(): boolean {
    const leader = this.lease.fence !== undefined && this.timers.now() < this.leaderUntil;
    this.notify(leader);
    return leader;
  }

  /** The fence of the current term while leader. */
  get fence(): number | undefined {
    return this.isLeader ? this.lease.fence : undefined;
  }

  start(): void {
    this.running = true;
    this.schedule(0);
  }

  /** Stops campaigning; a clean stop hands leadership over at once. */
  async stop(release = true): Promise<void> {
    this.running = false;
    this.timers.clearTimeout(this.handle);
    if (this.stepping) await this.stepping;
    if (release) await this.lease.release().catch(() => undefined);
    this.leaderUntil = 0;
    this.notify(false);
  }

  /** One round: renew when leader, otherwise try to take the lease. Never throws. */
  step(): Promise<void> {
    this.stepping ??= this.round().finally(() => {
      this.stepping = undefined;
    });
    return this.stepping;
  }

  private async round(): Promise<void> {
    const startedAt = this.timers.now();
    // Redis starts the term after the request leaves; counting from before it keeps us on the safe side.
    const term = this.lease.ttlMs - Math.max(this.lease.ttlMs / 10, 50);
    try {
      // A term that lapsed (say, across an outage) may still be free: ask for a new one at once.
      const held =
        (this.lease.fence !== undefined && (await this.lease.renew())) || (await this.lease.acquire()) !== undefined;
      this.leaderUntil = held ? startedAt + term : 0;
    } catch {
      // Unreachable: keep the term already confirmed; `isLeader` lets it run out.
    }
    this.notify(this.isLeader);
  }

  private schedule(delayMs: number): void {
    if (!this.running) return;
    this.handle = this.timers.setTimeout(() => {
      void this.step().then(() => this.schedule(Math.max(this.lease.ttlMs / 3, 10)));
    }, delayMs);
  }

  private notify(leader: boolean): void {
    if (leader === this.wasLeader) return;
    this.wasLeader = leader;
    this.onChange?.(leader);
  }
}
