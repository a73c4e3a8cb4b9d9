import { describe, expect, it } from 'vitest';
import { extractProcessorFactory } from '../../src/processors/extract/factory.ts';
import type { VigilEvent } from '../../src/model/index.ts';
import { configIssues, counterValue, ev, parseProcessorConfig, testSettings } from './harness.ts';
import { otherWorkServedDuring, slowMatchBatch } from './harness.ts';

async function run(raw: unknown, events: VigilEvent[]) {
  const settings = testSettings('extract');
  const p = extractProcessorFactory.create(settings, parseProcessorConfig(extractProcessorFactory, raw));
  const out = (await p.process(events)) as VigilEvent[];
  return { out, settings };
}

describe('extract processor', () => {
  it('sets fields from regex named groups on the body: field-named groups set fields, others attributes', async () => {
    const { out } = await run(
      {
        rules: [
          {
            regex: {
              pattern: String.raw`^%LINK-3-UPDOWN: Interface (?<interface>\S+), changed state to (?<type>down|up)`,
            },
            set: {
              asset: '{{ resource.attributes["host.name"] }}',
              title: '{{ attributes.interface }} on {{ asset }} is {{ type }}',
            },
          },
        ],
      },
      [
        ev({ body: '%LINK-3-UPDOWN: Interface Gi0/1, changed state to down', resource: { 'host.name': 'sw-paris-1' } }),
        ev({ body: 'unrelated line', resource: { 'host.name': 'sw-paris-2' } }),
      ],
    );
    expect(out[0]).toMatchObject({
      asset: 'sw-paris-1',
      type: 'down',
      title: 'Gi0/1 on sw-paris-1 is down',
      attributes: { interface: 'Gi0/1' },
    });
    // No regex match: the rule is skipped entirely, its `set` included.
    expect(out[1]).toMatchObject({ asset: '', type: 'neutral', title: '', attributes: {} });
  });

  it('runs a regex on an attribute, and guards a rule with where', async () => {
    const { out } = await run(
      {
        rules: [
          {
            where: 'source == "test" and attributes["kind"] == "disk"',
            regex: {
              from: 'attributes["msg"]',
              pattern: String.raw`(?<mount>/\S*) is (?<pct>\d+)% full on (?<asset>\S+)`,
            },
          },
          { where: 'attributes["kind"] == "cpu"', set: { service: 'compute' } },
        ],
      },
      [
        ev({ attributes: { kind: 'disk', msg: '/var is 97% full on db-7' } }),
        ev({ attributes: { kind: 'cpu', msg: '/var is 97% full on db-8' } }),
      ],
    );
    expect(out[0]).toMatchObject({ asset: 'db-7', service: '', attributes: { mount: '/var', pct: '97' } });
    expect(out[1]).toMatchObject({ asset: '', service: 'compute' });
    expect(out[1]!.attributes.mount).toBeUndefined();
  });

  it('copies paths with their type, leaves targets alone on nil, and sets severity from words or numbers', async () => {
    const { out } = await run(
      {
        rules: [
          {
            set: {
              asset: '{{ attributes["host"] }}',
              'attributes["code"]': '{{ Int(attributes["status"]) }}',
              'attributes.site.name': 'paris',
              severity: '{{ attributes["level"] }}',
              tenant: 'acme',
            },
          },
        ],
      },
      [
        ev({ asset: 'keep-me', attributes: { status: '503', level: 'crit' } }),
        ev({ attributes: { host: 'h2', status: 'x', level: 4 } }),
      ],
    );
    expect(out[0]).toMatchObject({ asset: 'keep-me', tenant: 'acme', severityNumber: 18, severityText: 'crit' });
    expect(out[0]!.attributes).toMatchObject({ code: 503, 'site.name': 'paris' });
    expect(out[1]).toMatchObject({ asset: 'h2', severityNumber: 4, severityText: 'TRACE' });
    expect(out[1]!.attributes.code).toBeUndefined();
  });

  it('copies maps it sets, so a later write into the copy leaves the source alone', async () => {
    const { out } = await run(
      { rules: [{ set: { 'attributes["copy"]': '{{ attributes["labels"] }}', 'attributes["copy"]["team"]': 'ops' } }] },
      [ev({ attributes: { labels: { team: 'dev' } } })],
    );
    expect(out[0]!.attributes).toEqual({ labels: { team: 'dev' }, copy: { team: 'ops' } });
  });

  it('counts values that do not fit their target and leaves the field unchanged', async () => {
    const { out, settings } = await run({ rules: [{ set: { type: '{{ attributes["state"] }}', severity: 'loud' } }] }, [
      ev({ attributes: { state: 'sideways' }, severityNumber: 9 }),
      ev({ attributes: { state: 'DOWN' } }),
    ]);
    expect(out.map((e) => e.type)).toEqual(['neutral', 'down']);
    expect(out[0]!.severityNumber).toBe(9);
    expect(await counterValue(settings, 'vigil_extract_rejected_values_total', { target: 'type' })).toBe(1);
    expect(await counterValue(settings, 'vigil_extract_rejected_values_total', { target: 'severity' })).toBe(2);
  });

  it('serves other work while a long batch of slow regexes is applied, and sets the same fields', async () => {
    const p = extractProcessorFactory.create(
      testSettings('extract'),
      parseProcessorConfig(extractProcessorFactory, {
        rules: [{ regex: { pattern: String.raw`^(?<title>word)(\s\w+)+$` } }],
      }),
    );
    const batch = slowMatchBatch(1000, 100);
    const { out, servedDuring } = await otherWorkServedDuring(() => p.process(batch) as VigilEvent[]);
    expect(servedDuring).toBe(true);
    expect(out.map((e) => e.title)).toEqual(batch.map((_, i) => (i % 2 ? '' : 'word')));
  });

  it('rejects bad rules at config load, naming the YAML path and the column', () => {
    expect(configIssues(extractProcessorFactory, { rules: [{ where: 'asset = "x"', set: { title: 'x' } }] })).toEqual([
      'processors.extract.rules[0].where: column 7: expected "==" for equality ("=" alone is not an operator)',
    ]);
    expect(configIssues(extractProcessorFactory, { rules: [{ set: { title: '{{ attributes.host' } }] })).toEqual([
      'processors.extract.rules[0].set.title: column 1: expected "}}" to close this "{{"',
    ]);
    expect(configIssues(extractProcessorFactory, { rules: [{ set: { title: 'x {{ attribute["h"] }}' } }] })[0]).toMatch(
      /^processors\.extract\.rules\[0\]\.set\.title: column 6: unknown path "attribute"/,
    );
    expect(configIssues(extractProcessorFactory, { rules: [{ set: { id: 'x' } }] })[0]).toMatch(
      /set\.id: id is read-only/,
    );
    expect(configIssues(extractProcessorFactory, { rules: [{ regex: { pattern: String.raw`(\S+)` } }] })).toEqual([
      'processors.extract.rules[0].regex.pattern: needs at least one named group such as (?<asset>\\S+); its name says which field it sets',
    ]);
    expect(configIssues(extractProcessorFactory, { rules: [{ regex: { pattern: '(?<a>' } }] })[0]).toMatch(
      /regex\.pattern: is not a valid regular expression/,
    );
    expect(configIssues(extractProcessorFactory, { rules: [{}] })).toEqual([
      'processors.extract.rules[0]: a rule needs a regex, a set mapping, or both',
    ]);
  });
});
