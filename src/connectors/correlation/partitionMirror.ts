import type { Logger } from 'pino';
import { incidentSets, type IncidentRecord } from '../../correlation/incidentBook.ts';
import type { Incident } from '../../model/incident.ts';
import { IncidentsInView } from './incidentsInView.ts';
import type { RedisClient } from '../../state/redisConnection.ts';
import { decodeCheckpointEntry, foldSetFields, setFieldNames } from '../../state/stateCheckpoint.ts';

/** Resolved incidents stay in view this long, as in an engine. */
const RESOLVED_KEPT_MS = 24 * 3600 * 1000;

export interface PartitionMirrorOptions {
  /** A connection of its own: it subscribes. */
  subscriber: RedisClient;
  /** The channel every owner tells its incidents' changes on. */
  channel: string;
  logger: Logger;
  /** Incidents as an owner just told them (this agent's own deliveries included). */
  told?(incidents: readonly Incident[]): void;
}

/**
 * The incidents of the partitions other agents hold, as their owners told them (every delivery
 * is published on one channel) and, for those that did not change since this agent started, as
 * the partitions' checkpoints hold them: what the operators' API of this agent shows beside its
 * own partitions' incidents. A view, a delivery behind its owner at most.
 */
export class PartitionMirror {
  private readonly opts: PartitionMirrorOptions;
  private readonly byKey = new Map<string, Incident>();
  private readonly keyOfId = new Map<string, string>();
  /**
   * The open ones of `byKey` and those resolved lately (see `prune`): what inhibits and marks
   * assets down in the other partitions, or did at moments a replay judges again.
   */
  private readonly inView = new IncidentsInView();

  constructor(opts: PartitionMirrorOptions) {
    this.opts = opts;
  }

  /** Subscribes; the client subscribes again by itself after a reconnect. */
  async start(): Promise<void> {
    const { subscriber, channel, logger } = this.opts;
    subscriber.on('message', (from: string, message: string) => {
      if (from !== channel) return;
      try {
        const incidents = JSON.parse(message) as Incident[];
        this.note(incidents);
        this.opts.told?.(incidents);
      } catch (err) {
        logger.debug({ err }, 'an unreadable message on the partitions’ incidents channel');
      }
    });
    await subscriber.subscribe(channel);
  }

  /** Incidents as an owner told them: each the latest of its key. */
  note(incidents: readonly Incident[]): void {
    for (const inc of incidents) this.set(inc);
  }

  /**
   * The incidents of a partition's checkpoint (its `i:` entries) that are later than what was
   * heard of them: what an agent that starts shows of incidents that have not changed since, and
   * what one that reconnects missed being told meanwhile (a resolution, say, which inhibition
   * must see).
   */
  async load(client: RedisClient, checkpointKey: string): Promise<void> {
    let cursor = '0';
    do {
      const [next, fields] = (await client.hscan(checkpointKey, cursor, 'MATCH', 'i:*', 'COUNT', 1000)) as [
        string,
        string[],
      ];
      cursor = next;
      const taken: Incident[] = [];
      for (let i = 0; i + 1 < fields.length; i += 2) {
        const decoded = decodeCheckpointEntry(fields[i + 1]!);
        if (decoded.kind !== 'register' || decoded.deleted) continue;
        const inc = (decoded.register.value as unknown as IncidentRecord | null)?.incident;
        if (inc && this.later(inc)) taken.push(inc);
      }
      await this.fillSets(client, checkpointKey, taken);
      for (const inc of taken) this.set(inc);
    } while (cursor !== '0');
  }

  /**
   * Fills the audit trails and samples of incidents read from a checkpoint, whose records leave
   * both to their sets (the checkpoint's `au:` and `sm:` fields); records an older version wrote
   * whole keep theirs.
   */
  private async fillSets(client: RedisClient, checkpointKey: string, incidents: Incident[]): Promise<void> {
    const bare = incidents.filter((inc) => inc.audit.length === 0);
    if (bare.length === 0) return;
    // Each set's fields: the set and what it gained since (`setFieldNames`), in one HMGET.
    const keys = bare.flatMap((inc) => [
      ...setFieldNames(incidentSets.trailKey(inc)),
      ...setFieldNames(incidentSets.sampleKey(inc)),
    ]);
    const sets = foldSetFields(await client.hmget(checkpointKey, ...keys));
    bare.forEach((inc, i) => {
      const trail = sets[2 * i];
      if (trail) inc.audit = incidentSets.trail(trail);
      const sample = sets[2 * i + 1];
      if (sample?.length) inc.sampleEventIds = incidentSets.sample(sample);
    });
  }

  /** Whether `inc` is a later state of its key than the one held: a later version, or a later incident. */
  private later(inc: Incident): boolean {
    const held = this.byKey.get(inc.key);
    if (held === undefined) return true;
    return held.id === inc.id ? inc.version > held.version : inc.openedAtMs > held.openedAtMs;
  }

  private set(inc: Incident): void {
    const was = this.byKey.get(inc.key);
    if (was && was.id !== inc.id) this.keyOfId.delete(was.id);
    this.byKey.set(inc.key, inc);
    this.keyOfId.set(inc.id, inc.key);
    this.inView.note(inc);
  }

  /**
   * Forgets incidents resolved longer ago than an engine keeps them, and keeps out of
   * `resolvedSince` those resolved more than `lateMs` ago.
   */
  prune(nowMs: number, lateMs: number): void {
    this.inView.prune(nowMs - lateMs);
    for (const [key, inc] of this.byKey)
      if (inc.status === 'resolved' && inc.resolvedAtMs < nowMs - RESOLVED_KEPT_MS) {
        this.byKey.delete(key);
        this.keyOfId.delete(inc.id);
      }
  }

  /** The incidents on keys `mine` does not claim (this agent's own partitions answer for those). */
  *incidents(mine: (key: string) => boolean): Iterable<Incident> {
    for (const [key, inc] of this.byKey) if (!mine(key)) yield inc;
  }

  /** The open incidents on keys `mine` does not claim. */
  *openIncidents(mine: (key: string) => boolean): Iterable<Incident> {
    for (const [key, inc] of this.inView.open) if (!mine(key)) yield inc;
  }

  /** The incidents resolved at or after `atMs`, lately (see `prune`), on keys `mine` does not claim. */
  resolvedSince(atMs: number, mine: (key: string) => boolean): Iterable<Incident> {
    return this.inView.resolvedSince(atMs, mine);
  }

  get(key: string): Incident | undefined {
    return this.byKey.get(key);
  }

  byId(id: string): Incident | undefined {
    const key = this.keyOfId.get(id);
    return key === undefined ? undefined : this.byKey.get(key);
  }
}
