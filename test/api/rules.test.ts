import { afterEach, describe, expect, it } from 'vitest';
import { engineFrom, ev } from '../support/correlation.ts';
import { engineDesk, SpecChecker, startApi, type RunningApi } from './harness.ts';

const RULES = `
defaults: { allowed_lateness: 1h, group_wait: 0s }
rules:
  - kind: threshold
    name: errors
    match: 'severity_number >= SEVERITY_NUMBER_ERROR'
    group_by: [service]
    window: 60s
    threshold: 5
  - kind: absence
    name: heartbeat
    group_by: [asset]
    interval: 5m
  - kind: pair
    name: link
    group_by: [asset]
    deadline: 1h30m
    flapping: { transitions: 4, window: 10m }
`;
/** The threshold rule as the API shows it: durations as the config spells them, unset keys absent. */
const ERRORS = {
  name: 'errors',
  kind: 'threshold',
  match: 'severity_number >= SEVERITY_NUMBER_ERROR',
  group_by: ['service'],
  window: '1m',
  threshold: 5,
};
const T0 = Date.parse('2026-12-01T10:00:00Z');

let api: RunningApi | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

async function get(path: string, template: string) {
  const answer = await api!.call('GET', path);
  (await SpecChecker.load(api!.base)).check('GET', template, answer);
  return answer;
}

describe("operators' API: rules", () => {
  it('lists the running rules as configured, durations as the config spells them', async () => {
    const engine = engineFrom(RULES);
    api = await startApi({ desk: () => engineDesk(engine, () => T0), anonymousRole: 'viewer' });
    const { status, body } = await get('/api/v1/rules', '/api/v1/rules');
    expect(status).toBe(200);
    expect(body).toEqual({
      items: [
        ERRORS,
        { name: 'heartbeat', kind: 'absence', match: 'true', group_by: ['asset'], interval: '5m', forget_after: '7d' },
        {
          name: 'link',
          kind: 'pair',
          match: 'true',
          group_by: ['asset'],
          member_by: [],
          deadline: '1h30m',
          flapping: { transitions: 4, window: '10m' },
        },
      ],
    });
  });

  it("gives an incident's detail the rule that made it", async () => {
    const engine = engineFrom(RULES);
    const changes = engine.process(
      Array.from({ length: 5 }, (_, i) =>
        ev(T0 + i * 1000, { service: 'checkout', severityNumber: 17, severityText: 'ERROR', title: 'boom' }),
      ),
      T0 + 5000,
    );
    const opened = changes.find((c) => c.kind === 'opened')!.incident;
    api = await startApi({ desk: () => engineDesk(engine, () => T0 + 5000), anonymousRole: 'viewer' });
    const { body } = await get(`/api/v1/incidents/${opened.id}`, '/api/v1/incidents/{id}');
    expect((body as { rule_definition: unknown }).rule_definition).toEqual(ERRORS);
  });

  it('answers no rules when no correlation runs', async () => {
    api = await startApi({ desk: () => undefined, anonymousRole: 'viewer' });
    expect((await get('/api/v1/rules', '/api/v1/rules')).body).toEqual({ items: [] });
  });
});
