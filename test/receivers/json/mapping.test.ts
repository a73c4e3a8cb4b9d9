import { describe, expect, it } from 'vitest';
import { fieldMappingSchema } from '../../../src/receivers/json/config.ts';
import { parseJsonBody } from '../../../src/receivers/json/receiver.ts';
import { JsonEventMapper } from '../../../src/receivers/json/mapping.ts';

const mapper = new JsonEventMapper(fieldMappingSchema.parse({}, '', [])!);
const observed = 1_700_000_000_000_000_000n;

function ok(input: unknown) {
  const r = mapper.map(input, observed);
  if (!r.ok) throw new Error(r.reason);
  return r.event;
}

describe('JSON event mapping', () => {
  it('understands Encore-style events unchanged', () => {
    const e = ok({
      asset_unique_id: 'TEST_HOST_C',
      event_title: 'TESTCASE',
      event_type: 'down',
      event_level: 'CRITICAL',
      event_desc: 'CPU Usage CRITICAL',
      event_ts: '2026-11-23T10:00:00.123456789Z',
    });
    expect(e).toMatchObject({
      asset: 'TEST_HOST_C',
      title: 'TESTCASE',
      type: 'down',
      severityText: 'CRITICAL',
      severityNumber: 18,
      body: 'CPU Usage CRITICAL',
      source: 'json',
    });
    expect(e.timeUnixNano).toBe(BigInt(Date.parse('2026-11-23T10:00:00Z')) * 1_000_000n + 123_456_789n);
    expect(e.attributes).toEqual({});
    expect(e.observedTimeUnixNano).toBe(observed);
  });

  it('reads epoch seconds, ms, µs and ns by magnitude', () => {
    const ms = Date.parse('2026-01-02T03:04:05Z');
    const want = BigInt(ms) * 1_000_000n;
    expect(ok({ ts: ms / 1000 }).timeUnixNano).toBe(want);
    expect(ok({ ts: ms }).timeUnixNano).toBe(want);
    expect(ok({ ts: ms * 1000 }).timeUnixNano).toBe(want);
    expect(ok({ time_unix_nano: (want + 7n).toString() }).timeUnixNano).toBe(want + 7n);
    expect(ok({ time: '2026-01-02T05:04:05+02:00' }).timeUnixNano).toBe(want);
  });

  it('keeps unmapped keys as attributes and takes nested service.name', () => {
    const e = ok({
      message: 'disk full\nsecond line',
      service: { name: 'billing' },
      region: 'eu',
      nested: { a: [1, 2] },
    });
    expect(e.service).toBe('billing');
    expect(e.title).toBe('disk full');
    expect(e.attributes).toEqual({ region: 'eu', nested: { a: [1, 2] } });
  });

  it('rejects with the field at fault', () => {
    expect(mapper.map({ type: 'sideways' }, observed)).toEqual({
      ok: false,
      reason: 'field "type": type must be one of up, down, neutral; got "sideways"',
    });
    expect(mapper.map({ ts: 'yesterday' }, observed)).toMatchObject({
      ok: false,
      reason: expect.stringContaining('field "ts": not a timestamp'),
    });
    expect(mapper.map({ severity: 99 }, observed)).toMatchObject({
      ok: false,
      reason: expect.stringContaining('SeverityNumber 0–24'),
    });
    expect(mapper.map({ trace_id: 'xyz' }, observed)).toMatchObject({
      ok: false,
      reason: 'field "trace_id": must be 32 hex digits',
    });
    expect(mapper.map('just a string', observed)).toMatchObject({
      ok: false,
      reason: 'an event must be a JSON object, got string',
    });
    expect(mapper.map({ attributes: [1] }, observed)).toMatchObject({
      ok: false,
      reason: 'field "attributes": must be an object',
    });
  });

  it("takes no word from Object's prototype for a type or a severity", () => {
    for (const word of ['constructor', '__proto__', 'toString', 'hasOwnProperty'])
      expect(mapper.map({ type: word }, observed)).toEqual({
        ok: false,
        reason: `field "type": type must be one of up, down, neutral; got "${word}"`,
      });
    for (const word of ['constructor', '__proto__', 'toString', 'valueOf']) {
      const e = ok({ severity: word, type: 'down' });
      expect(e.severityNumber).toBe(0);
      expect(e.severityText).toBe(word);
      expect(e.type).toBe('down');
    }
  });
});

describe('JSON body parsing', () => {
  it('takes one object, an array, or NDJSON', () => {
    expect(parseJsonBody('{"a":1}', 'application/json').records).toHaveLength(1);
    expect(parseJsonBody('[{"a":1},{"a":2}]', 'application/json').records).toHaveLength(2);
    const nd = parseJsonBody('{"a":1}\n\n{"a":2}\n', 'application/x-ndjson');
    expect(nd.records.map((r) => r.index)).toEqual([0, 1]);
  });

  it('falls back to NDJSON without the header and rejects only the bad line', () => {
    const r = parseJsonBody('{"a":1}\n{oops\n{"a":3}', 'application/json');
    expect(r.records.map((x) => x.value)).toEqual([{ a: 1 }, { a: 3 }]);
    expect(r.rejected).toEqual([{ index: 1, line: 2, reason: expect.stringContaining('line 2 is not valid JSON') }]);
  });

  it('throws a clear error for a single broken document', () => {
    expect(() => parseJsonBody('[1,2', 'application/json')).toThrow(/body is not valid JSON/);
  });
});
