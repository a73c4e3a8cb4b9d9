import { defineConfig } from 'vitest/config';
import SlowestFirst from './test/support/slowestFirst.ts';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Three files at a time on two cores: the longest files mostly wait (Redis failovers, outages,
    // terms and timers running out), so a third keeps the cores busy: vitest took 621 s against
    // 741–771 s with two. More would have daemon-process tests fight for CPU.
    maxWorkers: 3,
    // The files known to be slowest start first (test/support/slowestFirst.ts), so that none runs on alone at the end.
    sequence: { sequencer: SlowestFirst },
    // Each file in a fresh worker: daemon tests start servers, timers and chdb sessions that must not
    // leak into the next file. Said explicitly, which also keeps vitest's isolate hint out of the summary.
    isolate: true,
    // Every temporary file of the run under one directory, removed at its end (test/support/tempRoot.ts).
    globalSetup: ['./test/support/tempRoot.ts'],
    // vitest's summary, then one plain `tests: N passed, N failed` line that any reader of the log can take.
    reporters: ['default', './test/support/closingLine.ts'],
    // expect.poll waits on a condition (a page showing what the daemon stored, a metric settling):
    // give it the time a loaded 2-core machine needs rather than the default second.
    expect: { poll: { timeout: 10_000 } },
  },
});
