import { describe, expect, it } from 'vitest';
import { encodingOf, fitSegments, segmentCount } from '../../../src/exporters/sms/segments.ts';

describe('SMS segments', () => {
  it('counts GSM-7 text in septets: 160 in one message, 153 per segment beyond, extension characters twice', () => {
    expect(encodingOf('Disk full on db-1 @ 95% (ERROR) £ è')).toBe('GSM-7');
    expect(segmentCount('a'.repeat(160))).toBe(1);
    expect(segmentCount('a'.repeat(161))).toBe(2);
    expect(segmentCount('a'.repeat(306))).toBe(2);
    expect(segmentCount('a'.repeat(307))).toBe(3);
    expect(segmentCount(`${'a'.repeat(158)}{`)).toBe(1);
    expect(segmentCount(`${'a'.repeat(159)}€`)).toBe(2);
  });

  it('counts anything outside the GSM alphabet as UCS-2: 70 units in one message, 67 per segment, emoji twice', () => {
    expect(encodingOf('Disque plein… sur db-1')).toBe('UCS-2');
    expect(segmentCount('ж'.repeat(70))).toBe(1);
    expect(segmentCount('ж'.repeat(71))).toBe(2);
    expect(segmentCount('ж'.repeat(134))).toBe(2);
    expect(segmentCount(`${'ж'.repeat(68)}😀`)).toBe(1);
    expect(segmentCount(`${'ж'.repeat(69)}😀`)).toBe(2);
  });

  it('cuts to the segment budget with "..." in GSM-7 (which "…" would turn into UCS-2) and "…" in UCS-2', () => {
    const gsm = fitSegments(`Disk full on ${'db-1 '.repeat(60)}`, 1);
    expect(gsm.truncated).toBe(true);
    expect(gsm.text.endsWith('...')).toBe(true);
    expect(encodingOf(gsm.text)).toBe('GSM-7');
    expect(gsm.text.length).toBeLessThanOrEqual(160);
    expect(segmentCount(gsm.text)).toBe(1);

    const ucs = fitSegments('😀'.repeat(100), 2);
    expect(ucs.text).toBe(`${'😀'.repeat(66)}…`);
    expect(segmentCount(ucs.text)).toBe(2);

    expect(fitSegments('short', 1)).toEqual({ text: 'short', truncated: false });
  });
});
