import { describe, expect, it } from 'vitest';
import { logRowsBytes, metricRowsBytes, spanRowsBytes } from '../../../src/exporters/clickhouse/rows.ts';
import { setAttr, type Attributes } from '../../../src/model/attributes.ts';
import { newEvent } from '../../../src/model/event.ts';
import type { Exemplar, MetricKind, MetricPoint } from '../../../src/model/metric.ts';
import type { Span } from '../../../src/model/span.ts';
import { logRow, metricRow, spanRow } from '../../support/clickhouseRows.ts';
import { randomEvents } from '../../support/randomEvents.ts';

describe('log rows', () => {
  it('serialise a batch as the whole records would, resources shared or not', () => {
    const k8s: Attributes = { 'k8s.pod.name': 'api-7f9c', 'service.name': 'api', 'host.name': 'n"1\\\u2028' };
    const other: Attributes = { 'service.name': 'batch', zone: 1, tags: ['a', 2], nested: { b: true } };
    const events = [
      newEvent({ source: 'otlp', resource: k8s, body: 'first', attributes: { 'event.name': 'login', x: 1 } }),
      newEvent({ source: 'otlp', resource: k8s, body: { structured: [1, 'two'] }, timeUnixNano: 5n }),
      newEvent({ source: 'otlp', resource: other, scope: { name: 's', version: '1', attributes: { q: 'r' } } }),
      newEvent({ source: 'otlp', resource: k8s, body: 'back to the first resource\nline two', flags: 0x1ff }),
      newEvent({ source: 'syslog', resource: {}, service: 'own', severityText: 'ERROR', severityNumber: 17 }),
      newEvent({ source: 'json', resource: other, tenant: 't1', asset: 'db-1', title: 'é ✓', type: 'down' }),
    ];
    const want = events.map(logRow).join('');
    expect(logRowsBytes(events).toString()).toBe(want);
    for (const line of want.trimEnd().split('\n')) expect(() => JSON.parse(line) as unknown).not.toThrow();
  });

  it('are written as bytes equal to the encoded text, whatever the strings hold', () => {
    const events = randomEvents(400, 7);
    const want = Buffer.from(events.map(logRow).join(''));
    expect(logRowsBytes(events).toString('latin1')).toBe(want.toString('latin1'));
    // Batches of one after a large one: the buffer sized from the last batch still grows.
    for (const e of events.slice(0, 20)) expect(logRowsBytes([e]).toString()).toBe(logRow(e));
    expect(logRowsBytes([]).length).toBe(0);
    // A row far longer than the last batch's: the buffer grows, and keeps what it held.
    const long = newEvent({ source: 'json', body: 'é'.repeat(70_000) + 'x'.repeat(100_000), resource: { a: 'b' } });
    const pair = [events[0]!, long, events[0]!];
    expect(logRowsBytes(pair).toString('latin1')).toBe(Buffer.from(pair.map(logRow).join('')).toString('latin1'));
  });

  it('sort each map by its own keys, when maps of one batch repeat keys or hold them in another order', () => {
    const orders: Attributes[] = [
      { b: '1', a: '2', '10': 'x', '9': 'y' },
      { b: '3', a: '4', '10': 'z', '9': 'w' },
      { a: '5', b: '6', '9': 'v', '10': 'u' },
      { b: '7', a: '8', '10': 't' },
      { b: '9', a: '0', '10': 's', '9': 'r' },
      { c: '1', a: '2', '10': 'q', '9': 'p' },
    ];
    const events = orders.map((attributes) => newEvent({ source: 'otlp', attributes, resource: {} }));
    const want = Buffer.from(events.map(logRow).join(''));
    expect(logRowsBytes(events).toString('latin1')).toBe(want.toString('latin1'));
    expect(logRowsBytes(events).toString('latin1')).toBe(want.toString('latin1'));
  });

  it('keep an attribute named __proto__ as a key of the map', () => {
    const attributes: Attributes = {};
    setAttr(attributes, '__proto__', 'kept');
    const e = newEvent({ source: 'json', attributes, resource: { 'service.name': 'api' } });
    const parsed = JSON.parse(logRowsBytes([e]).toString()) as { LogAttributes: Record<string, string> };
    expect(Object.entries(parsed.LogAttributes)).toEqual([['__proto__', 'kept']]);
  });

  it('write spans as bytes equal to their rows encoded, events and links included', () => {
    // Spans made of seeded events' fields, strings and attributes alike.
    const events = randomEvents(600, 13);
    const spans: Span[] = [];
    for (let i = 0; i + 3 < events.length; i += 4) {
      const [a, b, c, d] = [events[i]!, events[i + 1]!, events[i + 2]!, events[i + 3]!];
      spans.push({
        traceId: a.traceId,
        spanId: b.title,
        parentSpanId: i % 8 === 0 ? '' : c.title,
        traceState: d.tenant,
        name: a.title,
        kind: i % 7,
        startTimeUnixNano: a.timeUnixNano,
        endTimeUnixNano: i % 5 === 0 ? 0n : a.timeUnixNano + BigInt(i),
        attributes: a.attributes,
        resource: a.resource,
        ...(a.scope ? { scope: a.scope } : {}),
        events:
          i % 3 === 0
            ? []
            : [b, c].map((e) => ({ timeUnixNano: e.observedTimeUnixNano, name: e.title, attributes: e.attributes })),
        links:
          i % 4 === 0 ? [] : [{ traceId: c.traceId, spanId: c.asset, traceState: d.asset, attributes: d.attributes }],
        statusCode: i % 4,
        statusMessage: b.asset,
        service: a.service,
        tenant: a.tenant,
      });
    }
    const want = Buffer.from(spans.map(spanRow).join(''));
    expect(spanRowsBytes(spans).toString('latin1')).toBe(want.toString('latin1'));
    for (const line of want.toString().trimEnd().split('\n')) expect(() => JSON.parse(line) as unknown).not.toThrow();
    expect(spanRowsBytes([]).length).toBe(0);
  });

  it('write metric points as bytes equal to their rows encoded, one buffer per kind', () => {
    const events = randomEvents(500, 17);
    const odd = [0, -0, 1.5, -7, 1e21, 2 ** 53 + 2, Number.NaN, Number.POSITIVE_INFINITY, 0.1 + 0.2];
    const num = (i: number) => odd[i % odd.length]!;
    const kinds: MetricKind[] = ['gauge', 'sum', 'histogram', 'exponential_histogram', 'summary'];
    const points: MetricPoint[] = events.map((e, i) => {
      const exemplars: Exemplar[] =
        i % 3 === 0
          ? []
          : [
              {
                timeUnixNano: e.observedTimeUnixNano,
                value: num(i + 1),
                spanId: e.spanId,
                traceId: e.traceId,
                filteredAttributes: e.attributes,
              },
            ];
      const base = {
        name: e.title,
        description: e.asset,
        unit: e.tenant,
        resource: e.resource,
        ...(e.scope ? { scope: e.scope } : {}),
        attributes: e.attributes,
        startTimeUnixNano: e.timeUnixNano,
        timeUnixNano: e.observedTimeUnixNano,
        flags: i % 2,
        exemplars,
        service: e.service,
        tenant: e.fingerprint,
      };
      const counts = [i % 4, num(i), 3];
      switch (kinds[i % kinds.length]!) {
        case 'gauge':
          return { ...base, kind: 'gauge', value: num(i) };
        case 'sum':
          return { ...base, kind: 'sum', value: num(i), temporality: (i % 3) as 0 | 1 | 2, isMonotonic: i % 2 === 0 };
        case 'histogram':
          return {
            ...base,
            kind: 'histogram',
            count: i,
            sum: num(i),
            ...(i % 4 === 0 ? {} : { min: num(i + 2), max: num(i + 3) }),
            bucketCounts: counts,
            explicitBounds: [num(i + 4), 10],
            temporality: 2,
          };
        case 'exponential_histogram':
          return {
            ...base,
            kind: 'exponential_histogram',
            count: i,
            sum: num(i),
            ...(i % 4 === 0 ? {} : { min: num(i + 2), max: num(i + 3) }),
            scale: (i % 9) - 4,
            zeroCount: i % 5,
            zeroThreshold: 0,
            positiveOffset: -i,
            positiveBucketCounts: counts,
            negativeOffset: i,
            negativeBucketCounts: i % 2 ? [] : counts,
            temporality: 1,
          };
        case 'summary':
          return {
            ...base,
            kind: 'summary',
            count: i,
            sum: num(i),
            quantiles:
              i % 3
                ? [
                    { quantile: 0.5, value: num(i) },
                    { quantile: 0.99, value: num(i + 1) },
                  ]
                : [],
          };
      }
    });
    const got = metricRowsBytes(points);
    expect([...got.keys()].sort()).toEqual([...kinds].sort());
    for (const kind of kinds) {
      const mine = points.filter((p) => p.kind === kind);
      const want = Buffer.from(mine.map(metricRow).join(''));
      expect(got.get(kind)!.rows).toBe(mine.length);
      expect(got.get(kind)!.data.toString('latin1'), kind).toBe(want.toString('latin1'));
    }
    expect(metricRowsBytes([]).size).toBe(0);
  });
});
