import { describe, expect, it } from 'vitest';
import { toJson } from '../../src/model/attributes.ts';
import { newEvent, newEventId } from '../../src/model/event.ts';
import { eventToJson } from '../../src/model/eventJson.ts';
import { eventsFromRows, eventsToRows, exactInRows } from '../../src/model/eventRows.ts';
import type { GaugePoint } from '../../src/model/metric.ts';
import { pointsFromJson, pointsToJson } from '../../src/model/pointJson.ts';
import { parseIsoNs, parseIsoUtcBytes, parseTimestampNs } from '../../src/model/timestamp.ts';
import { mulberry32 } from '../support/seededRandom.ts';

describe('model serialisation', () => {
  it('renders ns times as decimal strings and nested bigint and bytes faithfully', () => {
    const ev = newEvent({
      source: 't',
      timeUnixNano: 1_700_000_000_123_456_789n,
      attributes: { big: 2n ** 63n - 1n, bytes: new Uint8Array([1, 2, 3]), list: [1, 'a'] },
    });
    const back = JSON.parse(toJson(ev)) as Record<string, unknown>;
    expect(back.timeUnixNano).toBe('1700000000123456789');
    expect(back.attributes).toEqual({ big: '9223372036854775807', bytes: 'AQID', list: [1, 'a'] });
  });

  it('makes events of a stream entry back as they were, of one shape with newEvent’s, bigints and bytes as strings', () => {
    const plain = newEvent({ source: 'json', timeUnixNano: 1_700_000_000_123_456_789n, asset: 'sw-1', type: 'down' });
    const scoped = newEvent({
      source: 'otlp',
      severityNumber: 17,
      severityText: 'ERROR',
      body: { msg: 'x' },
      scope: { name: 'lib', version: '1', attributes: {} },
      attributes: { big: 2n ** 63n - 1n, bytes: new Uint8Array([1, 2, 3]) },
      traceId: 'ab'.repeat(16),
      tenant: 't1',
    });
    const back = eventsFromRows(eventsToRows([plain, scoped]));
    expect(back[0]).toEqual(plain);
    expect(Object.keys(back[0]!)).toEqual(Object.keys(plain));
    expect(back[1]).toEqual({ ...scoped, attributes: { big: '9223372036854775807', bytes: 'AQID' } });
    expect(eventsFromRows(eventsToRows([plain, scoped], 1))).toEqual([back[1]]);
    // An observed time equal to the event time travels as 0.
    const seen = newEvent({ source: 'bench', timeUnixNano: 5_000_000n, observedTimeUnixNano: 5_000_000n });
    expect(eventsFromRows(eventsToRows([seen]))).toEqual([seen]);
  });

  it('says which events a stream entry gives back equal in every field, and which it does not', () => {
    const base = { source: 'otlp', timeUnixNano: 1_700_000_000_123_456_789n, severityNumber: 9 };
    const exact = [
      newEvent(base),
      newEvent({
        ...base,
        body: { msg: 'x', n: [1, 2.5, -3, true, null, 'ü \u2028 \ud800'] },
        attributes: { 'k.8': 1e300, deep: { list: [{ a: false }], empty: {} } },
        resource: { 'service.name': 'api' },
        scope: { name: 'lib', version: '1', attributes: { x: 'y' } },
        flags: 1,
      }),
    ];
    expect(exactInRows(exact)).toBe(true);
    expect(eventsFromRows(eventsToRows(exact))).toStrictEqual(exact);
    const lossy = [
      newEvent({ ...base, attributes: { big: 2n ** 60n + 1n } }),
      newEvent({ ...base, attributes: { bytes: new Uint8Array([1]) } }),
      newEvent({ ...base, attributes: { gone: undefined as unknown as string } }),
      newEvent({ ...base, attributes: { ratio: Number.NaN } }),
      newEvent({ ...base, body: [1, Number.POSITIVE_INFINITY] }),
      newEvent({ ...base, resource: { zero: -0 } }),
      newEvent({ ...base, severityNumber: Number.NaN }),
      newEvent({ ...base, scope: { name: 'lib', version: '1', attributes: { at: new Date(0) as unknown as string } } }),
    ];
    for (const e of lossy) {
      expect(exactInRows([e])).toBe(false);
      expect(exactInRows([exact[0]!, e])).toBe(false);
      expect(eventsFromRows(eventsToRows([e]))).not.toStrictEqual([e]);
    }
  });

  it('makes metric points of a stream entry back as they were, times as bigints', () => {
    const gauge: GaugePoint = {
      kind: 'gauge',
      name: 'system.cpu.utilization',
      description: 'cpu',
      unit: '1',
      resource: { 'host.name': 'h1' },
      attributes: { host: 'h1', big: 2n ** 63n - 1n },
      startTimeUnixNano: 1_700_000_000_000_000_000n,
      timeUnixNano: 1_700_000_000_123_456_789n,
      flags: 0,
      exemplars: [
        { timeUnixNano: 1_700_000_000_100_000_001n, value: 0.5, spanId: 'ab', traceId: 'cd', filteredAttributes: {} },
      ],
      service: 'api',
      tenant: '',
      value: 0.93,
    };
    expect(pointsFromJson(pointsToJson([gauge]))).toEqual([
      { ...gauge, attributes: { host: 'h1', big: '9223372036854775807' } },
    ]);
  });

  it('writes events by hand exactly as the generic serialiser does', () => {
    const plain = newEvent({
      source: 'json',
      body: 'line "quoted"\n',
      asset: 'web-1',
      type: 'down',
      attributes: { a: 1, b: { c: [true, null] } },
    });
    const odd = newEvent({
      source: 'otlp',
      body: { k: 5n },
      resource: { r: new Uint8Array([255]) },
      scope: { name: 's', version: '1', attributes: {} },
    });
    const scoped = newEvent({
      source: 'otlp',
      body: ['a', { b: null }],
      scope: { name: 's', version: '', attributes: { 'ü\u2028': 1.5 } },
    });
    for (const ev of [plain, odd, scoped]) expect(eventToJson(ev)).toBe(toJson(ev));
  });
});

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

