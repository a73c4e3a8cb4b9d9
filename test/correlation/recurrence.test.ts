import { describe, expect, it } from 'vitest';
import { currentOrNextWindow, instantOf, recurrenceActive, type Recurrence } from '../../src/correlation/recurrence.ts';
import { maintenanceActive } from '../../src/correlation/suppression.ts';

const at = (iso: string) => Date.parse(iso);
const wall = (y: number, m: number, d: number, h: number, min: number) => Date.UTC(y, m - 1, d, h, min);
const SUNDAY = new Set([0]);

/** Which of `instants` a recurrence is on at. */
const onAt = (r: Recurrence, instants: string[]) => instants.filter((i) => recurrenceActive(r, at(i)));

describe('local times on days clocks change (RFC 5545: a skipped time takes the offset before, a repeated one its first)', () => {
  it('reads 02:30 on the spring-forward night as 03:30 after the change', () => {
    // Paris 2026-03-29: 02:00 CET becomes 03:00 CEST; 02:30 does not exist.
    expect(new Date(instantOf('Europe/Paris', wall(2026, 3, 29, 2, 30))).toISOString()).toBe(
      '2026-03-29T01:30:00.000Z',
    );
    // New York 2026-03-08: 02:00 EST becomes 03:00 EDT.
    expect(new Date(instantOf('America/New_York', wall(2026, 3, 8, 2, 30))).toISOString()).toBe(
      '2026-03-08T07:30:00.000Z',
    );
  });

  it('reads 02:30 on the fall-back night as its first occurrence, before the change', () => {
    // Paris 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:30 happens at 00:30Z and again at 01:30Z.
    expect(new Date(instantOf('Europe/Paris', wall(2026, 10, 25, 2, 30))).toISOString()).toBe(
      '2026-10-25T00:30:00.000Z',
    );
    // New York 2026-11-01: 01:30 happens in EDT (05:30Z) and again in EST (06:30Z).
    expect(new Date(instantOf('America/New_York', wall(2026, 11, 1, 1, 30))).toISOString()).toBe(
      '2026-11-01T05:30:00.000Z',
    );
  });

  it('leaves times away from a change, and zones without one, as they are', () => {
    expect(instantOf('Europe/Paris', wall(2026, 3, 29, 4, 0))).toBe(at('2026-03-29T02:00:00Z'));
    expect(instantOf('Europe/Paris', wall(2026, 3, 28, 2, 30))).toBe(at('2026-03-28T01:30:00Z'));
    expect(instantOf('Asia/Kolkata', wall(2026, 3, 29, 2, 30))).toBe(at('2026-03-28T21:00:00Z'));
    expect(instantOf('UTC', wall(2026, 3, 29, 2, 30))).toBe(at('2026-03-29T02:30:00Z'));
  });
});

describe('weekly windows across clock changes', () => {
  const sundayNight: Recurrence = { days: SUNDAY, startMinute: 150, endMinute: 240, timezone: 'Europe/Paris' };

  it('spring forward: a 02:30–04:00 window runs from 03:30 to 04:00 local, half an hour', () => {
    expect(
      onAt(sundayNight, [
        '2026-03-29T00:59:00Z', // 01:59 CET
        '2026-03-29T01:00:00Z', // 03:00 CEST: the gap is over, but 02:30 is read as 03:30
        '2026-03-29T01:29:00Z', // 03:29 CEST
        '2026-03-29T01:30:00Z', // 03:30 CEST: on
        '2026-03-29T01:59:00Z', // 03:59 CEST
        '2026-03-29T02:00:00Z', // 04:00 CEST: off
      ]),
    ).toEqual(['2026-03-29T01:30:00Z', '2026-03-29T01:59:00Z']);
    expect(currentOrNextWindow(sundayNight, at('2026-03-28T12:00:00Z'))).toEqual({
      startMs: at('2026-03-29T01:30:00Z'),
      endMs: at('2026-03-29T02:00:00Z'),
    });
  });

  it('fall back: a 02:30–04:00 window runs from the first 02:30 to 04:00 CET, two and a half hours', () => {
    expect(
      onAt(sundayNight, [
        '2026-10-25T00:29:00Z', // 02:29 CEST
        '2026-10-25T00:30:00Z', // 02:30 CEST: on
        '2026-10-25T01:30:00Z', // 02:30 CET, the second time
        '2026-10-25T02:59:00Z', // 03:59 CET
        '2026-10-25T03:00:00Z', // 04:00 CET: off
      ]),
    ).toEqual(['2026-10-25T00:30:00Z', '2026-10-25T01:30:00Z', '2026-10-25T02:59:00Z']);
    // The Sundays either side keep their local times.
    expect(onAt(sundayNight, ['2026-10-18T00:30:00Z', '2026-11-01T01:30:00Z', '2026-11-01T00:30:00Z'])).toEqual([
      '2026-10-18T00:30:00Z',
      '2026-11-01T01:30:00Z',
    ]);
  });

  it('a window past midnight ends on the next day, and only starts on its days', () => {
    const lateSunday: Recurrence = { days: SUNDAY, startMinute: 23 * 60, endMinute: 60, timezone: 'America/New_York' };
    // Sunday 2026-11-01 23:00 EST is 04:00Z Monday; it ends Monday 01:00 EST (06:00Z).
    expect(
      onAt(lateSunday, [
        '2026-11-02T03:59:00Z',
        '2026-11-02T04:00:00Z',
        '2026-11-02T05:59:00Z',
        '2026-11-02T06:00:00Z',
      ]),
    ).toEqual(['2026-11-02T04:00:00Z', '2026-11-02T05:59:00Z']);
    // Saturday night is not a Sunday.
    expect(recurrenceActive(lateSunday, at('2026-11-01T04:30:00Z'))).toBe(false);
  });

  it('config maintenance windows (start and duration) take the same reading: 02:30 for 1h on both change nights', () => {
    const w = {
      name: 'n',
      matchers: [],
      days: SUNDAY,
      startMinute: 150,
      durationMs: 3_600_000,
      timezone: 'Europe/Paris',
    };
    expect(maintenanceActive(w, at('2026-03-29T01:29:00Z'))).toBe(false);
    expect(maintenanceActive(w, at('2026-03-29T01:30:00Z'))).toBe(true);
    expect(maintenanceActive(w, at('2026-03-29T02:29:00Z'))).toBe(true);
    expect(maintenanceActive(w, at('2026-03-29T02:30:00Z'))).toBe(false);
    expect(maintenanceActive(w, at('2026-10-25T00:30:00Z'))).toBe(true);
    expect(maintenanceActive(w, at('2026-10-25T01:29:00Z'))).toBe(true);
    expect(maintenanceActive(w, at('2026-10-25T01:30:00Z'))).toBe(false);
  });
});
