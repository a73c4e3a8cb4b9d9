import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/daemon.ts';

/**
 * `vigil rules test` decides as the daemon does: lines are mapped by the logs pipeline's JSON
 * receiver (`fields`) and pass its processors before the rules. Here the device's message only
 * becomes a down or an up through extract and tag, the asset comes from a renamed field, and a
 * filter drops a noisy line: without the pipeline, no incident would open.
 */
const CONFIG = `
receivers:
  json:
    endpoint: 127.0.0.1:0
    fields: { asset: [device], body: [line] }
processors:
  extract:
    rules:
      - regex: { from: body, pattern: 'Interface (?<interface>\\S+), changed state to (?<state>down|up)' }
  tag:
    rules:
      - { where: 'attributes["state"] == "down"', type: down, severity: critical }
      - { where: 'attributes["state"] == "up"', type: up }
  filter/noise:
    logs: ['IsMatch(body, "healthcheck")']
exporters:
  correlation: {}
correlation:
  rules:
    - { kind: pair, name: link, group_by: [asset] }
service:
  pipelines:
    logs: { receivers: [json], processors: [extract, tag, filter/noise], exporters: [correlation] }
`;

const EVENTS = [
  { time: '2026-12-01T10:00:00Z', device: 'sw-1', line: '%LINK-3-UPDOWN: Interface Gi0/1, changed state to down' },
  { time: '2026-12-01T10:00:30Z', device: 'sw-1', line: 'healthcheck Interface Gi0/1, changed state to up' },
  { time: '2026-12-01T10:01:00Z', device: 'sw-1', line: '%LINK-3-UPDOWN: Interface Gi0/1, changed state to up' },
];

describe('vigil rules test through the pipeline', () => {
  it("maps with the JSON receiver's fields and runs the logs pipeline's processors before the rules", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-rules-pipeline-'));
    writeFileSync(join(dir, 'vigil.yaml'), CONFIG);
    writeFileSync(join(dir, 'events.ndjson'), EVENTS.map((e) => JSON.stringify(e)).join('\n'));
    const res = await runCli([
      'rules',
      'test',
      '--config',
      join(dir, 'vigil.yaml'),
      '--events',
      join(dir, 'events.ndjson'),
      '--format',
      'json',
      '--after',
      '1m',
    ]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const changes = res.stdout
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as {
            kind: string;
            atMs: number;
            incident: { key: string; eventCount: number; severityText: string };
          },
      );
    // Opened by the down at 10:00:00, resolved by the real up at 10:01:00: the healthcheck line at 10:00:30 was filtered out.
    // (Two `opened` changes: the creation, then the first notification after group_wait.)
    expect(changes.map((c) => [c.kind, c.incident.key])).toEqual([
      ['opened', 'link{asset="sw-1"}'],
      ['opened', 'link{asset="sw-1"}'],
      ['resolved', 'link{asset="sw-1"}'],
    ]);
    const resolved = changes.find((c) => c.kind === 'resolved')!;
    expect(new Date(resolved.atMs).toISOString()).toBe('2026-12-01T10:01:00.000Z');
    expect(resolved.incident).toMatchObject({ eventCount: 2, severityText: 'critical' }); // the severity the tag processor set

    const table = await runCli([
      'rules',
      'test',
      '--config',
      join(dir, 'vigil.yaml'),
      '--events',
      join(dir, 'events.ndjson'),
    ]);
    expect(table.stdout.split('\n')[0]).toBe('through logs: json mapping, processors extract, tag, filter/noise');
  });
});
