import type { GroupState } from '../exporters/tickets/notificationGroups.ts';
import { runScript, type RedisClient } from './redisConnection.ts';
import type { RedisKeys } from './redisKeys.ts';
import { RedisLease } from './redisLease.ts';

/** The term a write is made in: the lease's owner token and the fence of its term. */
export interface GroupTerm {
  owner: string;
  fence: number;
}

export interface RedisGroupStoreOptions {
  /** A connected client, shared with the state store; the group store never closes it. */
  client: RedisClient;
  keys: RedisKeys;
  /** The exporter whose groups these are. */
  exporter: string;
}

/** Groups read per HSCAN round: loading many groups does not hold Redis up in one command. */
const SCAN_COUNT = 500;

/**
 * One exporter's notification groups in Redis, so that the agent that runs them (the holder of
 * the exporter's group lease) can hand them to the next when the lease moves. Every write carries
 * the term it is made in and is refused, as a whole, unless that term still holds the lease: a
 * runner that stalled past its term cannot overwrite what its successor wrote.
 *
 * A group is one field (its whole state as JSON), so a write of a group of many members sends
 * them all; members keep the order they joined in, which a flush's notification lists.
 */
export class RedisGroupStore {
  private readonly client: RedisClient;
  private readonly keys: [lease: string, fence: string, groups: string];

  constructor(opts: RedisGroupStoreOptions) {
    this.client = opts.client;
    this.keys = opts.keys.groupKeys(opts.exporter);
  }

  /** The lease whose holder runs the exporter's groups (its fence fences the writes). */
  lease(owner: string, ttlMs: number): RedisLease {
    return new RedisLease(this.client, [this.keys[0], this.keys[1]], owner, ttlMs);
  }

  /** Every group stored, by group key. A field that is not a group's JSON is skipped. */
  async load(): Promise<Map<string, GroupState>> {
    const groups = new Map<string, GroupState>();
    let cursor = '0';
    do {
      const [next, flat] = await this.client.hscan(this.keys[2], cursor, 'COUNT', SCAN_COUNT);
      cursor = next;
      for (let i = 0; i + 1 < flat.length; i += 2) {
        try {
          groups.set(flat[i]!, JSON.parse(flat[i + 1]!) as GroupState);
        } catch {
          // not ours: written by something else under the prefix
        }
      }
    } while (cursor !== '0');
    return groups;
  }

  /**
   * Stores each group (undefined: forgets it) if `term` still holds the lease; false when it does
   * not, and nothing was written. Throws when Redis cannot be reached.
   */
  async write(term: GroupTerm, groups: ReadonlyMap<string, GroupState | undefined>): Promise<boolean> {
    const args: (string | number)[] = [term.owner, term.fence];
    for (const [key, g] of groups) args.push(key, g === undefined ? '' : JSON.stringify(g));
    return Number(await runScript(this.client, 'vigilGroupsWrite', this.keys, args)) === 1;
  }
}
