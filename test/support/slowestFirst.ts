import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The files that take longest, longest first, as CI measured them (seconds, 2 cores, three
 * workers): most of their time is spent waiting on real failovers, outages and terms. Vitest
 * orders a fresh clone's files by size alone, and some of these are small: started last, they
 * ran on after the other workers had finished (a run of 620 s against 538 s of work a worker).
 */
export const SLOWEST: readonly string[] = [
  'test/state/redisFailover.test.ts', // 232
  'test/connectors/correlation/partitionRuntime.test.ts', // 186
  'test/state/redisEquivalence.test.ts', // 152
  'test/state/redisPartitionsOutage.test.ts', // 112
  'test/exporters/otlp/gatewayOutage.test.ts', // 68
  'test/state/redisPartitionsDaemon.test.ts', // 55
  'test/daemon/durableState.test.ts', // 37
  'test/connectors/correlation/partitionOwner.test.ts', // 36
  'test/correlation/alertmanagerTiming.test.ts', // 31
  'test/daemon/fuzz.test.ts', // 30
];

/** Vitest's order (failed, slow and large first), with the files known to be slowest ahead of all. */
export default class SlowestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (spec: TestSpecification) => {
      const i = SLOWEST.findIndex((path) => spec.moduleId.endsWith('/' + path));
      return i < 0 ? SLOWEST.length : i;
    };
    // A stable sort: the files not named keep vitest's order behind those named.
    return sorted
      .map((spec, at) => ({ spec, at, rank: rank(spec) }))
      .sort((a, b) => a.rank - b.rank || a.at - b.at)
      .map((x) => x.spec);
  }
}
