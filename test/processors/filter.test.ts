import { describe, expect, it } from 'vitest';
import type { MetricPoint, Span, VigilEvent } from '../../src/model/index.ts';
import { filterProcessorFactory } from '../../src/processors/filter/factory.ts';
import { configIssues, ev, parseProcessorConfig, testSettings } from './harness.ts';
import { otherWorkServedDuring, slowMatchBatch } from './harness.ts';

const config = parseProcessorConfig(filterProcessorFactory, {
  logs: ['severity_number < SEVERITY_NUMBER_WARN and type == "neutral"', 'IsMatch(body, "healthcheck")'],
  metrics: ['HasPrefix(name, "go.")'],
  traces: ['status.code != STATUS_CODE_ERROR'],
});

function point(name: string): MetricPoint {
  return {
    kind: 'gauge',
    name,
    description: '',
    unit: '',
    value: 1,
    resource: {},
    attributes: {},
    startTimeUnixNano: 0n,
    timeUnixNano: 0n,
    flags: 0,
    exemplars: [],
    service: '',
    tenant: '',
  };
}

function span(statusCode: number): Span {
  return {
    traceId: '',
    spanId: '',
    parentSpanId: '',
    traceState: '',
    name: 's',
    kind: 1,
    startTimeUnixNano: 0n,
    endTimeUnixNano: 0n,
    attributes: {},
    resource: {},
    events: [],
    links: [],
    statusCode,
    statusMessage: '',
    service: '',
    tenant: '',
  };
}

describe('filter processor', () => {
  it('drops events matching any condition and keeps the rest in order', async () => {
    const p = filterProcessorFactory.create(testSettings('filter'), config);
    const keep1 = ev({ body: 'disk full', severityNumber: 17 });
    const keep2 = ev({ body: 'link down', type: 'down' });
    const out = (await p.process([
      ev({ body: 'GET /healthcheck 200', severityNumber: 17 }),
      keep1,
      ev({ body: 'debug chatter', severityNumber: 5 }),
      keep2,
    ])) as VigilEvent[];
    expect(out).toEqual([keep1, keep2]);
  });

  it('returns the batch itself when nothing matches', async () => {
    const p = filterProcessorFactory.create(testSettings('filter'), config);
    const batch = [ev({ body: 'x', severityNumber: 17 })];
    expect(await p.process(batch)).toBe(batch);
  });

  it('serves other work while a long batch of slow conditions is matched, and drops the same events', async () => {
    // 4,000 events of 2.5 KB under a pattern with nested repetition: hundreds of milliseconds
    // of matching, which held every listener of the daemon as one block.
    const p = filterProcessorFactory.create(
      testSettings('filter'),
      parseProcessorConfig(filterProcessorFactory, { logs: [String.raw`IsMatch(body, "^(\\w+\\s?)+$")`] }),
    );
    const batch = slowMatchBatch(4000);
    const { out, servedDuring } = await otherWorkServedDuring(() => p.process(batch) as VigilEvent[]);
    expect(servedDuring).toBe(true);
    expect(out.map((e) => e.asset)).toEqual(batch.filter((_, i) => i % 2).map((e) => e.asset));
  });

  it('filters data points and spans with their own contexts', async () => {
    const metrics = filterProcessorFactory.create(testSettings('filter', 'metrics'), config);
    expect(
      ((await metrics.process([point('go.gc.count'), point('system.cpu.utilization')])) as MetricPoint[]).map(
        (p) => p.name,
      ),
    ).toEqual(['system.cpu.utilization']);
    const traces = filterProcessorFactory.create(testSettings('filter', 'traces'), config);
    expect(((await traces.process([span(0), span(2), span(1)])) as Span[]).map((s) => s.statusCode)).toEqual([2]);
  });

  it('checks each list in its own context at config load', () => {
    expect(
      configIssues(filterProcessorFactory, { logs: ['status.code == 2'], traces: ['body == "x"'] }, 'filter/noisy'),
    ).toEqual([
      expect.stringMatching(
        /^processors\.filter\/noisy\.logs\[0\]: column 1: unknown path "status\.code"; paths in the event context/,
      ),
      expect.stringMatching(
        /^processors\.filter\/noisy\.traces\[0\]: column 1: unknown path "body"; paths in the span context/,
      ),
    ]);
  });
});
