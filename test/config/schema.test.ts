import { describe, expect, it } from 'vitest';
import {
  duration,
  obj,
  refine,
  str,
  timeZone,
  timestamp,
  type ConfigIssue,
  type Schema,
} from '../../src/config/schema.ts';

function parse<T>(schema: Schema<T>, value: unknown): { value: T | undefined; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  return { value: schema.parse(value, 'x', issues), issues };
}

describe('config schema rules that used to be written by hand', () => {
  it('bounds durations, says the bounds in the reference, and names the bound broken', () => {
    const d = duration({ min: '1s', max: '1d', doc: 'How long.' });
    expect(parse(d, '2h').value).toBe(7_200_000);
    expect(parse(d, '1d').value).toBe(86_400_000);
    expect(parse(d, '2d').issues).toEqual([{ path: 'x', message: 'must be at least 1s and at most 1d, got 2d' }]);
    expect(parse(d, '500ms').issues[0]!.message).toMatch(/at least 1s/);
    expect(d.describe().doc).toBe('How long. Must be at least 1s and at most 1d.');
  });

  it('takes IANA time zones, and Local only where the host zone makes sense', () => {
    expect(parse(timeZone(), 'Europe/Paris').value).toBe('Europe/Paris');
    expect(parse(timeZone(), 'Local').issues[0]!.message).toBe(
      'unknown time zone "Local"; use an IANA name such as Europe/Paris',
    );
    expect(parse(timeZone({ local: true }), 'Local').value).toBe('Local');
    expect(parse(timeZone({ local: true }), 'Mars/Olympus').issues[0]!.message).toMatch(/use Local, UTC or an IANA/);
  });

  it('takes RFC 3339 times with an offset only', () => {
    expect(parse(timestamp(), '2026-11-23T02:00:00Z').value).toBe('2026-11-23T02:00:00Z');
    expect(parse(timestamp(), '2026-11-23T02:00:00.5+01:00').value).toBe('2026-11-23T02:00:00.5+01:00');
    for (const bad of ['tomorrow', '2026-11-23', '2026-11-23T02:00:00', '2026-13-40T02:00:00Z'])
      expect(parse(timestamp(), bad).issues, bad).toHaveLength(1);
  });

  it('documents every refinement with the section it checks', () => {
    const s = refine(
      obj({ a: str({ default: '' }), b: str({ default: '' }) }),
      (v) => (v.a && v.b ? { path: 'b', message: 'not with a' } : undefined),
      '`a` and `b` exclude each other.',
    );
    expect(s.describe().rules).toEqual(['`a` and `b` exclude each other.']);
    expect(parse(s, { a: '1', b: '2' }).issues).toEqual([{ path: 'x.b', message: 'not with a' }]);
  });
});
