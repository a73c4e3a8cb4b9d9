import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The test files that run longest (each over 20 s on the 2-core CI machine, most of a minute or
 * more: daemons, Redis failovers, fault injection), longest first. With `maxWorkers: 2`, a long
 * file that starts last runs alone while the other worker idles: on a fresh clone vitest has no
 * timings of its own and orders by file size, which started redisPartitionsOutage (110 s) last.
 * Listed here they start first, and the short files fill in around them.
 * `test/support/sequencer.test.ts` checks every one still exists.
 */
export const LONGEST = [
  'test/state/redisFailover.test.ts',
  'test/state/redisEquivalence.test.ts',
  'test/state/redisPartitionsOutage.test.ts',
  'test/connectors/correlation/partitionRuntime.test.ts',
  'test/exporters/otlp/gatewayOutage.test.ts',
  'test/state/redisPartitionsDaemon.test.ts',
  'test/correlation/alertmanagerTiming.test.ts',
  'test/daemon/fuzz.test.ts',
  'test/daemon/durableState.test.ts',
];

/** vitest's own order (its timings when it has them, else file size), the LONGEST files first. */
export default class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (f: TestSpecification) => {
      const i = LONGEST.findIndex((path) => f.moduleId.endsWith(path));
      return i < 0 ? LONGEST.length : i;
    };
    return sorted
      .map((f, i) => ({ f, i, r: rank(f) }))
      .sort((a, b) => a.r - b.r || a.i - b.i)
      .map(({ f }) => f);
  }
}
