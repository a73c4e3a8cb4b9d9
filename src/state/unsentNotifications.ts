import type { IncidentChange } from '../model/incident.ts';
import {
  claimIdentity,
  claimOutcomes,
  markAllNotified,
  takeOverClaim,
  type ClaimOutcome,
} from './notificationClaims.ts';
import { singleConnection, type RedisClient } from './redisConnection.ts';
import type { RedisKeys } from './redisKeys.ts';

/** Most notifications the leader takes over at one look (see `takeOver`). */
const TAKEN_PER_LOOK = 500;

export interface UnsentNotificationsOptions {
  client: RedisClient;
  keys: RedisKeys;
  /** This agent's incarnation: the writer of its claims, and the name its unsent notifications go under. */
  incarnation: string;
  /** How long this agent's presence lasts unrenewed (lease_ttl); `renew` is due every third of it. */
  presenceMs: number;
  /** Wall-clock ms (default Date.now): when a presence was set, and found gone. */
  now?: () => number;
}

/** A notification taken over from an agent gone before sending it. */
export interface TakenOver {
  change: IncidentChange;
  /** The incarnation that claimed it and went away. */
  from: string;
}

/**
 * The notifications an agent sharing state claimed and has not yet handed to its incidents
 * pipelines (sharing: state). A claim is pending until the pipelines take its change, and the
 * change is kept in Redis under the agent's incarnation meanwhile, with the agent's presence (a
 * key it renews every third of `presenceMs`). An agent that dies in between (its pipelines
 * refusing, say, a webhook down and its queue full) leaves them there: the leader, finding its
 * presence gone for half of `presenceMs`, takes each claim over and sends the change as it was
 * made. A claim marked sent, or held by another writer, is not taken over: the leader drops the
 * entry. An agent that only seemed gone asks, before sending what it held (`lostClaims`).
 */
export class UnsentNotifications {
  private readonly opts: UnsentNotificationsOptions;
  private readonly keysOf: ReturnType<RedisKeys['unsentKeys']>;
  /** Claimed here, not yet handed over: each change's field in this agent's hash. */
  private readonly unsent = new Map<IncidentChange, { field: string; lapses: number }>();
  /** Handed over, their marks not yet taken by Redis (out of reach then): marked at the next renewal. */
  private readonly unmarked = new Map<IncidentChange, string>();
  /** When this agent last set its presence (wall clock ms), and how often it found it had lapsed meanwhile. */
  private presentAt = Number.NEGATIVE_INFINITY;
  /** Agents a look found without their presence, and when it first did (see `takeOver`). */
  private readonly suspects = new Map<string, number>();
  private readonly now: () => number;
  private lapses = 0;

  constructor(opts: UnsentNotificationsOptions) {
    this.opts = opts;
    this.keysOf = opts.keys.unsentKeys();
    this.now = opts.now ?? Date.now;
  }

  get incarnation(): string {
    return this.opts.incarnation;
  }

  /**
   * Claims `c`'s notification for this agent, pending, keeping the change under its incarnation
   * first: an agent that dies between the two leaves a change without a claim, which the leader
   * claims and sends. Throws when Redis could not answer the claim.
   */
  async claim(c: IncidentChange): Promise<ClaimOutcome> {
    const [outcome] = await this.claimAll([c]);
    if (outcome instanceof Error) throw outcome;
    return outcome!;
  }

