import { describe, expect, it } from 'vitest';
import { registry } from '../../src/components.ts';
import { parseConfig } from '../../src/service/config/load.ts';
import { ConfigError } from '../../src/errors.ts';

const pipelines = `
service:
  pipelines:
    logs: { receivers: [json], exporters: [correlation] }
receivers:
  json: { endpoint: 127.0.0.1:0 }
exporters:
  correlation: {}
`;

const badRules = `  rules:
    - { kind: pair, name: p, down: 'type ==' }
    - { kind: absence, name: a, interval: 1m, group_by: ['attributes[k]'] }
  inhibit:
    - { source: ['rule=host_down'], target: ['rule="x"'] }
`;

function issues(yaml: string): string[] {
  try {
    parseConfig(yaml, registry);
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
}

describe('the correlation: section', () => {
  it('parses rules with defaults applied', () => {
    const cfg = parseConfig(
      `${pipelines}
correlation:
  rules:
    - { kind: threshold, name: errors, match: 'severity_number >= 17', group_by: [service], window: 1m, threshold: 5 }
`,
      registry,
    );
    expect(cfg.correlation!.defaults).toMatchObject({
      time: 'event',
      allowed_lateness: 30_000,
      group_wait: 30_000,
      resolve: 'all',
    });
    expect(cfg.correlation!.rules[0]).toMatchObject({ kind: 'threshold', window: 60_000, threshold: 5 });
    expect(cfg.correlation!.state).toMatchObject({ store: 'memory' });
  });

  it('reports every problem with its YAML path', () => {
    expect(
      issues(`${pipelines}
correlation:
  defaults: { reopen_window: 2d }
  state: { store: etcd }
  rules:
    - { kind: threshold, name: errors, window: 1m, threshold: 5, resolve_below: 9 }
    - { kind: sideways, name: x }
    - { kind: pair, name: p, down: 'type ==' }
    - { kind: absence, name: a, interval: 1m, group_by: ['attributes[k]'] }
  inhibit:
    - { source: ['rule=host_down'], target: ['rule="x"'] }
  silences:
    - { name: s, matchers: ['rule="x"'], starts_at: tomorrow, ends_at: '2026-11-23T00:00:00Z' }
  maintenance:
    - { name: m, start: '25:00', duration: 1h, timezone: Mars/Olympus }
`),
    ).toEqual(
      expect.arrayContaining([
        'correlation.state.store: must be one of memory, redis; got "etcd"',
        'correlation.rules[0].resolve_below: must not exceed threshold (5)',
        'correlation.rules[1].kind: must be one of dedup, threshold, pair, absence, metric_threshold, spike; got string "sideways"',
        'correlation.maintenance[0].start: must be a time of day as HH:MM; got "25:00"',
      ]),
    );
    const second = issues(`${pipelines}
correlation:
  defaults: { reopen_window: 2d }
${badRules}  silences:
    - { name: s, matchers: ['rule="x"'], starts_at: tomorrow, ends_at: '2026-11-23T00:00:00Z' }
  maintenance:
    - { name: m, start: '23:00', duration: 1h, timezone: Mars/Olympus }
`);
    expect(second).toEqual(
      expect.arrayContaining([
        'correlation.defaults.reopen_window: must be at most 1d, got 2d',
        'correlation.silences[0].starts_at: must be an RFC 3339 time such as "2026-11-23T02:00:00Z", got "tomorrow"',
        'correlation.maintenance[0].timezone: unknown time zone "Mars/Olympus"; use an IANA name such as Europe/Paris',
      ]),
    );
    const third = issues(`${pipelines}
correlation:
${badRules}`);
    expect(third).toHaveLength(3);
    expect(third[0]).toMatch(/^correlation\.rules\[0\]\.down: /);
    expect(third[1]).toMatch(/^correlation\.rules\[1\]\.group_by\[0\]: unknown field "attributes\[k\]"/);
    expect(third[2]).toBe(
      'correlation.inhibit[0].source[0]: must be a matcher such as rule="host_down" or service=~"api|web", got "rule=host_down"',
    );
  });

  it('refuses a rule condition whose regex RE2 cannot compile (a backreference), naming its path', () => {
    expect(
      issues(`${pipelines}
correlation:
  rules:
    - { kind: pair, name: links, match: 'IsMatch(body, "(\\\\w)\\\\1")', group_by: [asset] }
`),
    ).toEqual([
      expect.stringMatching(
        /^correlation\.rules\[0\]\.match: column 15: invalid regular expression: invalid escape sequence: `\\1`; patterns use RE2 syntax/,
      ),
    ]);
  });

  it('refuses zero and unit-less durations, and thresholds that cannot open or resolve', () => {
    expect(
      issues(`${pipelines}
correlation:
  rules:
    - { kind: threshold, name: t0, window: 60, threshold: 0 }
    - { kind: threshold, name: t1, window: 0s, threshold: 5, resolve_below: 0 }
    - { kind: pair, name: p, flapping: { transitions: 3, window: 0s } }
    - { kind: absence, name: a, interval: 0s }
    - { kind: threshold, name: t2, window: 1m, threshold: 2, resolve_below: 3 }
`),
    ).toEqual([
      'correlation.rules[0].window: 60 has no unit; write 60s or 60ms',
      'correlation.rules[1].window: must be longer than 0s',
      'correlation.rules[2].flapping.window: must be longer than 0s',
      'correlation.rules[3].interval: must be longer than 0s',
      'correlation.rules[4].resolve_below: must not exceed threshold (2)',
    ]);
    expect(
      issues(`${pipelines}
correlation:
  rules:
    - { kind: threshold, name: t0, window: 60s, threshold: 0 }
    - { kind: threshold, name: t1, window: 60s, threshold: 5, resolve_below: 0 }
`),
    ).toEqual([
      'correlation.rules[0].threshold: must be at least 1 (it is compared with a count of events), got 0',
      'correlation.rules[1].resolve_below: must be at least 1 (it is compared with a count of events), got 0: a window with no events must resolve the incident',
    ]);
  });

  it('requires the section when the correlation exporter is configured', () => {
    expect(issues(pipelines)).toEqual([
      'exporters.correlation: the correlation exporter needs a top-level correlation: section with rules',
    ]);
  });
});
