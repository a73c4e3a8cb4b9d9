import { describe, expect, it } from 'vitest';
import { newEvent } from '../../src/model/index.ts';
import { compilePath, compileValue } from '../../src/ottl/index.ts';

describe('compilePath getters and setters', () => {
  it('writes event fields, converting what fits and refusing what does not', () => {
    const e = newEvent({ source: 'test' });
    const sev = compilePath('severity_number', 'event');
    expect(sev.set!(e, 17)).toBe(true);
    expect(sev.set!(e, '9')).toBe(true);
    expect(e.severityNumber).toBe(9);
    expect(sev.set!(e, 99)).toBe(false);
    expect(sev.set!(e, { a: 1 })).toBe(false);
    expect(e.severityNumber).toBe(9);

    const type = compilePath('type', 'event');
    expect(type.set!(e, 'DOWN')).toBe(true);
    expect(e.type).toBe('down');
    expect(type.set!(e, 'sideways')).toBe(false);

    const asset = compilePath('asset', 'event');
    expect(asset.set!(e, 42)).toBe(true);
    expect(e.asset).toBe('42');
    expect(asset.get(e)).toBe('42');
  });

  it('writes attribute keys, creating inner maps, and deletes on nil', () => {
    const e = newEvent({ source: 'test', attributes: { keep: 1 } });
    const owner = compilePath('attributes["owner"]', 'event');
    owner.set!(e, 'team-a');
    const nested = compilePath('attributes["site"]["room"]', 'event');
    nested.set!(e, 'B12');
    expect(e.attributes).toEqual({ keep: 1, owner: 'team-a', site: { room: 'B12' } });
    expect(nested.get(e)).toBe('B12');
    owner.set!(e, undefined);
    expect(e.attributes).toEqual({ keep: 1, site: { room: 'B12' } });
    compilePath('resource.attributes["host.name"]', 'event').set!(e, 'h1');
    expect(e.resource).toEqual({ 'host.name': 'h1' });
  });

  it('never writes through to Object.prototype', () => {
    const e = newEvent({ source: 'test' });
    compilePath('attributes["__proto__"]["polluted"]', 'event').set!(e, 'yes');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(e.attributes)).toBe(Object.prototype);
    expect(compilePath('attributes["__proto__"]["polluted"]', 'event').get(e)).toBe('yes');
  });

  it('has no setter for read-only fields', () => {
    expect(compilePath('id', 'event').set).toBeUndefined();
    expect(compilePath('source', 'event').set).toBeUndefined();
    expect(compilePath('value', 'datapoint').set).toBeUndefined();
    expect(compilePath('status.code', 'span').set).toBeUndefined();
  });

  it('compiles value expressions for extraction', () => {
    const e = newEvent({ source: 'test', body: 'disk /var full on db-7', attributes: { a: 'x' } });
    expect(compileValue('ExtractPatterns(body, "on (?<host>\\\\S+)")["host"]', 'event')(e)).toBe('db-7');
    expect(compileValue('Concat([attributes["a"], "y"], "-")', 'event')(e)).toBe('x-y');
    expect(compileValue('"literal"', 'event')(e)).toBe('literal');
  });
});
