import { createHash } from 'node:crypto';

/**
 * How state keys map to Redis keys. The engine names its keys `<kind>:<rule>{labels}…`; the rule
 * name becomes the hash tag, so all keys of one rule live in one Redis Cluster slot and one Lua
 * script can update them together with the rule's sequence counter, while different rules
 * spread over the cluster.
 *
 *   engine key   c:errors{svc="a"}#12  →  redis key  vigil:{=errors}:c:errors{svc="a"}#12
 *   rule sequence                      →  vigil:{=errors}#seq
 *
 * The `=` keeps the tag non-empty (Redis hashes the whole key when the braces hold nothing), and
 * a tag never holds `}`, so a Redis key decodes back to its engine key without ambiguity.
 */
export class RedisKeys {
  readonly prefix: string;
  /** Pub/sub channel that carries state changes between agents. */
  readonly channel: string;
  /** Names the shared state's lifetime: gone or replaced when Redis lost its data. */
  readonly epochKey: string;
  /** SCAN pattern matching every state key (and the sequence keys, which `decode` skips). */
  readonly statePattern: string;
  private readonly stateStart: string;

  constructor(prefix: string) {
    this.prefix = prefix;
    this.channel = `${prefix}:state`;
    this.epochKey = `${prefix}:epoch`;
    this.stateStart = `${prefix}:{=`;
    this.statePattern = `${this.stateStart}*`;
  }

  /** The hash tag of an engine key: its rule, the text after the first `:` up to a brace or colon. */
  tagOf(key: string): string {
    const colon = key.indexOf(':');
    let i = colon + 1;
    while (i < key.length) {
      const c = key.charCodeAt(i);
      if (c === 58 /* : */ || c === 123 /* { */ || c === 125 /* } */) break;
      i++;
    }
    return key.slice(colon + 1, i);
  }

  stateKey(key: string, tag = this.tagOf(key)): string {
    return `${this.stateStart}${tag}}:${key}`;
  }

  sequenceKey(tag: string): string {
    return `${this.stateStart}${tag}}#seq`;
  }

  /** The engine key of a Redis state key; undefined for other keys under the prefix. */
  decode(redisKey: string): string | undefined {
    if (!redisKey.startsWith(this.stateStart)) return undefined;
    const close = redisKey.indexOf('}', this.stateStart.length);
    if (close === -1 || redisKey.charCodeAt(close + 1) !== 58) return undefined;
    return redisKey.slice(close + 2);
  }

  /** A lease and its fencing counter share a slot, so one script moves both. */
  leaseKeys(name: string): [lease: string, fence: string] {
    return [`${this.prefix}:lease:{${name}}`, `${this.prefix}:lease:{${name}}#fence`];
  }

  /**
   * The owners design's partition table and the hashes its holders write under their terms
   * (`what`: a checkpoint of partition 3 is `checkpoint:3`), all in one slot, so one script checks
   * a term and writes under it.
   */
  partitionKeys(): { table: string; held(what: string): string } {
    const table = `${this.prefix}:{partitions}`;
    return { table, held: (what) => `${table}:${what}` };
  }

  /**
   * The notifications each agent (by incarnation) claimed and has not yet handed to its incidents
   * pipelines, with its presence and the set of agents that have some, all in one slot: the
   * leader sends those of an agent whose presence expired (sharing: state).
   */
  unsentKeys(): { agents: string; unsent(incarnation: string): string; presence(incarnation: string): string } {
    const tag = `${this.prefix}:{unsent}`;
    return {
      agents: `${tag}:agents`,
      unsent: (incarnation) => `${tag}:by:${incarnation}`,
      presence: (incarnation) => `${tag}:alive:${incarnation}`,
    };
  }

  /** Who opened an incident, held briefly so a twin opening by another agent is dropped. */
  openerKey(incidentKey: string): string {
    return `${this.prefix}:opener:{${incidentKey}}`;
  }

  /** Marks one notification of an incident as sent (`what`: id, kind and moment). */
  notifiedKey(incidentKey: string, what: string): string {
    return `${this.prefix}:told:{${incidentKey}}:${what}`;
  }

  /**
   * The claims that one notification of an incident was sent: one per id it goes by (`ids`, its
   * own and those merged into it), so that an agent that knows the incident by another id, not
   * having heard of the merge, finds the claim. Twins merge only within one incident key, and
   * every claim of a key has the same hash tag (the key up to its first `}`): all of them lie in
   * one Redis Cluster slot, and one script takes them together.
   *
   * `momentMs` tells one notification of a kind from the next (a resolution after a reopening
   * is another). An opening, told once per id, is claimed without it: a merge dates the incident
   * at the earlier twin's opening, which moves the moment. Versions before this one claimed
   * `<id>:<kind>:<momentMs>` on the incident's own id alone; that claim is among these, so
   * during a rolling update agents of both versions see each other's claims.
   */
  notificationClaimKeys(incidentKey: string, ids: readonly string[], kind: string, momentMs: number): string[] {
    if (kind !== 'opened') return ids.map((id) => this.notifiedKey(incidentKey, `${id}:${kind}:${momentMs}`));
    const keys = ids.map((id) => this.notifiedKey(incidentKey, `${id}:opened`));
    keys.push(this.notifiedKey(incidentKey, `${ids[0]}:opened:${momentMs}`));
    return keys;
  }

  /**
   * An exporter's notification group (its header fields and members in one hash) and the lease
   * and fence of its flushes, all in one slot. A group key holds braces and is long
   * (`{}/{severity>="error"}:{site="paris"}`): its digest makes the tag, so groups spread over a
   * cluster and no key spells another's tag.
   */
  groupKeys(groupKey: string, exporter: string): [group: string, lease: string, fence: string] {
    const tag = `{group@${exporter}:${createHash('sha256').update(groupKey).digest('hex').slice(0, 24)}}`;
    return [`${this.prefix}:group:${tag}`, `${this.prefix}:lease:${tag}`, `${this.prefix}:lease:${tag}#fence`];
  }

  /**
   * Names the lifetime of an exporter's groups in Redis: gone or replaced when Redis lost its
   * data, which tells each agent to write back the groups it knows.
   */
  groupGenerationKey(exporter: string): string {
    return `${this.prefix}:groups@${exporter}#generation`;
  }

  /** An exporter's groups by the time of their next flush (a sorted set of group keys). */
  groupIndexKey(exporter: string): string {
    return `${this.prefix}:groups@${exporter}`;
  }

  /**
   * An exporter's ticket record of an incident, its creation lease and fence, all in one slot.
   * Without an exporter: the layout before records were the exporter's own, read only on upgrade.
   * Exporter ids hold no `:`, so no exporter and key pair spells another's.
   */
  ticketKeys(incidentKey: string, exporter?: string): [lease: string, fence: string, record: string] {
    const tag = exporter === undefined ? `{ticket:${incidentKey}}` : `{ticket@${exporter}:${incidentKey}}`;
    return [`${this.prefix}:lease:${tag}`, `${this.prefix}:lease:${tag}#fence`, `${this.prefix}:ticket:${tag}`];
  }
}
