import { describe, expect, it } from 'vitest';
import { brief, engineFrom, ev, sharingAgents, Timeline } from '../support/correlation.ts';

const rules = (extra = '') => `
defaults: { group_wait: 0s, allowed_lateness: 5s, reopen_window: 0s } # resolves are told at once (no hold), so the test sees the rule's own decisions
rules:
  - kind: threshold
    name: errors
    match: severity_text == "ERROR"
    group_by: [service]
    window: 60s
    bucket: 1s
    threshold: 6
    ${extra}
`;

const err = (t: number, service = 'api') => ev(t, { service, severityText: 'ERROR', severityNumber: 17 });

describe('threshold rule', () => {
  it('opens one incident at exactly N events in the window, and attaches the rest', () => {
    const tl = new Timeline(engineFrom(rules()));
    for (let i = 0; i < 5; i++) expect(tl.send([err(i * 1000)])).toEqual([]);
    expect(brief(tl.send([err(5000)]))).toEqual(['opened! errors{service="api"}']);
    for (let i = 6; i < 20; i++) expect(tl.send([err(i * 1000)])).toEqual([]);
    const inc = tl.engine.book.get('errors{service="api"}')!.incident;
    expect(inc).toMatchObject({
      status: 'open',
      eventCount: 20,
      firstSeenMs: 0,
      lastSeenMs: 19_000,
      rule: 'errors',
      ruleKind: 'threshold',
      labels: { service: 'api' },
    });
    expect(inc.sampleEventIds).toHaveLength(10);
  });

  it('counts per group: events of two services never add up', () => {
    const tl = new Timeline(engineFrom(rules()));
    for (let i = 0; i < 5; i++) tl.send([err(i * 1000, 'api'), err(i * 1000, 'web')]);
    expect(tl.changes).toEqual([]);
  });

  it('does not open when the first event has left the window (boundary)', () => {
    const tl = new Timeline(engineFrom(rules()));
    // Buckets 0 and 60 are 60 s apart: a 60 s window never holds both.
    tl.send([err(0)]);
    for (let i = 0; i < 5; i++) tl.send([err(56_000 + i * 1000)]);
    expect(tl.changes).toEqual([]);
    tl.send([err(60_999)]);
    expect(brief(tl.changes)).toEqual(['opened! errors{service="api"}']);
  });

  it('counts a late event inside the allowed lateness and the windows after it', () => {
    const tl = new Timeline(engineFrom(rules()));
    for (let i = 1; i <= 5; i++) tl.send([err(i * 1000)]);
    expect(tl.changes).toEqual([]);
    // Arrives at 9 s, 4 s late: it completes the window ending at 5 s.
    expect(brief(tl.send([err(5000)], 9000))).toEqual(['opened! errors{service="api"}']);
  });

  it('drops an event later than the allowed lateness and counts it', () => {
    const engine = engineFrom(rules());
    const tl = new Timeline(engine);
    for (let i = 1; i <= 5; i++) tl.send([err(i * 1000)]);
    tl.send([err(2000)], 30_000);
    expect(tl.changes).toEqual([]);
    expect(engine.stats.late).toBe(1);
    expect(engine.stats.dropped).toBe(1);
  });

  it('resolves only once the window falls below resolve_below (hysteresis)', () => {
    const tl = new Timeline(engineFrom(rules('resolve_below: 2')));
    for (let i = 0; i < 6; i++) tl.send([err(i * 1000)]);
    // One event every 20 s keeps 3 in the window: below 6, above 2.
    for (let t = 20_000; t <= 200_000; t += 20_000) tl.send([err(t)]);
    expect(brief(tl.changes)).toEqual(['opened! errors{service="api"}']);
    tl.advance(400_000);
    expect(brief(tl.changes)).toEqual(['opened! errors{service="api"}', 'resolved! errors{service="api"}']);
    const resolved = tl.changes[1]!;
    // Events at 180 s and 200 s (1 s buckets): the window 181 s..241 s is the first to hold only the last one (< 2).
    expect(resolved.atMs).toBe(241_000);
    expect(resolved.reason).toBe('count 1 < 2 within 1m');
  });

  it('sums a field instead of counting', () => {
    const tl = new Timeline(
      engineFrom(`
defaults: { group_wait: 0s }
rules:
  - { kind: threshold, name: bytes, group_by: [asset], window: 10s, threshold: 1000, sum: 'attributes["bytes"]' }
`),
    );
    tl.send([ev(0, { asset: 'a', attributes: { bytes: 600 } })]);
    expect(tl.changes).toEqual([]);
    tl.send([ev(1000, { asset: 'a', attributes: { bytes: 'x' } })]);
    expect(tl.changes).toEqual([]);
    expect(tl.send([ev(2000, { asset: 'a', attributes: { bytes: 400 } })])[0]!.reason).toBe(
      'sum 1000 ≥ 1000 within 10s',
    );
  });
});

