import type { Cluster } from 'ioredis';
import { keySlot } from './keySlot.ts';
import { masterAt } from './redisConnection.ts';

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
    if (this.timeoutMs <= 0) return false;
    const masters = new Set<string>();
    for (const key of keys) {
      const at = this.cluster.slots[keySlot(key)]?.[0];
      if (at !== undefined) masters.add(at);
    }
    if (masters.size === 0) return false;
    const has = await Promise.all([...masters].map((at) => this.waitOn(at)));
    return has.every(Boolean);
  }

  private async waitOn(at: string): Promise<boolean> {
    const node = masterAt(this.cluster, at);
    if (node === undefined) return false;
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
    } catch {
      // Unreachable now: what the claims come to is the connection's fate, and the next wait asks again.
    }
    return false;
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
