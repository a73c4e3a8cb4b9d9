import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { INCIDENT_TEMPLATE_SHAPE } from '../../../src/exporters/tickets/config.ts';
import { templateContext } from '../../../src/exporters/tickets/incidentExporter.ts';
import { compileTemplate, type TemplateShape } from '../../../src/exporters/tickets/template.ts';
import { runCli } from '../../support/daemon.ts';
import { IncidentStory } from '../incidentFixtures.ts';

/** The shape of a value as TemplateShape spells it, to compare with the declared one. */
function shapeOf(v: unknown): unknown {
  if (Array.isArray(v)) return { list: v.length ? shapeOf(v[0]) : 'leaf' };
  if (v !== null && typeof v === 'object')
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, shapeOf(x)]));
  return 'leaf';
}

describe('notification templates name only what a notification has', () => {
  it('declares exactly the fields the template context carries', () => {
    const ctx = templateContext(new IncidentStory().next('opened'), 'vigil-abc') as Record<string, unknown>;
    const declared = { ...INCIDENT_TEMPLATE_SHAPE, label: shapeOf(ctx.label) } as TemplateShape;
    expect(shapeOf(ctx)).toEqual(declared);
  });

  it('refuses a misspelt field at load, with the YAML path and what exists', async () => {
    expect(() =>
      compileTemplate(
        '{{incident.titel}} on {{label.host}}{{#labels}} {{name}}={{value}}{{/labels}}',
        INCIDENT_TEMPLATE_SHAPE,
      ),
    ).toThrow(
      /^\{\{incident\.titel\}\} names nothing a notification has; use change\.kind, .*incident\.title.*label\.<name>.*labels \(a list\)/,
    );
    expect(() => compileTemplate('{{#labels}}{{nmae}}{{/labels}}', INCIDENT_TEMPLATE_SHAPE)).toThrow(
      /\{\{nmae\}\} names nothing/,
    );
    // Names inside a section may also come from the frames around it; label.<any> is data.
    expect(() =>
      compileTemplate(
        '{{#labels}}{{name}} {{marker}}{{/labels}} {{label.anything}} {{#change.events}}{{.}}{{/change.events}}',
        INCIDENT_TEMPLATE_SHAPE,
      ),
    ).not.toThrow();

    const dir = mkdtempSync(join(tmpdir(), 'vigil-template-'));
    const file = join(dir, 'vigil.yaml');
    writeFileSync(
      file,
      `
receivers: { json: { endpoint: 127.0.0.1:0 } }
exporters:
  correlation: {}
  webhook: { url: http://127.0.0.1:9/hook, title: "{{incident.titel}}" }
correlation:
  rules: [{ kind: pair, name: down, group_by: [asset] }]
service:
  pipelines:
    logs: { receivers: [json], exporters: [correlation] }
    incidents: { exporters: [webhook] }
`,
    );
    const r = await runCli(['validate', '--config', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /exporters\.webhook\.title: is not a valid template: \{\{incident\.titel\}\} names nothing a notification has/,
    );
  });
});
