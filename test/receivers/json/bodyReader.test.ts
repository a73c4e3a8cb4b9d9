import { describe, expect, it } from 'vitest';
import type { VigilEvent } from '../../../src/model/event.ts';
import { eventToJson } from '../../../src/model/eventJson.ts';
import { fieldMappingSchema, type FieldMapping } from '../../../src/receivers/json/config.ts';
import { JsonBodyReader } from '../../../src/receivers/json/bodyReader.ts';
import { JsonEventMapper } from '../../../src/receivers/json/mapping.ts';
import { parseJsonBody } from '../../../src/receivers/json/receiver.ts';
import { makeBody } from '../../../bench/jsonWorkload.ts';
import { mulberry32 } from '../../support/seededRandom.ts';

const OBSERVED = 1_764_000_000_123_456_789n;
const defaults = fieldMappingSchema.parse({}, '', [])!;

/** What the receiver's parse-and-map path makes of a body: its events, or undefined when it would not take the whole body. */
function mappedEvents(
  body: string,
  contentType: string,
  tenant: string | undefined,
  mapping: FieldMapping,
): VigilEvent[] | undefined {
  let parsed;
  try {
    parsed = parseJsonBody(body, contentType);
  } catch {
    return undefined;
  }
  if (parsed.rejected.length > 0 || parsed.records.length === 0) return undefined;
  const mapper = new JsonEventMapper(mapping);
  const events: VigilEvent[] = [];
  for (const r of parsed.records) {
    const m = mapper.map(r.value, OBSERVED);
    if (!m.ok) return undefined;
    if (tenant !== undefined) m.event.tenant = tenant;
    events.push(m.event);
  }
  return events;
}

/** The lines of `mappedEvents`. */
function viaEvents(
  body: string,
  contentType: string,
  tenant: string | undefined,
  mapping: FieldMapping,
): string | undefined {
  return mappedEvents(body, contentType, tenant, mapping)
    ?.map((e) => eventToJson(e) + '\n')
    .join('');
}

/**
 * Holds the reader's events for a body to the parse-and-map path's: the same events, ids aside
 * (each made, and sorted by creation), or none when that path would not take the body whole.
 */