describe('event ids', () => {
  it('are 26 Crockford base32 chars that sort by creation within a process', () => {
    const ids = Array.from({ length: 1000 }, (_, i) => newEventId(1_700_000_000_000 + Math.floor(i / 10)));
    for (const id of ids) expect(id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(new Set(ids).size).toBe(ids.length);
    const byTime = ids.filter((_, i) => i % 10 === 0);
    expect([...byTime].sort()).toEqual(byTime);
  });

  it('sort by creation within one millisecond too', () => {
    const ids = Array.from({ length: 1000 }, () => newEventId(1_700_000_000_123));
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
  });

  it('carry the time they are given, and sort after the last id when given an earlier one', () => {
    const timeOf = (id: string) => [...id.slice(0, 10)].reduce((t, c) => t * 32 + CROCKFORD.indexOf(c), 0);
    const later = Date.now() + 3_600_000; // after any id made so far in this process
    const first = newEventId(later);
    expect(timeOf(first)).toBe(later);
    // A batch whose time was read before another batch's ids were made, or a clock set back.
    const earlier = Array.from({ length: 100 }, (_, i) => newEventId(later - 1000 + i));
    const ids = [first, ...earlier, newEventId(later + 1)];
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    expect(timeOf(ids.at(-1)!)).toBe(later + 1);
  });
});

describe('timestamps', () => {
  it('parse the common UTC form on the fast path and other ISO forms on the strict path identically', () => {
    expect(parseIsoNs('2026-11-23T10:00:00.123456789Z')).toBe(
      BigInt(Date.parse('2026-11-23T10:00:00Z')) * 1_000_000n + 123_456_789n,
    );
    expect(parseIsoNs('2026-11-23T10:00:00Z')).toBe(BigInt(Date.parse('2026-11-23T10:00:00Z')) * 1_000_000n);
    expect(parseIsoNs('2026-11-23T11:00:00.5+01:00')).toBe(
      BigInt(Date.parse('2026-11-23T10:00:00Z')) * 1_000_000n + 500_000_000n,
    );
    expect(parseIsoNs('2026-11-23 10:00:00z')).toBe(BigInt(Date.parse('2026-11-23T10:00:00Z')) * 1_000_000n);
  });

  it('read numeric text as an epoch number by the shape a regular expression gave it', () => {
    // The rule before it was a scan: /^\d+(\.\d+)?$/, with every digit kept for µs and ns.
    const epoch = (n: number) =>
      n < 1e11
        ? BigInt(Math.round(n * 1e6)) * 1000n
        : n < 1e14
          ? BigInt(Math.round(n * 1e3)) * 1000n
          : n < 1e17
            ? BigInt(Math.round(n)) * 1000n
            : BigInt(Math.round(n));
    const byRule = (s: string) =>
      /^\d+(\.\d+)?$/.test(s)
        ? !s.includes('.') && s.length >= 16
          ? BigInt(s.length >= 18 ? s : s + '000')
          : epoch(Number(s))
        : parseIsoNs(s);
    const inputs = [
      '0',
      '7',
      '1700000000',
      '1700000000.5',
      '1700000000.123456',
      '1700000000123',
      '1700000000123.25',
      '1700000000123456',
      '17000000001234567',
      '1700000000123456789',
      '1700000000123456789.5',
      '007',
      '1.',
      '.5',
      '1..2',
      '1.2.3',
      '1e9',
      '-1700000000',
      '+1700000000',
      '1 700',
      '١٢٣',
      '12a',
      'a12',
      '',
      '.',
      '2026-11-23T10:00:00.123Z',
      '2026-11-23',
      '20261123T100000Z',
      '１２３',
    ];
    for (const s of inputs) {
      expect(parseTimestampNs(s), s).toBe(byRule(s));
      expect(parseTimestampNs(` ${s}\t`), s).toBe(byRule(s.trim()));
    }
  });

  it('read a UTC time the same from its bytes as from its text, for times mutated character by character', () => {
    const rand = mulberry32(20261205);
    const alphabet = '0123456789-:.TZz +é';
    for (let n = 0; n < 5000; n++) {
      const chars = [
        ...('2026-11-23T10:00:00.123456789Z'.slice(0, 20 + Math.floor(rand() * 11)).replace(/\.$/, '') + 'Z'),
      ];
      for (let k = Math.floor(rand() * 3); k > 0; k--)
        chars[Math.floor(rand() * chars.length)] = alphabet[Math.floor(rand() * alphabet.length)]!;
      const s = chars.join('');
      const bytes = Buffer.from(s);
      const read = parseIsoUtcBytes(bytes, 0, bytes.length);
      expect(read ?? parseIsoNs(s), s).toBe(parseIsoNs(s));
      // What it takes is the shape it is for, read as Date.parse reads the time; a leap second
      // (which Date.parse refuses) as the next minute's first.
      const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}):(\d{2})(?:\.(\d+))?Z$/.exec(s);
      if (read !== undefined) expect(m, s).not.toBeNull();
      if (read !== undefined) {
        const leap = m![2] === '60';
        const ms = Date.parse(`${m![1]}:${leap ? '59' : m![2]}Z`) + (leap ? 1000 : 0);
        expect(read, s).toBe(BigInt(ms) * 1_000_000n + BigInt((m![3] ?? '').slice(0, 9).padEnd(9, '0')));
      }
      // The same bytes inside others: only those given are read.
      const framed = Buffer.concat([Buffer.from('"1'), bytes, Buffer.from('9"')]);
      expect(parseIsoUtcBytes(framed, 2, framed.length - 2), s).toBe(parseIsoUtcBytes(bytes, 0, bytes.length));
    }
  });

  it("reads a leap second as the next minute's first in every shape of time, as syslog's RFC 3339 times are", () => {
    const next = parseIsoNs('2017-01-01T00:00:00Z')!;
    expect(parseIsoNs('2016-12-31T23:59:60Z')).toBe(next);
    expect(parseIsoNs('2016-12-31 23:59:60Z')).toBe(next);
    expect(parseIsoNs('2016-12-31T23:59:60+00:00')).toBe(next);
    expect(parseIsoNs('2017-01-01T00:59:60+0100')).toBe(next);
    expect(parseTimestampNs(' 2016-12-31T23:59:60,25z ')).toBe(next + 250_000_000n);
    expect(parseIsoNs('2016-12-31T23:59:61Z')).toBeUndefined();
    expect(parseIsoNs('2016-12-31T23:59:61+00:00')).toBeUndefined();
  });

  it('read the years 0–99 as those years, as Date.parse does, not as 1900–1999', () => {
    expect(parseIsoNs('0026-11-23T10:00:00Z')).toBe(BigInt(Date.parse('0026-11-23T10:00:00Z')) * 1_000_000n);
    expect(parseIsoNs('0000-02-29T00:00:00.5Z')).toBe(
      BigInt(Date.parse('0000-02-29T00:00:00Z')) * 1_000_000n + 500_000_000n,
    );
  });

  it('refuses impossible dates instead of rolling them over', () => {
    expect(parseIsoNs('2026-13-01T00:00:00Z')).toBeUndefined();
    expect(parseIsoNs('2026-11-23T25:00:00Z')).toBeUndefined();
    expect(parseTimestampNs('not a time')).toBeUndefined();
    expect(parseTimestampNs(-5)).toBeUndefined();
  });

  it('writes a severity that is not a number as null, also for events holding bigints', () => {
    const ev = newEvent({ source: 'json', severityNumber: Number.NaN, attributes: { big: 1n } });
    const back = JSON.parse(eventToJson(ev)) as Record<string, unknown>;
    expect(back.severityNumber).toBeNull();
    expect(eventToJson(ev)).toBe(toJson(ev));
  });
});
