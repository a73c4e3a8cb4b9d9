import { describe, expect, it } from 'vitest';
import { jsonDouble } from '../../../src/otlp/json/values.ts';

describe('OTLP/JSON doubles', () => {
  it('reads numbers, numeric strings and the special words JSON cannot write', () => {
    expect(jsonDouble(1.5, 'asDouble')).toBe(1.5);
    expect(jsonDouble('2.25', 'asDouble')).toBe(2.25);
    expect(jsonDouble('NaN', 'asDouble')).toBeNaN();
    expect(jsonDouble('Infinity', 'asDouble')).toBe(Infinity);
    expect(jsonDouble('-Infinity', 'asDouble')).toBe(-Infinity);
  });

  it("rejects words from Object's prototype, not taking them as numbers", () => {
    for (const word of ['constructor', '__proto__', 'toString', 'valueOf'])
      expect(() => jsonDouble(word, 'asDouble')).toThrow(`asDouble must be a number, got "${word}"`);
  });
});
