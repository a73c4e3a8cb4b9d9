import { describe, expect, it } from 'vitest';
import { pipelineGraph } from '../../src/pipeline/graph.ts';

describe('pipeline graph', () => {
  it('puts a pipeline one stage after the last pipeline feeding its connector', () => {
    const g = pipelineGraph(
      {
        logs: { receivers: ['json'], exporters: ['correlation', 'file'] },
        metrics: { receivers: ['otlp'], exporters: ['spanmetrics'] },
        'metrics/derived': { receivers: ['spanmetrics'], exporters: ['correlation'] },
        incidents: { receivers: ['correlation'], exporters: ['file'] },
        'incidents/unfed': { receivers: [], exporters: ['file'] },
      },
      new Set(['correlation', 'spanmetrics']),
    );
    expect(g.stages).toEqual([['logs', 'metrics', 'incidents/unfed'], ['metrics/derived'], ['incidents']]);
    expect(g.cyclic).toEqual([]);
    expect(Object.fromEntries(g.feeders)).toEqual({
      correlation: ['logs', 'metrics/derived'],
      spanmetrics: ['metrics'],
    });
  });

  it('names the pipelines of a loop through connectors, which no order can start', () => {
    const g = pipelineGraph(
      {
        logs: { receivers: ['json', 'back'], exporters: ['forth'] },
        'logs/other': { receivers: ['forth'], exporters: ['back'] },
        traces: { receivers: ['otlp'], exporters: ['file'] },
      },
      new Set(['forth', 'back']),
    );
    expect(g.stages).toEqual([['traces']]);
    expect(g.cyclic).toEqual(['logs', 'logs/other']);
  });
});
