import { SILENCE_RETENTION_MS, type SilenceRecord } from '../../correlation/silences.ts';
import { runScript, type RedisClient } from '../../state/redisConnection.ts';

/**
 * The silences (and maintenance windows) made through the operators' API under
 * `state.sharing: partitions`: one Redis hash every agent writes to and reads each round, so that
 * every partition's engine, whichever agent holds it now or later, applies each of them. Kept a
 * retention past their end, as the engine keeps them.
 */
export class SharedSilences {
  private readonly client: RedisClient;
  private readonly key: string;
  private known = new Map<string, SilenceRecord>();

  constructor(client: RedisClient, key: string) {
    this.client = client;
    this.key = key;
  }

  /** As last read or written here. */
  list(): SilenceRecord[] {
    return [...this.known.values()];
  }

  get(id: string): SilenceRecord | undefined {
    return this.known.get(id);
  }

  /** Writes one for every agent; resolves once Redis has it. */
  async put(s: SilenceRecord): Promise<void> {
    await this.client.hset(this.key, s.id, JSON.stringify(s));
    this.known.set(s.id, s);
  }

  /**
   * Writes back those known here (Redis lost its data), each unless Redis holds a version of it as
   * new or newer (`updatedAtMs`): another agent may have known a later edit, and written it back first.
   */
  async restore(): Promise<void> {
    for (const s of this.known.values())
      await runScript(this.client, 'vigilSilenceRestore', [this.key], [s.id, JSON.stringify(s), s.updatedAtMs]);
  }

  /** Reads every agent's, and forgets (in Redis too) those past their retention. */
  async load(nowMs: number): Promise<SilenceRecord[]> {
    const all = await this.client.hgetall(this.key);
    const known = new Map<string, SilenceRecord>();
    const gone: string[] = [];
    for (const [id, text] of Object.entries(all)) {
      let s: SilenceRecord;
      try {
        s = JSON.parse(text) as SilenceRecord;
      } catch {
        gone.push(id);
        continue;
      }
      if (s.endsAtMs + SILENCE_RETENTION_MS < nowMs) gone.push(id);
      else known.set(id, s);
    }
    if (gone.length) await this.client.hdel(this.key, ...gone);
    this.known = known;
    return [...known.values()];
  }
}
