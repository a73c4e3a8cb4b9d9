import { Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { correlationConnectorSchema } from '../../../src/connectors/correlation/config.ts';
import {
  GroupPlacement,
  sharedOut,
  timedForPartitions,
} from '../../../src/connectors/correlation/partitionPlacement.ts';
import { ruleSetOf } from '../../../src/correlation/configSection.ts';
import type { EventRule } from '../../../src/correlation/rules/rule.ts';
import { partitionOf } from '../../../src/state/redisPartitions.ts';
import { ev } from '../../support/correlation.ts';

const config = (yaml: string) => {
  const issues: { path: string; message: string }[] = [];
  const cfg = correlationConnectorSchema.parse(parse(yaml), 'correlation', issues);
  if (!cfg || issues.length) throw new Error(JSON.stringify(issues));
  return cfg;
};

const counters = () => {
  const registers = [new Registry()];
  return {
    futureEvents: new Counter({ name: 'future', help: 'f', registers }),
    droppedEvents: new Counter({ name: 'dropped', help: 'd', registers }),
  };
};
const count = async (c: Counter) => (await c.get()).values[0]?.value ?? 0;

describe('placing events in partitions', () => {
  it("sends an event to the partition of each rule's group it belongs to, and each engine takes only its own", () => {
    const cfg = config(`
rules:
  - { kind: threshold, name: by_service, match: 'severity_text == "ERROR"', group_by: [service], window: 30s, threshold: 4 }
  - { kind: threshold, name: by_asset, match: 'severity_text == "ERROR"', group_by: [asset], window: 30s, threshold: 3 }
  - { kind: pair, name: link, match: 'attributes["check"] == "link"', group_by: [asset] }
`);
    const set = ruleSetOf(cfg);
    const placement = new GroupPlacement(set, 12);
    const error = ev(1000, { service: 'billing', asset: 'web-1', severityText: 'ERROR' });
    const bySvc = partitionOf('by_service{service="billing"}', 12);
    const byAsset = partitionOf('by_asset{asset="web-1"}', 12);
    expect(bySvc).not.toBe(byAsset);
    expect(placement.placeOf(error)).toEqual([bySvc, byAsset]);
    expect(placement.placeOf(ev(1000, { asset: 'sw-1', type: 'down', attributes: { check: 'link' } }))).toBe(
      partitionOf('link{asset="sw-1"}', 12),
    );
    expect(placement.placeOf(ev(1000, { service: 'billing' }))).toBeUndefined();
    const [svcRule, assetRule] = set.rules.filter((r): r is EventRule => r.signal === 'logs');
    expect(placement.takesFor(bySvc)(svcRule!, error)).toBe(true);
    expect(placement.takesFor(bySvc)(assetRule!, error)).toBe(false);
    expect(placement.takesFor(byAsset)(assetRule!, error)).toBe(true);
  });

  it("places a group by its key's hash without building the key: escaped values, tenants, no labels, any text", () => {
    const cfg = config(`
rules:
  - { kind: threshold, name: two, group_by: [service, 'host=resource.attributes["host.name"]'], window: 30s, threshold: 4 }
  - { kind: pair, name: none, match: 'attributes["check"] == "link"' }
  - { kind: dedup, name: one, group_by: [title], dedup_window: 30s }
`);
    const set = ruleSetOf(cfg);
    const rules = set.rules.filter((r): r is EventRule => r.signal === 'logs');
    const events = [
      ev(1000, { service: 'billing', title: 'disk full', resource: { 'host.name': 'web-1' } }),
      ev(1000, { service: 'say "hi"\\there\nnow', title: 'é ü 中文 🚀', attributes: { check: 'link' } }),
      ev(1000, { service: 'billing', title: '', tenant: 'acme', resource: { 'host.name': 'web-1' } }),
      ev(1000, { service: '', tenant: 'tenant "b"', attributes: { check: 'link' } }),
    ];
    const placement = new GroupPlacement(set, 12);
    let keys = 0;
    for (const e of events)
      for (const rule of rules) {
        const key = rule.keys.key(e);
        keys++;
        // Modulo 2^32: the whole 32-bit hash of the key.
        expect(rule.keys.hash(e), key).toBe(partitionOf(key, 2 ** 32));
        for (let p = 0; p < 12; p++) expect(placement.takesFor(p)(rule, e), key).toBe(partitionOf(key, 12) === p);
      }
    expect(keys).toBe(12);
    // The keys hashed cover each case named: an escaped value, a tenant's, a rule without labels.
    const all = events.flatMap((e) => rules.map((r) => r.keys.key(e)));
    expect(all).toContain('two{host="",service="say \\"hi\\"\\\\there\\nnow"}');
    expect(all).toContain('two{host="web-1",service="billing",tenant="acme"}');
    expect(all).toContain('none{}');
    expect(all).toContain('none{tenant="tenant \\"b\\""}');
    expect(all).toContain('one{title="é ü 中文 🚀"}');
  });

  it('shares a limit of open incidents out among the partitions, no limit staying none', () => {
    const cfg = config(`
defaults: { max_open_incidents: 100 }
rules:
  - { kind: pair, name: a, group_by: [asset] }
  - { kind: pair, name: b, group_by: [asset], max_open_incidents: 0 }
  - { kind: pair, name: c, group_by: [asset], max_open_incidents: 7 }
`);
    const out = sharedOut(cfg, 12);
    expect(out.defaults.max_open_incidents).toBe(9);
    expect(out.rules.map((r) => (r as { max_open_incidents?: number }).max_open_incidents)).toEqual([undefined, 0, 1]);
    expect(cfg.defaults.max_open_incidents).toBe(100);
  });

  it('dates an event without a time at its sighting, and one far ahead of the clock as future_events says', async () => {
    const now = 1_000_000;
    const plain = [ev(now - 10), ev(now + 1000)];
    const m = counters();
    expect(timedForPartitions(plain, now, config('rules: []'), m)).toBe(plain);
    const unset = { ...ev(0), timeUnixNano: 0n, observedTimeUnixNano: BigInt(now - 5) * 1_000_000n };
    const ahead = ev(now + 3_600_000);
    const batch = [plain[0]!, unset, ahead, plain[1]!];
    const arrival = timedForPartitions(batch, now, config('rules: []'), m);
    expect(arrival.map((e) => Number(e.timeUnixNano / 1_000_000n))).toEqual([now - 10, now - 5, now, now + 1000]);
    expect(await count(m.futureEvents)).toBe(1);
    expect(await count(m.droppedEvents)).toBe(0);
    const dropped = timedForPartitions(batch, now, config('future_events: drop\nrules: []'), m);
    expect(dropped.map((e) => Number(e.timeUnixNano / 1_000_000n))).toEqual([now - 10, now - 5, now + 1000]);
    expect(await count(m.droppedEvents)).toBe(1);
    // The batch as it came is left as it was (other exporters of the pipeline see it).
    expect(batch[1]!.timeUnixNano).toBe(0n);
  });
});
