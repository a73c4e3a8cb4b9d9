import { randomBytes } from 'node:crypto';
import { flushDueAtMs, mayBeNews, type GroupMember, type GroupState } from '../exporters/tickets/notificationGroups.ts';
import {
  WRITE_BACK_WINDOW_MS,
  type FlushClaim,
  type GroupHeader,
  type SharedGroups,
  type SharedJoin,
} from '../exporters/tickets/sharedGroups.ts';
import { reaching } from './ledgerReach.ts';
import { runScript, type RedisClient } from './redisConnection.ts';
import type { RedisKeys } from './redisKeys.ts';
import { RedisLease } from './redisLease.ts';

export interface RedisNotificationGroupsOptions {
  client: RedisClient;
  keys: RedisKeys;
  /** The exporter whose groups these are. */
  exporter: string;
  /** Owner token of this process (the ledger's: agent id and a random suffix). */
  owner: string;
  /** How long a flush claim outlives an agent that died while flushing. */
  claimTtlMs: number;
  /** How long a group outlives its last change (its flushes every `repeat_interval` renew it). */
  ttlMs: number;
}

/** The header fields the scripts reply, in their order. */
type HeaderReply = [
  h: string | null,
  flushed: string | null,
  changed: string | null,
  notified: string | null,
  version: string | null,
];

function header(reply: HeaderReply): GroupHeader {
  const [h, flushed, changed, notified, version] = reply;
  const out = JSON.parse(h!) as GroupHeader;
  if (flushed) out.flushedAtMs = Number(flushed);
  if (changed) out.changedAtMs = Number(changed);
  if (notified) out.notified = JSON.parse(notified) as GroupHeader['notified'];
  out.version = Number(version ?? 0);
  return out;
}

/** A member field's value: `<1|0><join sequence>|<JSON>`. */
function parseMember(value: string): { seq: number; member: GroupMember } {
  const bar = value.indexOf('|');
  const member = JSON.parse(value.slice(bar + 1)) as GroupMember;
  member.firing = value[0] === '1';
  return { seq: Number(value.slice(1, bar)), member };
}

/**
 * An exporter's notification groups in Redis, one hash per group (see GROUP_JOIN_SCRIPT), so
 * every agent's incidents join the same group and one agent flushes it: a flush takes the
 * group's lease (a claim with a fence, as a ticket's creation does), reads every member, and
 * records what it notified and gives the lease back in one script that checks the fence, so an
 * agent that stalled past its claim cannot write over the next holder's flush. A sorted set indexes the groups by their
 * next flush, so a group any agent formed is found even when the agents that knew it are gone.
 */
export class RedisNotificationGroups implements SharedGroups {
  private readonly opts: RedisNotificationGroupsOptions;
  private readonly index: string;

  get claimTtlMs(): number {
    return this.opts.claimTtlMs;
  }

  constructor(opts: RedisNotificationGroupsOptions) {
    this.opts = opts;
    this.index = opts.keys.groupIndexKey(opts.exporter);
  }

  async join(
    key: string,
    create: GroupHeader,
    joins: readonly SharedJoin[],
    nowMs: number,
    keepResolutions = false,
  ): Promise<GroupHeader | undefined> {
    const [group] = this.opts.keys.groupKeys(key, this.opts.exporter);
    const args: (string | number)[] = [
      nowMs,
      JSON.stringify(create),
      this.opts.ttlMs,
      nowMs - WRITE_BACK_WINDOW_MS,
      keepResolutions ? '1' : '0',
    ];
    for (const j of joins) {
      // Whether it is news against the member as the group has it, the script decides.
      args.push(j.key, j.member.firing ? '1' : '0', mayBeNews(j.member.kind) ? '1' : '0', JSON.stringify(j.member));
    }
    return this.write('adding to a notification group', 'vigilGroupJoin', key, group, args);
  }

  async generation(): Promise<string> {
    const key = this.opts.keys.groupGenerationKey(this.opts.exporter);
    const replies = await reaching('reading the notification groups generation', () =>
      this.opts.client.multi().set(key, randomBytes(8).toString('hex'), 'NX').get(key).exec(),
    );
    const failed = replies?.find(([err]) => err)?.[0];
    if (failed) throw failed;
    return String(replies![1]![1]);
  }

  async restore(
    key: string,
    h: GroupHeader,
    members: readonly SharedJoin[],
    nowMs: number,
  ): Promise<GroupHeader | undefined> {
    const [group] = this.opts.keys.groupKeys(key, this.opts.exporter);
    const { flushedAtMs, changedAtMs, notified, version, ...formedWith } = h;
    const args: (string | number)[] = [
      nowMs,
      JSON.stringify({ ...formedWith, version: 0 }),
      this.opts.ttlMs,
      flushedAtMs ?? '',
      changedAtMs ?? '',
      notified ? JSON.stringify(notified) : '',
      version,
    ];
    for (const { key: k, member } of members)
      args.push(
        k,
        member.firing ? '1' : '0',
        member.incident.updatedAtMs,
        member.incident.version,
        JSON.stringify(member),
      );
    return this.write('writing back a notification group', 'vigilGroupRestore', key, group, args);
  }

