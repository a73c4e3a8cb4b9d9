import { describe, expect, it } from 'vitest';
import { newEvent } from '../../src/model/index.ts';
import { compileTemplate, OttlError } from '../../src/ottl/index.ts';

const e = newEvent({
  source: 'test',
  asset: 'web-1',
  severityNumber: 17,
  attributes: { host: 'h1', 'host.name': 'h1.example', code: 503 },
  resource: { 'k8s.pod.name': 'pod-7' },
});

describe('compileTemplate', () => {
  it('substitutes OTTL values and the attributes.key shorthand', () => {
    expect(compileTemplate('{{ attributes.host }} down', 'event').render(e)).toBe('h1 down');
    expect(
      compileTemplate('{{attributes.host.name}} on {{ resource.attributes.k8s.pod.name }}', 'event').render(e),
    ).toBe('h1.example on pod-7');
    expect(
      compileTemplate('{{ asset }}: HTTP {{ attributes["code"] }} ({{ Concat([asset, "x"], "-") }})', 'event').render(
        e,
      ),
    ).toBe('web-1: HTTP 503 (web-1-x)');
    expect(compileTemplate('missing: "{{ attributes.nope }}"', 'event').render(e)).toBe('missing: ""');
    expect(compileTemplate('plain text', 'event').render(e)).toBe('plain text');
    expect(compileTemplate('literal {{ "{{" }} braces', 'event').render(e)).toBe('literal {{ braces');
  });

  it('keeps the value and its type when the template is one expression', () => {
    expect(compileTemplate('{{ attributes.code }}', 'event').value(e)).toBe(503);
    expect(compileTemplate(' {{ attributes.code }}', 'event').value(e)).toBe(' 503');
    expect(compileTemplate('{{ attributes.nope }}', 'event').value(e)).toBeUndefined();
  });

  it('encodes each substituted value when asked, not the literal text', () => {
    const t = compileTemplate('http://cmdb/a/{{ attributes["host.name"] }}?q={{ Concat(["a b", "&"], "") }}', 'event', {
      encode: encodeURIComponent,
    });
    expect(t.render(e)).toBe('http://cmdb/a/h1.example?q=a%20b%26');
  });

  it('reports errors at their column in the whole template', () => {
    const fail = (source: string) => {
      try {
        compileTemplate(source, 'event');
      } catch (err) {
        expect(err).toBeInstanceOf(OttlError);
        return (err as OttlError).message;
      }
      throw new Error('compiled');
    };
    expect(fail('host {{ attributes.host')).toBe('column 6: expected "}}" to close this "{{"');
    expect(fail('x {{ }}')).toBe('column 3: expected an expression such as attributes.host inside "{{ }}"');
    expect(fail('ab {{  hostname }}')).toMatch(/^column 8: unknown path "hostname"/);
    expect(fail('{{ IsMatch(body, "(") }}')).toMatch(/^column 18: invalid regular expression/);
  });
});