  /**
   * `claim` of several notifications: kept in one call, claimed in one script call (one per slot
   * on a Cluster), answered in order; a claim whose call failed (Redis out of reach) comes back as
   * the error. A change of a kind that needs no claim is `claimed`.
   */
  async claimAll(changes: readonly IncidentChange[]): Promise<(ClaimOutcome | Error)[]> {
    const out: (ClaimOutcome | Error)[] = changes.map(() => 'claimed');
    const fields: string[] = [];
    const claimed: IncidentChange[] = [];
    const at: number[] = [];
    changes.forEach((c, i) => {
      const field = claimIdentity(c);
      if (field === undefined) return;
      fields.push(field);
      claimed.push(c);
      at.push(i);
    });
    if (claimed.length === 0) return out;
    const { client, keys, incarnation } = this.opts;
    // Kept before claimed: on one connection the two go in order (and are answered together); on
    // a Cluster they go to two nodes, so the claims wait for the keep. A failure to keep leaves
    // the claims unguarded against this agent's death, not refused.
    const kept = this.keep(fields, claimed).catch(() => undefined);
    if (!singleConnection(client)) await kept;
    const outcomes = await claimOutcomes(
      client,
      keys,
      claimed.map((change) => ({ writer: incarnation, change })),
      'pending',
    );
    await kept;
    const refused: string[] = [];
    outcomes.forEach((outcome, j) => {
      out[at[j]!] = outcome;
      if (outcome === 'refused') refused.push(fields[j]!);
      else if (!(outcome instanceof Error)) this.unsent.set(claimed[j]!, { field: fields[j]!, lapses: this.lapses });
    });
    if (refused.length) await client.hdel(this.keysOf.unsent(incarnation), ...refused).catch(() => undefined);
    return out;
  }

  /**
   * Of `changes`, those this agent claimed pending whose claims are no longer its own (the leader
   * took them over, this agent's presence having expired): forgotten here. Claims Redis does not
   * answer for count as its own.
   */
  async lostClaims(changes: readonly IncidentChange[]): Promise<Set<IncidentChange>> {
    // Only while this agent's presence lapsed since they were claimed: the leader takes nothing else over.
    const lapsed = this.now() - this.presentAt >= this.opts.presenceMs;
    const mine = changes.filter((c) => {
      const held = this.unsent.get(c);
      return held !== undefined && (lapsed || held.lapses < this.lapses);
    });
    const lost = new Set<IncidentChange>();
    if (mine.length === 0) return lost;
    // Claimed again as this agent's pending (its own retry goes through; one taken over is refused).
    const outcomes = await claimOutcomes(
      this.opts.client,
      this.opts.keys,
      mine.map((change) => ({ writer: this.opts.incarnation, change })),
      'pending',
    );
    outcomes.forEach((o, i) => {
      if (o !== 'refused') return;
      lost.add(mine[i]!);
      this.unsent.delete(mine[i]!);
    });
    return lost;
  }

  /**
   * Marks sent the claims of `changes` this agent made, and forgets their entries (after: a death
   * between the two leaves an entry the leader drops). What Redis could not take is marked at the
   * next `renew` and before `leave`: left pending, the leader would send it again once this agent
   * goes. Throws when Redis could not take it.
   */
  async sent(changes: readonly IncidentChange[]): Promise<void> {
    for (const c of changes) {
      const held = this.unsent.get(c);
      if (held === undefined) continue;
      this.unsent.delete(c);
      this.unmarked.set(c, held.field);
    }
    await this.markUnmarked();
  }

  private async markUnmarked(): Promise<void> {
    if (this.unmarked.size === 0) return;
    const marking = [...this.unmarked];
    const { client, keys, incarnation } = this.opts;
    await markAllNotified(
      client,
      keys,
      marking.map(([change]) => ({ writer: incarnation, change })),
    );
    await client.hdel(this.keysOf.unsent(incarnation), ...marking.map(([, field]) => field));
    for (const [c] of marking) this.unmarked.delete(c);
  }

  /** Renews this agent's presence: due every third of `presenceMs`. */
  async renew(): Promise<void> {
    await this.opts.client.set(this.keysOf.presence(this.opts.incarnation), '1', 'PX', this.opts.presenceMs);
    this.present();
    await this.markUnmarked();
  }

  /** Notes the presence set now: one set later than `presenceMs` after the last had lapsed meanwhile. */
  private present(): void {
    const now = this.now();
    if (now - this.presentAt >= this.opts.presenceMs) this.lapses++;
    this.presentAt = now;
  }

