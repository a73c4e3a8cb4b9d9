import { describe, expect, it } from 'vitest';
import { ProgressBar } from '../../cmd/progress.ts';

function terminal(isTTY: boolean) {
  const writes: string[] = [];
  return { out: { isTTY, columns: 100, write: (s: string) => writes.push(s) }, writes };
}

describe('ProgressBar', () => {
  it('shows position, rate and time left, redrawn at most every interval, and the end on its own line', () => {
    let now = 0;
    const t = terminal(true);
    const bar = new ProgressBar(t.out, 40_000_000, { now: () => now, intervalMs: 200 });
    now = 10_000;
    bar.update(50_000, 10_000_000);
    now = 10_100;
    bar.update(51_000, 10_200_000); // within the interval: not drawn
    expect(t.writes).toHaveLength(1);
    // A quarter in 10 s: 30 s to go at that rate.
    expect(t.writes[0]).toBe(
      '\r\x1b[2K[########......................]  50,000 events  10.0/40.0 MB 25%  5,000 events/s  ETA 0:30',
    );
    now = 40_000;
    bar.done(200_000, 40_000_000);
    expect(t.writes.slice(1).join('')).toBe(
      '\r\x1b[2K[##############################]  200,000 events  40.0/40.0 MB 100%  5,000 events/s  in 0:40\n',
    );
  });

  it('draws nothing off a terminal', () => {
    const t = terminal(false);
    const bar = new ProgressBar(t.out, 100, { now: () => 1000 });
    bar.update(1, 50);
    bar.done(2, 100);
    bar.clear();
    expect(t.writes).toEqual([]);
  });
});