describe('threshold rule, an opening completed by a late event', () => {
  const yaml = `
defaults: { group_wait: 0s, allowed_lateness: 5s, reopen_window: 0s }
rules:
  - { kind: threshold, name: errors, match: 'severity_text == "ERROR"', group_by: [service], window: 4s, bucket: 1s, threshold: 4 }
`;
  const KEY = 'errors{service="api"}';
  /**
   * Storm one (4 errors at 1.0–1.3 s) is over by 6 s; storm two begins then, an error every
   * 100 ms, round robin over the agents. The first agent hears of storm two first (6.1 s): the
   * quiet window 2–5 s resolves storm one at 6 s. The third holds an error of 5.9 s that it takes
   * in late (at 6.4 s, within the lateness): with the second's two, it brings the window 3–6 s
   * to the threshold. Steps: [agent, event times, clock].
   */
  const steps: [number, number[], number][] = [
    [0, [1000, 1100, 1200, 1300], 1300],
    [0, [6100], 6100],
    [1, [6200, 6300], 6300],
    [2, [5900], 6400],
  ];
  for (let t = 6500; t < 8000; t += 100) steps.push([(t / 100) % 3, [t], t]);

  /** What the agents' books hold for the key, and every incident id storage was told of. */
  function run(agents: number) {
    const { engines, stored, deliver, flushAll } = sharingAgents(
      yaml,
      ['agent-a', 'agent-b', 'agent-c'].slice(0, agents),
    );
    for (const [agent, times, nowMs] of steps) {
      const at = agent % agents;
      stored.push(
        ...engines[at]!.process(
          times.map((t) => err(t)),
          nowMs,
        ),
      );
      deliver(at);
      if (agent === 2 || nowMs > 6400) flushAll(nowMs);
    }
    stored.push(...engines[0]!.tick(8000));
    flushAll(8000);
    const ids = new Set(stored.filter((c) => c.incident.key === KEY).map((c) => c.incident.id));
    const books = engines.map((e) => {
      const inc = e.book.get(KEY)!.incident;
      return { id: inc.id, status: inc.status, openedAtMs: inc.openedAtMs, count: inc.eventCount };
    });
    return { ids, books };
  }

  it('is dated in the last bucket of the window that crossed, after the last resolution: a storm stays one incident', () => {
    // Dated at 5.9 s, the opening came before the window that crossed, and before the resolution
    // it follows: the next error resolved it at once (the window 2–5 s holds one error), and
    // agents sharing state merged it into storm one's incident, resolved. Storm two opened again.
    for (const agents of [1, 3]) {
      const { ids, books } = run(agents);
      expect(ids.size).toBe(2);
      for (const book of books) {
        expect(book).toEqual({ id: expect.any(String), status: 'open', openedAtMs: 6001, count: 19 });
        expect(ids).toContain(book.id);
      }
    }
  });
});
