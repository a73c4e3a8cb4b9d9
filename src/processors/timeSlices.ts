import { setImmediate as nextTurn } from 'node:timers/promises';

/** How long one processor holds the event loop before it lets other work through. */
export const SLICE_MS = 10;
/** Steps between two clock readings: a reading costs tens of nanoseconds, a step at least as much. */
const STEPS_PER_CHECK = 32;

/**
 * Calls `step(i)` for every `i` below `n`, handing the event loop back (listeners, `/healthz`,
 * timers) after each SLICE_MS of work. A batch of 8,192 events whose conditions cost a
 * millisecond each would otherwise hold every listener of the process for 8 s, whatever any one
 * request's limits. Returns undefined when the work fitted in one slice (no promise, no extra
 * turn of the loop for the common small batch), else a promise of its end.
 */
export function forEachInSlices(n: number, step: (i: number) => void): Promise<void> | undefined {
  let i = 0;
  const slice = (): boolean => {
    const deadline = performance.now() + SLICE_MS;
    while (i < n) {
      step(i++);
      if (i % STEPS_PER_CHECK === 0 && performance.now() > deadline) return false;
    }
    return true;
  };
  if (slice()) return undefined;
  return (async () => {
    do await nextTurn();
    while (!slice());
  })();
}
