import type { Cluster } from 'ioredis';
import { keySlot } from './keySlot.ts';
import { masterAt, unreachable } from './redisConnection.ts';

/**
 * Waits on a Cluster until a replica of each master that took some of the keys given has what
 * this client wrote there: `WAIT 1` on the cluster's own connection to each (its writes went on
 * that one), all at once. Each master is asked first how it stands (`INFO replication`): one
 * without replicas is not waited for (a WAIT would take its whole timeout), nor is one left
 * behind, as the partitions' sender leaves its node: its wait timed out, and none of its replicas
 * has yet reached the offset it had then (a replica that stopped would otherwise cost every later
 * wait its whole timeout). The client's slot map does not say which masters have replicas: the
 * cluster lists a replica there only once it has replicated something.
 */
export class ClusterReplicaWaits {
  private readonly cluster: Cluster;
  private readonly timeoutMs: number;
  /** Masters left behind (`host:port`), with the offset one of their replicas must reach. */
  private readonly lagging = new Map<string, number>();

  constructor(cluster: Cluster, timeoutMs: number) {
    this.cluster = cluster;
    this.timeoutMs = timeoutMs;
  }

  /** Whether a replica of every master holding some of `keys` has this client's writes there. */
  async wait(keys: Iterable<string>): Promise<boolean> {
    return (await this.waitFor(keys)).replicated;
  }

  /**
   * As `wait`, telling too which of `keys` lie on a master that could not be asked (its
   * connection lost, or no master known for their slot): what was written there may be lost
   * with it, or on a replica promoted since, and no answer here says which.
   */
  async waitFor(keys: Iterable<string>): Promise<{ replicated: boolean; unreached: string[] }> {
    // No waits (replica_wait 0): nothing is asked, nor held back.
    if (this.timeoutMs <= 0) return { replicated: false, unreached: [] };
    const byMaster = new Map<string, string[]>();
    const unreached: string[] = [];
    for (const key of keys) {
      const at = this.cluster.slots[keySlot(key)]?.[0];
      if (at === undefined) {
        unreached.push(key);
        continue;
      }
      const on = byMaster.get(at);
      if (on) on.push(key);
      else byMaster.set(at, [key]);
    }
    const has = await Promise.all([...byMaster.keys()].map((at) => this.waitOn(at)));
    const masters = [...byMaster.values()];
    has.forEach((h, i) => {
      if (h === 'unreached') unreached.push(...masters[i]!);
    });
    return { replicated: has.length > 0 && has.every((h) => h === true), unreached };
  }

  private async waitOn(at: string): Promise<boolean | 'unreached'> {
    const node = masterAt(this.cluster, at);
    if (node === undefined) return 'unreached';
    try {
      const { replicas, offset, acked } = replication(await node.info('replication'));
      if (replicas === 0) {
        this.lagging.delete(at);
        return false;
      }
      const mark = this.lagging.get(at);
      if (mark !== undefined) {
        if (acked < mark) return false;
        this.lagging.delete(at);
      }
      // What this client wrote there came before the INFO above: the offset it gave covers it.
      if ((await node.wait(1, this.timeoutMs)) >= 1) return true;
      this.lagging.set(at, offset);
      return false;
    } catch (err) {
      // Unreachable now (down, or failing over): the caller knows what it wrote there, and the
      // next wait asks again. A refusal (an ACL without WAIT, say) is an answer: no wait.
      return unreachable(err) ? 'unreached' : false;
    }
  }
}

/** A master's replicas, its replication offset, and the furthest of its replicas' (`INFO replication`). */
function replication(info: string): { replicas: number; offset: number; acked: number } {
  const replicas = Number(/^connected_slaves:(\d+)/m.exec(info)?.[1] ?? 0);
  const offset = Number(/^master_repl_offset:(\d+)/m.exec(info)?.[1] ?? 0);
  let acked = -1;
  for (const m of info.matchAll(/^slave\d+:.*\boffset=(\d+)/gm)) acked = Math.max(acked, Number(m[1]));
  return { replicas, offset, acked };
}
