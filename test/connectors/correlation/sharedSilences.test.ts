import type { Redis } from 'ioredis';
import { beforeEach, describe, expect, it } from 'vitest';
import { SharedSilences } from '../../../src/connectors/correlation/sharedSilences.ts';
import type { SilenceRecord } from '../../../src/correlation/silences.ts';
import { freshPrefix, redisAndClients } from '../../state/redisHelpers.ts';

// The silences agents share on partitions (src/connectors/correlation/sharedSilences.ts), on a
// real redis-server: what each agent writes back when Redis lost its data.

const NOW = Date.UTC(2026, 11, 6, 10, 0);

function silence(updatedAtMs: number, comment: string): SilenceRecord {
  return {
    id: 'maintenance',
    matchers: [{ name: 'service', value: 'billing', isRegex: false, isEqual: true }],
    startsAtMs: NOW,
    endsAtMs: NOW + 3_600_000,
    createdBy: 'ops',
    comment,
    tenant: '',
    updatedAtMs,
  };
}

describe('silences shared on partitions, written back after Redis lost its data', () => {
  const redis = redisAndClients();
  let client: Redis;
  beforeEach(async () => {
    client = await redis.client();
  });

  it.each([
    ['the agent that knew the edit writes back last', ['stale', 'current']],
    ['the agent that knew the edit writes back first', ['current', 'stale']],
  ])('keep the latest version of a silence whichever agent writes back first: %s', async (_, order) => {
    const key = `${freshPrefix()}:{partitions}:silences`;
    // One agent read the silence before an operator edited it (through another agent), one after.
    const stale = new SharedSilences(client, key);
    const current = new SharedSilences(client, key);
    await stale.put(silence(NOW, 'until 11:00'));
    await current.load(NOW);
    await current.put({ ...silence(NOW + 60_000, 'until 12:00'), endsAtMs: NOW + 7_200_000 });
    await client.del(key);
    const agents = { stale, current };
    for (const who of order) await agents[who as keyof typeof agents].restore();
    const back = await new SharedSilences(client, key).load(NOW);
    expect(back.map((s) => [s.comment, s.endsAtMs])).toEqual([['until 12:00', NOW + 7_200_000]]);
  });

  it('leave alone a silence written since the loss, newer than what an agent knew', async () => {
    const key = `${freshPrefix()}:{partitions}:silences`;
    const agent = new SharedSilences(client, key);
    await agent.put(silence(NOW, 'until 11:00'));
    await client.del(key);
    await new SharedSilences(client, key).put(silence(NOW + 120_000, 'made again after the loss'));
    await agent.restore();
    expect((await new SharedSilences(client, key).load(NOW)).map((s) => s.comment)).toEqual([
      'made again after the loss',
    ]);
  });
});