  /** Runs a script that writes group `key` and replies its header (nil: no group), and indexes the group. */
  private async write(
    what: string,
    script: 'vigilGroupJoin' | 'vigilGroupRestore',
    key: string,
    group: string,
    args: (string | number)[],
  ): Promise<GroupHeader | undefined> {
    const reply = (await reaching(what, () =>
      runScript(this.opts.client, script, [group], args),
    )) as HeaderReply | null;
    if (!reply) return undefined;
    const out = header(reply);
    await this.indexAt(key, out);
    return out;
  }

  async claimFlush(key: string): Promise<FlushClaim | 'held'> {
    const [group, leaseKey, fenceKey] = this.opts.keys.groupKeys(key, this.opts.exporter);
    const lease = new RedisLease(this.opts.client, [leaseKey, fenceKey], this.opts.owner, this.opts.claimTtlMs);
    const fence = await reaching('claiming a group flush', () => lease.acquire());
    if (fence === undefined) return 'held';
    let fields: Record<string, string>;
    try {
      fields = await reaching('reading a notification group', () => this.opts.client.hgetall(group));
    } catch (err) {
      await lease.release().catch(() => undefined);
      throw err;
    }
    const read = fields['#h'] === undefined ? undefined : this.readGroup(fields);
    // The flush script gives the lease back as it records the flush.
    let recorded = false;
    const release = () => (recorded ? Promise.resolve() : reaching('releasing a group flush', () => lease.release()));
    if (!read) {
      await this.opts.client.zrem(this.index, key).catch(() => undefined);
      return { group: undefined, commit: () => Promise.resolve(undefined), release };
    }
    const restored = fields['#restored'];
    return {
      group: read,
      ...(restored === undefined ? {} : { writtenBackAtMs: Number(restored) }),
      release,
      commit: async (nowMs, after, sent) => {
        // Forgotten (every member resolved): what it told is known all the same, for a member that joined meanwhile.
        const told = after ?? {
          notified: { atMs: nowMs, firing: [], resolved: Object.keys(read.members) },
          version: read.version + 1,
        };
        const args: (string | number)[] = [
          this.opts.owner,
          fence,
          fields['#h']!,
          nowMs,
          fields['#news'] ?? '0',
          sent ? JSON.stringify(told.notified) : '',
          sent ? told.version : 0,
          this.opts.ttlMs,
        ];
        // Every member not kept was reported resolved: it leaves, unless it changed since the read.
        for (const m of Object.keys(read.members))
          if (!after || !(m in after.members)) args.push(`m:${m}`, fields[`m:${m}`]!);
        const reply = (await reaching('recording a group flush', () =>
          runScript(this.opts.client, 'vigilGroupFlush', [group, leaseKey, fenceKey], args),
        )) as HeaderReply | number;
        if (reply === -1) throw new Error(`the flush claim of group ${key} lapsed before its flush was recorded`);
        recorded = true;
        if (typeof reply === 'number') {
          await this.opts.client.zrem(this.index, key).catch(() => undefined);
          return undefined;
        }
        const out = header(reply);
        await this.indexAt(key, out);
        return out;
      },
    };
  }

  async due(nowMs: number, limit: number): Promise<string[]> {
    return reaching('listing due notification groups', () =>
      this.opts.client.zrangebyscore(this.index, '-inf', nowMs, 'LIMIT', 0, limit),
    );
  }

  private readGroup(fields: Record<string, string>): GroupState {
    const h = header([
      fields['#h']!,
      fields['#flushed'] ?? null,
      fields['#changed'] ?? null,
      fields['#notified'] ?? null,
      fields['#version'] ?? null,
    ]);
    const members: { key: string; seq: number; member: GroupMember }[] = [];
    for (const [field, value] of Object.entries(fields))
      if (field.startsWith('m:')) members.push({ key: field.slice(2), ...parseMember(value) });
    // In the order they joined, as one agent lists them.
    members.sort((a, b) => a.seq - b.seq);
    const out: GroupState = { ...h, members: {} };
    for (const m of members) out.members[m.key] = m.member;
    return out;
  }

  /** Indexes the group at its next flush; only a hint for finding it (the group's hash decides). */
  private async indexAt(key: string, h: GroupHeader): Promise<void> {
    await this.opts.client
      .multi()
      .zadd(this.index, flushDueAtMs({ ...h, members: {} }), key)
      .pexpire(this.index, this.opts.ttlMs)
      .exec()
      .catch(() => undefined);
  }
}
