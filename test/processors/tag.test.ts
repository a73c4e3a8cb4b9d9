import { describe, expect, it } from 'vitest';
import type { VigilEvent } from '../../src/model/index.ts';
import { tagProcessorFactory } from '../../src/processors/tag/factory.ts';
import { configIssues, ev, parseProcessorConfig, testSettings } from './harness.ts';

const config = {
  rules: [
    { where: 'IsMatch(body, "changed state to down")', type: 'down', severity: 'critical' },
    { where: 'IsMatch(body, "changed state to up")', type: 'up', severity: 9 },
    { where: 'IsMatch(body, "changed state")', type: 'neutral' },
    { where: 'attributes["maintenance"] == true', severity: 'info' },
  ],
};

describe('tag processor', () => {
  it('applies the first matching rule only and leaves unmatched events as they are', async () => {
    const p = tagProcessorFactory.create(testSettings('tag'), parseProcessorConfig(tagProcessorFactory, config));
    const out = (await p.process([
      ev({ body: 'Gi0/1 changed state to down' }),
      ev({ body: 'Gi0/1 changed state to up', severityNumber: 17, severityText: 'ERROR' }),
      ev({
        body: 'Gi0/1 changed state to administratively down',
        type: 'down',
        severityNumber: 13,
        severityText: 'warning',
      }),
      ev({ body: 'noise', type: 'down', severityNumber: 13, severityText: 'warning' }),
      ev({ body: 'noise', attributes: { maintenance: true }, severityNumber: 17, severityText: 'error' }),
    ])) as VigilEvent[];
    expect(out.map((e) => [e.type, e.severityNumber, e.severityText])).toEqual([
      ['down', 18, 'critical'],
      ['up', 9, 'INFO'],
      // "changed state to administratively down" misses rule 1's text, so rule 3 tags it neutral.
      ['neutral', 13, 'warning'],
      ['down', 13, 'warning'],
      ['neutral', 9, 'info'],
    ]);
  });

  it('rejects rules that set nothing or an unknown severity', () => {
    expect(configIssues(tagProcessorFactory, { rules: [{ where: 'true' }] })).toEqual([
      'processors.tag.rules[0]: a tag rule sets type, severity, or both',
    ]);
    expect(configIssues(tagProcessorFactory, { rules: [{ where: 'true', severity: 'loud' }] })[0]).toMatch(
      /^processors\.tag\.rules\[0\]\.severity: must be a severity word/,
    );
    expect(configIssues(tagProcessorFactory, { rules: [{ where: 'true', severity: 30 }] })[0]).toMatch(
      /rules\[0\]\.severity: must be a severity word .* or a number 1–24; got "30"/,
    );
    expect(configIssues(tagProcessorFactory, { rules: [{ where: 'true', type: 'sideways' }] })).toEqual([
      'processors.tag.rules[0].type: must be one of up, down, neutral; got "sideways"',
    ]);
    expect(configIssues(tagProcessorFactory, { rules: [{ where: 'IsMatch(body, "(")', type: 'down' }] })[0]).toMatch(
      /rules\[0\]\.where: column 15: invalid regular expression/,
    );
  });
});
