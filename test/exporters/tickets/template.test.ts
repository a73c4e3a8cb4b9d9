import { describe, expect, it } from 'vitest';
import { compileTemplate } from '../../../src/exporters/tickets/template.ts';

describe('templates', () => {
  const ctx = {
    incident: { title: 'Disk <full>', count: 3 },
    labels: [
      { name: 'env', value: 'prod' },
      { name: 'host', value: 'db-1' },
    ],
    events: ['e1', 'e2'],
    none: [],
  };

  it('inserts values, escaping them only where the target asks', () => {
    const t = compileTemplate('{{incident.title}} ({{incident.count}} events){{missing}}');
    expect(t.render(ctx)).toBe('Disk <full> (3 events)');
    expect(t.render(ctx, (s) => s.replace(/</g, '&lt;').replace(/>/g, '&gt;'))).toBe('Disk &lt;full&gt; (3 events)');
  });

  it('repeats sections over lists, renders inverted sections when empty, looks names up outwards', () => {
    expect(compileTemplate('{{#labels}}{{name}}={{value}}; {{/labels}}').render(ctx)).toBe('env=prod; host=db-1; ');
    expect(compileTemplate('{{#events}}[{{.}} of {{incident.title}}]{{/events}}').render(ctx)).toBe(
      '[e1 of Disk <full>][e2 of Disk <full>]',
    );
    expect(compileTemplate('{{#none}}x{{/none}}{{^none}}no events{{/none}}').render(ctx)).toBe('no events');
  });

  it('refuses unbalanced or malformed tags', () => {
    expect(() => compileTemplate('{{#a}}{{/b}}')).toThrow('expected {{/a}}');
    expect(() => compileTemplate('{{/a}}')).toThrow('never opened');
    expect(() => compileTemplate('{{a b}}')).toThrow('not a valid tag');
  });
});
