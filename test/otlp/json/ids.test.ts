import { describe, expect, it } from 'vitest';
import { decodeLogsJson } from '../../../src/otlp/json/logs.ts';
import { decodeTracesJson } from '../../../src/otlp/json/traces.ts';

const NOT_HEX = 'zz'.repeat(16);
const logs = (traceId: string) => ({
  resourceLogs: [
    { scopeLogs: [{ logRecords: [{ body: { stringValue: 'ok' } }, { body: { stringValue: 'x' }, traceId }] }] },
  ],
});
const span = (link: { traceId: string; spanId: string }) => ({
  resourceSpans: [
    {
      scopeSpans: [
        {
          spans: [
            {
              traceId: '0af7651916cd43dd8448eb211c80319c',
              spanId: 'b7ad6b7169203331',
              name: 'op',
              startTimeUnixNano: '1',
              endTimeUnixNano: '2',
              links: [link],
            },
          ],
        },
      ],
    },
  ],
});

describe('OTLP/JSON ids', () => {
  it('refuses a record whose id is text of the right length but not hex, and keeps the others', () => {
    const bad = decodeLogsJson(logs(NOT_HEX), 1n);
    expect(bad.items.map((e) => e.body)).toEqual(['ok']);
    expect(bad.rejected.count).toBe(1);
    expect(bad.rejected.message()).toMatch(/traceId must be 16 bytes \(32 hex digits\), got "zzzz/);
    const upper = decodeLogsJson(logs('0AF7651916CD43DD8448EB211C80319C'), 1n);
    expect(upper.rejected.count).toBe(0);
    expect(upper.items[1]!.traceId).toBe('0af7651916cd43dd8448eb211c80319c');
  });

  it('refuses a span whose link holds an id that is not hex', () => {
    const bad = decodeTracesJson(span({ traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'g'.repeat(16) }));
    expect(bad.items).toEqual([]);
    expect(bad.rejected.message()).toMatch(/link spanId must be 8 bytes \(16 hex digits\)/);
    const good = decodeTracesJson(span({ traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203332' }));
    expect(good.rejected.count).toBe(0);
    expect(good.items).toHaveLength(1);
  });
});
