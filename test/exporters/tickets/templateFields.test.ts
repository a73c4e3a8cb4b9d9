import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { INCIDENT_TEMPLATE_SHAPE } from '../../../src/exporters/tickets/config.ts';
import { templateContext } from '../../../src/exporters/tickets/incidentExporter.ts';
import { compileTemplate } from '../../../src/exporters/tickets/template.ts';
import { runCli } from '../../support/daemon.ts';
import { assetDown, IncidentStory } from '../incidentFixtures.ts';
import type { ChangeGroup } from '../../../src/exporters/tickets/notificationGroups.ts';

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
    const { group, ...rest } = ctx;
    const { group: groupShape, ...declared } = { ...INCIDENT_TEMPLATE_SHAPE, label: shapeOf(ctx.label) } as Record<
      string,
      unknown
    >;
    expect(shapeOf(rest)).toEqual(declared);
    // A notification about one incident: the group fields are there, empty.
    expect(group).toEqual({ key: '', label: {}, labels: [], firing: 0, resolved: 0, total: 0, members: [] });
    expect(groupShape).toBeDefined();
  });

  it("declares exactly the fields a group's notification carries", () => {
    const p1 = assetDown('p1', 'paris').next('opened');
    const p2 = assetDown('p2', 'paris').next('resolved');
    const group: ChangeGroup = {
      key: '{}:{site="paris"}',
      labels: { site: 'paris' },
      members: [
        { incident: p1.incident, firing: true, kind: 'opened' },
        { incident: p2.incident, firing: false, kind: 'resolved' },
      ],
    };
    const ctx = templateContext(p1, 'vigil-abc', group) as Record<string, Record<string, unknown>>;
    const members = ctx.group!.members as Record<string, unknown>[];
    const shape = structuredClone(INCIDENT_TEMPLATE_SHAPE) as Record<string, unknown>;
    const g = shape.group as Record<string, unknown>;
    shape.label = shapeOf(ctx.label);
    g.label = shapeOf(ctx.group!.label);
    (g.members as { list: Record<string, unknown> }).list.label = shapeOf(members[0]!.label);
    expect(shapeOf(ctx)).toEqual(shape);
    expect(ctx.group).toMatchObject({ key: '{}:{site="paris"}', firing: 1, resolved: 1, total: 2 });
    expect(members.map((m) => [m.status, m.firing, m.title, m.asset])).toEqual([
      ['firing', true, 'p1 down', 'p1'],
      ['resolved', false, 'p2 down', 'p2'],
    ]);
  });

  it("renders a group's counts, labels and members", () => {
    const members = ['p1', 'p2', 'p3', 'p4', 'p5'].map((n, i) => ({
      incident: assetDown(n, 'paris').next(i < 3 ? 'opened' : 'resolved').incident,
      firing: i < 3,
      kind: (i < 3 ? 'opened' : 'resolved') as 'opened' | 'resolved',
    }));
    const group: ChangeGroup = { key: '{}:{site="paris"}', labels: { site: 'paris' }, members };
    const ctx = templateContext(assetDown('p1', 'paris').next('updated'), 'vigil-abc', group);
    const t = compileTemplate(
      '{{group.firing}} of {{group.total}} hosts down in {{group.label.site}}:{{#group.members}}{{#firing}} {{asset}}{{/firing}}{{/group.members}}{{#group.labels}} [{{name}}={{value}}]{{/group.labels}}',
      INCIDENT_TEMPLATE_SHAPE,
    );
    expect(t.render(ctx)).toBe('3 of 5 hosts down in paris: p1 p2 p3 [site=paris]');
    // Outside a group the same template renders empty values, not an error.
    expect(t.render(templateContext(assetDown('p1', 'paris').next('opened'), 'vigil-abc'))).toBe(
      '0 of 0 hosts down in :',
    );
    expect(() => compileTemplate('{{group.lable.site}}', INCIDENT_TEMPLATE_SHAPE)).toThrow(
      /\{\{group\.lable\.site\}\} names nothing a notification has; use .*group\.key, group\.label\.<name>, group\.labels \(a list\)/,
    );
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