function expectSameEvents(
  reader: JsonBodyReader,
  body: Buffer,
  ndjson: boolean,
  tenant: string | undefined,
  mapping: FieldMapping = defaults,
): boolean {
  const got = reader.events(body, ndjson, OBSERVED, tenant, () => {});
  const contentType = ndjson ? 'application/x-ndjson' : 'application/json';
  const expected = mappedEvents(body.toString('utf8'), contentType, tenant, mapping);
  if (got === undefined) return false;
  const text = body.toString('latin1');
  expect({ text, taken: expected !== undefined }).toEqual({ text, taken: true });
  for (const e of got) {
    expect(e.id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    // Processors may add to them.
    expect(Object.isFrozen(e.resource) || Object.isFrozen(e.attributes)).toBe(false);
  }
  expect([...got.map((e) => e.id)].sort()).toEqual(got.map((e) => e.id));
  const noId = (events: VigilEvent[]) => events.map((e) => ({ ...e, id: '' }));
  expect({ text, events: noId(got) }).toEqual({ text, events: noId(expected!) });
  expect({ text, lines: got.map((e) => ids(eventToJson(e))) }).toEqual({
    text,
    lines: expected!.map((e) => ids(eventToJson(e))),
  });
  return true;
}

/** The encoder's lines for a body, or undefined when it leaves the body to the events path. */
function viaLines(
  encoder: JsonBodyReader,
  body: string,
  ndjson: boolean,
  tenant: string | undefined,
): string | undefined {
  const lines: Uint8Array[] = [];
  const n = encoder.lines(Buffer.from(body), ndjson, OBSERVED, tenant, lines, () => {});
  if (n < 0) return undefined;
  expect(lines).toHaveLength(n);
  const text = Buffer.concat(lines).toString('utf8');
  encoder.written(lines);
  return text;
}

const ids = (text: string) => text.replace(/"id":"[0-9A-HJKMNP-TV-Z]{26}"/g, '"id":"ID"');

// Pieces of JSON text, written by hand so that a body can hold what JSON.stringify never writes:
// keys given twice, escapes where none are needed, numbers in every spelling, whitespace.
const KEYS = [
  'asset_unique_id',
  'event_title',
  'event_type',
  'event_level',
  'event_desc',
  'event_ts',
  'service',
  'region',
  'team',
  'check',
  'time',
  'timestamp',
  'ts',
  '@timestamp',
  'time_unix_nano',
  'severity',
  'level',
  'severity_text',
  'severity_number',
  'body',
  'message',
  'msg',
  'description',
  'asset',
  'host',
  'hostname',
  'host.name',
  'title',
  'summary',
  'type',
  'service.name',
  'appl_name',
  'tenant',
  'trace_id',
  'traceId',
  'span_id',
  'spanId',
  'attributes',
  'resource',
  '__proto__',
  'constructor',
  '0',
  '7',
  '42',
  '007',
  '4294967295',
  'ünï ✓',
  'a\\"b',
  'k\\u0041',
  '',
  'x.y',
];
const STRINGS = [
  '"CPU usage above threshold"',
  '""',
  '"host-1"',
  '"down"',
  '"UP "',
  '"resolved"',
  '"problem"',
  '"sideways"',
  '"constructor"',
  '"CRITICAL"',
  '"warn"',
  '"Error"',
  '"2026-11-23T10:00:00.123Z"',
  '"2026-11-23 10:00:00+02:00"',
  '"1767323045"',
  '"1767323045123456789"',
  '"yesterday"',
  '"0123456789ABCDEF0123456789abcdef"',
  '"FEDCBA9876543210"',
  '"xyz"',
  '"żółw 🐢"',
  '"tab\\there"',
  '"say \\"hi\\""',
  '"C:\\\\temp"',
  '"\\u00e9t\\u00e9"',
  '"line one\\nline two"',
  '"\u2028 sep"',
  `"${'x'.repeat(250)}"`,
  `"${'é'.repeat(150)}"`,
  `"${'y'.repeat(199)}é"`,
  `"${'z'.repeat(200)}"`,
  '"\\/slash"',
];
const NUMBERS = [
  '0',
  '-0',
  '7',
  '-12',
  '24',
  '25',
  '9.5',
  '1.5',
  '1.50',
  '1.0',
  '0.000001',
  '0.0000001',
  '1e3',
  '1E-2',
  '123456789012345',
  '1234567890123456',
  '12345678901234567168',
  '1767323045',
  '1767323045123',
  '1767323045.5',
  '-3.25',
  '0.1',
  '100',
];
const WELL_FORMED: [string, string[]][] = [
  ['asset_unique_id', ['"host-1"', '"żółw"', '7', '""']],
  ['event_title', ['"CPU usage above threshold"', '""', 'true', `"${'t'.repeat(220)}"`]],
  ['event_type', ['"down"', '"UP "', '"resolved"']],
  ['event_level', ['"CRITICAL"', '"warn"', '"constructor"', '9', '0']],
  [
    'event_desc',
    [
      '"CPU usage at 97%"',
      '"żółw 🐢"',
      `"${'x'.repeat(250)}"`,
      `"${'é'.repeat(150)}"`,
      '12',
      'false',
      '{"text":"x"}',
      '[1]',
    ],
  ],
  ['event_ts', ['"2026-11-23T10:00:00.123Z"', '1767323045', '1767323045.5', '"1767323045123456789"']],
  ['service', ['"billing"', '""', '5']],
  ['trace_id', ['"0123456789ABCDEF0123456789abcdef"']],
  ['span_id', ['"FEDCBA9876543210"']],
  ['tenant', ['"t1"']],
];
const UNMAPPED = [
  'region',
  'team',
  'check',
  'ünï ✓',
  'x.y',
  '',
  '0',
  '42',
  '__proto__',
  'a\\"b',
  'k\\u0041',
  'constructor',
];
const OTHERS = [
  'true',
  'false',
  'null',
  '{}',
  '[]',
  '{"a":1}',
  '[1,"two",null]',
  '{"name":"api"}',
  '{ "n" : [ 1 ] }',
  // Nested values: written as JSON.stringify would (copied), or not (through the event).
  '{"a":{"b":[1,{"c":null}]},"d":"é ✓"}',
  '[[[[-1.25,0.000001]]]]',
  '{"":0,"007":[true,false]}',
  '[{"0":1}]',
  '{"x":1,"x":2}',
  '{"__proto__":1}',
  '[1.50]',
  '[1e3]',
  '{"k":"v\\n"}',
  '{"a":[1 ,2]}',
  '{"a" :1}',
  '{"name":"api","tags":["a","b"]}',
  '{"b":1,"0":2}',
  '['.repeat(70) + ']'.repeat(70),
  '['.repeat(58) + '{"deep":1}' + ']'.repeat(58),
];

function body(rand: () => number): { text: string; ndjson: boolean; contentType: string } {
  const pick = <T>(list: readonly T[]) => list[Math.floor(rand() * list.length)]!;
  const space = () => (rand() < 0.1 ? pick([' ', '\n', '\t ', '\r\n  ']) : '');
  const value = () => {
    const r = rand();
    return r < 0.55 ? pick(STRINGS) : r < 0.8 ? pick(NUMBERS) : pick(OTHERS);
  };
  const record = (ndjson: boolean) => {
    if (rand() < 0.03) return pick(['[]', '"text"', '7', 'null', '{']);
    const s = ndjson ? () => (rand() < 0.1 ? ' ' : '') : space;
    const fields: string[] = [];
    if (rand() < 0.5) {
      // An event as senders write them, with some keys of any value no field maps.
      for (const [key, values] of WELL_FORMED) if (rand() < 0.7) fields.push(`"${key}":${pick(values)}`);
      const n = Math.floor(rand() * 5);
      for (let i = 0; i < n; i++)
        fields.splice(Math.floor(rand() * (fields.length + 1)), 0, `"${pick(UNMAPPED)}":${value()}`);
      return `{${fields.map((f) => s() + f.replace(':', `${s()}:${s()}`) + s()).join(',')}}`;
    }
    const n = Math.floor(rand() * 12);
    for (let i = 0; i < n; i++) fields.push(`${s()}"${pick(KEYS)}"${s()}:${s()}${value()}${s()}`);
    return `{${fields.join(',')}}`;
  };
  const ndjson = rand() < 0.3;
  if (ndjson) {
    const n = 1 + Math.floor(rand() * 6);
    const lines: string[] = [];
    for (let i = 0; i < n; i++) lines.push((rand() < 0.1 ? '  ' : '') + record(true) + (rand() < 0.1 ? ' \r' : ''));
    if (rand() < 0.2) lines.splice(1, 0, '');
    return { text: lines.join('\n') + (rand() < 0.5 ? '\n' : ''), ndjson, contentType: 'application/x-ndjson' };
  }
  if (rand() < 0.3) return { text: space() + record(false) + space(), ndjson, contentType: 'application/json' };
  const n = Math.floor(rand() * 6);
  const records = Array.from({ length: n }, () => space() + record(false) + space());
  return { text: `${space()}[${records.join(',')}]${space()}`, ndjson, contentType: 'application/json' };
}

describe('JSON bodies read where they lie: file lines and events', () => {
  it("makes eventToJson's line of each event byte for byte, and the events themselves, ids aside, or leaves the body to the parse-and-map path", () => {
    const encoder = JsonBodyReader.for(defaults)!;
    const eventsReader = JsonBodyReader.for(defaults)!;
    const rand = mulberry32(20261205);
    let taken = 0;
    let left = 0;
    let lines = 0;
    let slow = 0;
    for (let i = 0; i < 6000; i++) {
      const { text, ndjson, contentType } = body(rand);
      const tenant = rand() < 0.2 ? 'acme "eu"' : undefined;
      const before = encoder.recordsViaEvents;
      const expected = viaEvents(text, contentType, tenant, defaults);
      const got = viaLines(encoder, text, ndjson, tenant);
      expect(expectSameEvents(eventsReader, Buffer.from(text), ndjson, tenant)).toBe(got !== undefined);
      if (got === undefined) {
        // Only a body the events path would not take whole may be left to it; every other
        // body the encoder takes, flat or not (records that are not go through their events).
        expect({ text, took: expected === undefined }).toEqual({ text, took: true });
        left++;
        continue;
      }
      expect({ text, lines: ids(got) }).toEqual({ text, lines: ids(expected!) });
      taken++;
      lines += got.split('\n').length - 1;
      slow += encoder.recordsViaEvents - before;
    }
    // Every kind is exercised: bodies left, and lines made from the bytes and from events.
    expect(taken).toBeGreaterThan(1500);
    expect(left).toBeGreaterThan(1500);
    expect(slow).toBeGreaterThan(1000);
    expect(lines - slow).toBeGreaterThan(1000);
  });

  it('writes flat records and compact nested values from their bytes, and other records through their events', () => {
    const encoder = JsonBodyReader.for(defaults)!;
    const bench = makeBody(1000).toString('utf8');
    expect(ids(viaLines(encoder, bench, false, undefined)!)).toBe(
      ids(viaEvents(bench, 'application/json', undefined, defaults)!),
    );
    expect(encoder.recordsViaEvents).toBe(0);
    // Nested values as JSON.stringify writes them are copied; one with a space, an escape or a
    // key given twice, like such a record, goes through its event.
    const mixed =
      '[{"msg":"a","n":1},{"msg":"b","nested":{"x":[1,{"y":null}]}},{"msg":"say \\"c\\"","x":1,"x":2},' +
      '{"msg":"d","nested":{"x": [1]}},{"msg":"e","nested":{"x":1,"x":2}},{"msg":"f","host":{"name":"h"}}]';
    expect(ids(viaLines(encoder, mixed, false, undefined)!)).toBe(
      ids(viaEvents(mixed, 'application/json', undefined, defaults)!),
    );
    expect(encoder.recordsViaEvents).toBe(4);
  });

  it('makes the same lines and events as the parse-and-map path, or leaves the body to it, for bodies mutated byte by byte', () => {
    const encoder = JsonBodyReader.for(defaults)!;
    const eventsReader = JsonBodyReader.for(defaults)!;
    const rand = mulberry32(5122026);
    const seeds = [
      makeBody(8),
      Buffer.from('[{"msg":"a","n":{"x":[1,{"y":null}]},"t":"2026-12-05T10:00:00.5Z","level":"warn"},{"body":"é ✓"}]'),
      Buffer.from(
        '{"message":"one","time":1767323045}\n{"message":"two","type":"ok","trace_id":"0123456789abcdef0123456789abcdef"}\n',
      ),
    ];
    // Bytes that matter to a JSON reader, and some that do not.
    const bytesTried = [
      0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x20, 0x0a, 0x30, 0x2d, 0x2e, 0x65, 0x74, 0x6e, 0x00, 0xc3, 0xff,
      0x41,
    ];
    let taken = 0;
    for (let i = 0; i < 6000; i++) {
      const seed = seeds[i % seeds.length]!;
      const body = Buffer.from(seed);
      const edits = 1 + Math.floor(rand() * 3);
      for (let e = 0; e < edits; e++)
        body[Math.floor(rand() * body.length)] = bytesTried[Math.floor(rand() * bytesTried.length)]!;
      const ndjson = i % seeds.length === 2;
      const contentType = ndjson ? 'application/x-ndjson' : 'application/json';
      const lines: Uint8Array[] = [];
      const n = encoder.lines(body, ndjson, OBSERVED, undefined, lines, () => {});
      expect(expectSameEvents(eventsReader, body, ndjson, undefined)).toBe(n >= 0);
      // Decoded as the receiver decodes a body: invalid UTF-8 becomes U+FFFD.
      const expected = viaEvents(body.toString('utf8'), contentType, undefined, defaults);
      if (n < 0) continue;
      const got = Buffer.concat(lines).toString('utf8');
      encoder.written(lines);
      expect({ body: body.toString('latin1'), lines: ids(got) }).toEqual({
        body: body.toString('latin1'),
        lines: expected === undefined ? 'no lines: the events path refuses it' : ids(expected),
      });
      taken++;
    }
    expect(taken).toBeGreaterThan(1000);
  });

  it('finds a key given twice also once the keys it knows were forgotten', () => {
    const encoder = JsonBodyReader.for(defaults)!;
    // 520 keys fill the table of keys met, which is emptied before the next record.
    const many = Array.from({ length: 520 }, (_, i) => `"u${i}":${i}`).join(',');
    const text = `[{"a":1,${many}},{"a":1,"a":2,"msg":"twice"},{"a":3}]`;
    expect(ids(viaLines(encoder, text, false, undefined)!)).toBe(
      ids(viaEvents(text, 'application/json', undefined, defaults)!),
    );
    expect(encoder.recordsViaEvents).toBe(1);
  });

  it('gives each line an id of its own, sorted by creation', () => {
    const encoder = JsonBodyReader.for(defaults)!;
    const text = viaLines(encoder, makeBody(50).toString('utf8'), false, undefined)!;
    const lineIds = [...text.matchAll(/"id":"([0-9A-HJKMNP-TV-Z]{26})"/g)].map((m) => m[1]!);
    expect(lineIds).toHaveLength(50);
    expect(new Set(lineIds).size).toBe(50);
    expect([...lineIds].sort()).toEqual(lineIds);
  });

  it('follows a configured mapping, and declines one that maps a key to two fields', () => {
    const mapping = fieldMappingSchema.parse(
      { time: ['when'], body: ['text'], asset: ['node', 'host.name'], type: ['state'], severity: ['prio'] },
      '',
      [],
    )!;
    const encoder = JsonBodyReader.for(mapping)!;
    const text = '{"when":1767323045,"text":"hello","node":"n1","host.name":"h1","state":"ok","prio":17,"time":"x"}';
    expect(ids(viaLines(encoder, text, false, undefined)!)).toBe(
      ids(viaEvents(text, 'application/json', undefined, mapping)!),
    );
    expect(encoder.recordsViaEvents).toBe(0);
    // An object under a key a dotted path begins with is the mapper's to look into.
    const site = fieldMappingSchema.parse({ asset: ['site.id'] }, '', [])!;
    const nested = '{"msg":"x","site":{"id":"s1","rack":4}}';
    const siteEncoder = JsonBodyReader.for(site)!;
    expect(ids(viaLines(siteEncoder, nested, false, undefined)!)).toBe(
      ids(viaEvents(nested, 'application/json', undefined, site)!),
    );
    expect(siteEncoder.recordsViaEvents).toBe(1);
    expect(JsonBodyReader.for(fieldMappingSchema.parse({ title: ['msg'] }, '', [])!)).toBeUndefined();
  });

  it('drops what it wrote when the memory check throws, and takes bodies again after', () => {
    const encoder = JsonBodyReader.for(defaults)!;
    const big = makeBody(5000);
    const lines: Uint8Array[] = [];
    expect(() =>
      encoder.lines(big, false, OBSERVED, undefined, lines, () => {
        throw new Error('memory short');
      }),
    ).toThrow('memory short');
    const small = makeBody(3).toString('utf8');
    expect(ids(viaLines(encoder, small, false, undefined)!)).toBe(
      ids(viaEvents(small, 'application/json', undefined, defaults)!),
    );
  });
});
