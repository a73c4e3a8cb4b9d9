import { describe, expect, it } from 'vitest';
import { LocalHandoff } from '../../../src/connectors/correlation/localHandoff.ts';
import { newEvent } from '../../../src/model/event.ts';
import { exactInRows } from '../../../src/model/eventRows.ts';

describe('the hand-off of an agent’s own events to its owner', () => {
  const event = (n: number) => newEvent({ source: 'json', id: `e${n}`, timeUnixNano: BigInt(n) * 1_000_000n });

  it('gives an entry’s events once, as a copy of what was sent, by stream and send number', () => {
    const handoff = new LocalHandoff(exactInRows);
    const sent = [event(1), event(2)];
    handoff.offer('s:0', '7', sent);
    sent.length = 0; // the sender reuses its array
    expect(handoff.take('s:1', '7')).toBeUndefined();
    expect(handoff.take('s:0', '8')).toBeUndefined();
    expect(handoff.take('s:0', '7')?.map((e) => e.id)).toEqual(['e1', 'e2']);
    expect(handoff.take('s:0', '7')).toBeUndefined();
    expect(handoff.handed).toBe(2);
  });

  it('keeps nothing the stream would not give back equal, and no more than 65,536 events or 4,096 entries: the oldest go', () => {
    const handoff = new LocalHandoff(exactInRows);
    handoff.offer('s:0', '1', [newEvent({ source: 'json', attributes: { big: 2n ** 60n } })]);
    expect(handoff.size).toBe(0);
    // Entries of 1,000 events: the 66th sends the first away.
    const thousand = Array.from({ length: 1000 }, (_, i) => event(i));
    for (let seq = 1; seq <= 66; seq++) handoff.offer('s:1', String(seq), thousand);
    expect([handoff.size, handoff.events]).toEqual([65, 65_000]);
    expect(handoff.take('s:1', '1')).toBeUndefined();
    expect(handoff.take('s:1', '2')).toHaveLength(1000);
    expect(handoff.events).toBe(64_000);
    // Entries of one event: 4,096 at most.
    for (let seq = 1; seq <= 5000; seq++) handoff.offer('s:0', String(seq), [event(seq)]);
    expect(handoff.size).toBe(4096);
    expect(handoff.take('s:0', '904')).toBeUndefined();
    expect(handoff.take('s:0', '905')?.[0]?.id).toBe('e905');
    expect(handoff.take('s:0', '5000')?.[0]?.id).toBe('e5000');
    expect(handoff.events).toBe(4094);
  });
});
