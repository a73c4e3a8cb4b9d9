import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/daemon.ts';

const dir = mkdtempSync(join(tmpdir(), 'vigil-rules-'));
const config = join(dir, 'rules.yaml');
writeFileSync(
  config,
  `
correlation:
  defaults: { group_wait: 30s, allowed_lateness: 10s }
  rules:
    - { kind: pair, name: link, group_by: [asset], deadline: 5m }
    - { kind: threshold, name: errors, match: 'severity_number >= SEVERITY_NUMBER_ERROR', window: 1m, threshold: 3 }
`,
);
const events = join(dir, 'events.ndjson');
writeFileSync(
  events,
  [
    { ts: '2026-11-23T10:00:00Z', asset: 'sw-1', type: 'down', title: 'sw-1 port 3 down', level: 'warning' },
    { ts: '2026-11-23T10:00:20Z', service: 'api', level: 'error', message: 'timeout' },
    { ts: '2026-11-23T10:00:21Z', service: 'api', level: 'error', message: 'timeout' },
    // Happened at 10:00:22, reached Vigil 5 s later: inside the allowed lateness.
    { ts: '2026-11-23T10:00:22Z', arrival: '2026-11-23T10:00:27Z', service: 'api', level: 'error', message: 'timeout' },
    { ts: '2026-11-23T10:07:00Z', asset: 'sw-1', type: 'up' },
  ]
    .map((e) => JSON.stringify(e))
    .join('\n') + '\n{broken\n',
);

describe('vigil rules', () => {
  it('test replays events on a virtual clock and prints the incident timeline', async () => {
    const r = await runCli(['rules', 'test', '--config', config, '--events', events]);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^time\s+change\s+notify\s+incident\s+events\s+reason$/);
    const rows = lines.slice(1, lines.indexOf('')).map((l) =>
      l
        .split(/\s{2,}/)
        .slice(0, 4)
        .join(' | '),
    );
    expect(rows).toEqual([
      '2026-11-23T10:00:00.000Z | opened | no | link{asset="sw-1"}',
      // The third error, 5 s late, completes the window.
      '2026-11-23T10:00:22.000Z | opened | no | errors{}',
      '2026-11-23T10:00:30.000Z | opened | yes | link{asset="sw-1"}',
      '2026-11-23T10:00:52.000Z | opened | yes | errors{}',
      // 6 s buckets: the errors' bucket leaves the minute at 10:01:18, decided 10 s later.
      // Bucket 6 s: the errors fall in 10:00:18–24; the window 10:00:24–10:01:24 is the first without them.
      // Within group_interval (5m) of its notification and it may still reopen: its all-clear is
      // held until 10:05:52, and so is the link's until 5m after its escalation.
      '2026-11-23T10:01:24.000Z | resolved | held | errors{}',
      '2026-11-23T10:05:00.000Z | escalated | yes | link{asset="sw-1"}',
      '2026-11-23T10:05:52.000Z | resolved | yes | errors{}',
      '2026-11-23T10:07:00.000Z | resolved | held | link{asset="sw-1"}',
      '2026-11-23T10:10:00.000Z | resolved | yes | link{asset="sw-1"}',
    ]);
    expect(r.stdout).toContain('5 event(s), 0 point(s); 0 late, 0 far-future, 0 dropped; 9 incident change(s)');
    expect(r.stdout).toContain('line 6: not JSON');
    expect(r.code).toBe(1);
  });

  it('test --format json prints one incident change per line', async () => {
    const r = await runCli([
      'rules',
      'test',
      '--config',
      config,
      '--events',
      events,
      '--format',
      'json',
      '--after',
      '1m',
    ]);
    const changes = r.stdout
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as {
            kind: string;
            notify: boolean;
            held?: true;
            incident: { key: string; eventCount: number };
          },
      );
    // One minute on, the link's all-clear (held until 10:10) is still to come.
    expect(changes.map((c) => c.kind)).toEqual([
      'opened',
      'opened',
      'opened',
      'opened',
      'resolved',
      'escalated',
      'resolved',
      'resolved',
    ]);
    expect(changes.filter((c) => c.kind === 'resolved').map((c) => [c.incident.key, c.notify, c.held])).toEqual([
      ['errors{}', false, true],
      ['errors{}', true, undefined],
      ['link{asset="sw-1"}', false, true],
    ]);
    expect(changes.find((c) => c.incident.key === 'errors{}')!.incident.eventCount).toBe(3);
    expect(r.stderr).toContain('events.ndjson:6: not JSON');
  });

  it('lint summarises the rules and warns about likely mistakes', async () => {
    const r = await runCli(['rules', 'lint', '--config', config]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('link: pair — down opens, up resolves by asset, escalates after 5m');
    expect(r.stdout).toContain(
      'warning: correlation.rules[1] (errors): no group_by: every matching event lands in one incident',
    );
    expect(r.stdout).toContain('2 rule(s) valid, 1 warning(s)');
  });

  it('lint reports a bad condition with its YAML path', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(
      bad,
      `correlation:\n  rules:\n    - { kind: threshold, name: x, match: 'severity_number >>= 3', window: 1m, threshold: 2 }\n    - { kind: absence, name: x, interval: 1m, group_by: ['nope'] }\n`,
    );
    const r = await runCli(['rules', 'lint', '--config', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('correlation.rules[0].match:');
    expect(r.stderr).toContain('correlation.rules[1].name: "x" is already the name of another rule');
    expect(r.stderr).toContain('correlation.rules[1].group_by[0]: unknown field "nope"');
  });
});