  /** An orderly stop: this agent's presence goes at once, and with it what it left unsent to the leader. */
  async leave(): Promise<void> {
    await this.markUnmarked();
    await this.opts.client.del(this.keysOf.presence(this.opts.incarnation));
  }

  /**
   * The leader's part: the notifications of agents whose presence expired (found gone, and still
   * gone half of presenceMs later), each claim taken over
   * for this agent (and the change kept under its incarnation, until sent). What was sent or is
   * held by another writer is dropped. An agent with none left leaves the set of agents. At most
   * TAKEN_PER_LOOK a call: the rest at the next.
   */
  async takeOver(): Promise<TakenOver[]> {
    const { client, keys, incarnation } = this.opts;
    const k = this.keysOf;
    const out: TakenOver[] = [];
    let left = TAKEN_PER_LOOK;
    for (const from of await client.smembers(k.agents)) {
      if (left <= 0) break;
      if (from === incarnation) continue;
      if ((await client.exists(k.presence(from))) > 0) {
        this.suspects.delete(from);
        continue;
      }
      // Gone for half of presenceMs at least (a live agent renews its presence every third): a
      // presence lost with a failover, and set again by its agent meanwhile, is not taken for a death.
      const since = this.suspects.get(from);
      if (since === undefined) this.suspects.set(from, this.now());
      if (since === undefined || this.now() - since < this.opts.presenceMs / 2) continue;
      // A few hundred at a look: the leader's timers wait on it, and what is left waits for the next.
      const flat: string[] = [];
      let cursor = '0';
      do {
        const [next, found] = await client.hscan(k.unsent(from), cursor, 'COUNT', left);
        flat.push(...found);
        cursor = next;
      } while (cursor !== '0' && flat.length < 2 * left);
      // Each claim taken over, then what was won kept under this agent and the looked-at entries
      // dropped, each in one call.
      const looked: string[] = [];
      const won: { field: string; change: IncidentChange }[] = [];
      for (let i = 0; i < flat.length && left > 0; i += 2, left--) {
        const [field, text] = [flat[i]!, flat[i + 1]!];
        looked.push(field);
        const kept = parseChange(text);
        if (kept && (await takeOverClaim(client, keys, incarnation, from, kept)))
          won.push({ field, change: { ...kept, reason: `${kept.reason}; sent for ${from}, gone before sending it` } });
      }
      if (won.length) {
        await this.keep(
          won.map((w) => w.field),
          won.map((w) => w.change),
        );
        for (const { field, change } of won) {
          this.unsent.set(change, { field, lapses: this.lapses });
          out.push({ change, from });
        }
      }
      if (looked.length) await client.hdel(k.unsent(from), ...looked);
      if ((await client.hlen(k.unsent(from))) === 0) {
        await client.srem(k.agents, from);
        this.suspects.delete(from);
      }
    }
    return out;
  }

  private async keep(fields: readonly string[], changes: readonly IncidentChange[]): Promise<void> {
    const { client, incarnation, presenceMs } = this.opts;
    const k = this.keysOf;
    const entries: string[] = [];
    fields.forEach((f, i) => entries.push(f, JSON.stringify(changes[i])));
    const replies = await client
      .multi()
      .hset(k.unsent(incarnation), ...entries)
      .sadd(k.agents, incarnation)
      .set(k.presence(incarnation), '1', 'PX', presenceMs)
      .exec();
    const failed = replies?.find(([err]) => err)?.[0];
    if (failed) throw failed;
    this.present();
  }
}

/** A change as `keep` wrote it; undefined for anything else (written by something else: dropped). */
function parseChange(text: string): IncidentChange | undefined {
  try {
    const c = JSON.parse(text) as IncidentChange;
    return typeof c?.kind === 'string' && typeof c.incident?.key === 'string' && typeof c.incident.id === 'string'
      ? c
      : undefined;
  } catch {
    return undefined;
  }
}
