import { setAttr, type AttrValue, type Attributes } from '../../src/model/attributes.ts';
import { newEvent, type VigilEvent } from '../../src/model/event.ts';
import { mulberry32 } from './seededRandom.ts';

/**
 * Seeded events whose strings hold, among printable ASCII, everything JSON escapes or UTF-8
 * writes in more than one byte (quotes, backslashes, control characters, non-ASCII text, a
 * pair and lone surrogates, U+2028), and whose attributes hold every model value: numbers,
 * booleans, bigints, bytes, null, arrays and nested maps, an attribute named "__proto__".
 * Most events share one resource object, as a decoded batch's do.
 */
export function randomEvents(count: number, seed: number): VigilEvent[] {
  const rand = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const units = [
    '"',
    '\\',
    '/',
    '\n',
    '\t',
    '\u0000',
    '\u001f',
    '\u007f',
    'é',
    '✓',
    '😀',
    '\ud800',
    '\udfff',
    '\u2028',
  ];
  const str = (): string => {
    let out = '';
    const n = Math.floor(rand() * 12);
    for (let i = 0; i < n; i++) out += rand() < 0.8 ? String.fromCharCode(0x20 + Math.floor(rand() * 95)) : pick(units);
    return out;
  };
  const value = (depth: number): AttrValue => {
    const r = rand();
    if (r < 0.5 || depth > 1) return str();
    if (r < 0.6) return Math.floor(rand() * 1e6) / (rand() < 0.5 ? 1 : 7);
    if (r < 0.65) return rand() < 0.5;
    if (r < 0.7) return 12_345_678_901_234_567_890n;
    if (r < 0.75) return new Uint8Array([0, 255, 7]);
    if (r < 0.8) return null;
    if (r < 0.9) return [value(depth + 1), value(depth + 1)];
    return attrs(depth + 1);
  };
  const attrs = (depth: number): Attributes => {
    const out: Attributes = {};
    const n = Math.floor(rand() * 4);
    for (let i = 0; i < n; i++) setAttr(out, rand() < 0.1 ? '__proto__' : str(), value(depth));
    return out;
  };
  const resources = [attrs(0), attrs(0), {}, { 'service.name': 'api' }];
  const events: VigilEvent[] = [];
  for (let i = 0; i < count; i++) {
    const e = newEvent({
      source: pick(['otlp', 'syslog', 'json']),
      resource: rand() < 0.7 ? resources[0]! : pick(resources),
      body: rand() < 0.8 ? str() : value(0),
      attributes: rand() < 0.2 ? { 'event.name': str(), ...attrs(0) } : attrs(0),
      timeUnixNano: rand() < 0.2 ? 0n : 1_700_000_000_000_000_000n + BigInt(i),
      severityNumber: rand() < 0.05 ? Number.NaN : Math.floor(rand() * 25),
      severityText: str(),
      traceId: rand() < 0.5 ? '' : '0af7651916cd43dd8448eb211c80319c',
      flags: Math.floor(rand() * 0x300),
      asset: str(),
      title: str(),
      service: rand() < 0.5 ? '' : str(),
      tenant: str(),
      fingerprint: str(),
    });
    if (rand() < 0.3) e.scope = { name: str(), version: str(), attributes: attrs(0) };
    events.push(e);
  }
  return events;
}
