import { describe, expect, it } from 'vitest';
import { bodyRecordCounter, countBodyRecords, parseJsonBody } from '../../../src/receivers/json/receiver.ts';
import { JsonValueCounter, NdjsonLineCounter } from '../../../src/receivers/json/recordCount.ts';

const count = (text: string, contentType = 'application/json') => countBodyRecords(Buffer.from(text), contentType);

/** Objects and arrays outside strings, a string ending with its line at the latest: the rule, one character at a time. */
function containersByTheRule(text: string): number {
  let n = 0;
  let inString = false;
  let escaped = false;
  for (const ch of text) {
    if (inString) {
      if (ch === '\n') inString = escaped = false;
      else if (escaped) escaped = false;
      else if (ch === '\\') escaped = true;
      else if (ch === '"') inString = false;
    } else if (ch === '"') inString = true;
    else if (ch === '{' || ch === '[') n++;
  }
  return n;
}

describe('JSON receiver record count from the bytes', () => {
  it('counts what parseJsonBody finds in valid bodies', () => {
    const bodies: [string, string][] = [
      ['{"a": 1}', 'application/json'],
      ['{\n  "a": [1, 2, {"b": "}]"}],\n  "c": "x\\"y"\n}\n', 'application/json'],
      ['[]', 'application/json'],
      ['[{}, {}, {"a": [1, 2, 3]}]', 'application/json'],
      [' [ "s" , 1, true, null, [2, 3] ] ', 'application/json'],
      ['{"a":1}\n{"a":2}\n\n{"a":[3,4]}\n', 'application/json'],
      ['{"a":1}\n\n  \n{"a":2}', 'application/x-ndjson'],
      ['{"a":"é,]}"}\n{"b":2}\n', 'application/x-ndjson'],
      ['{"a":1}\n{oops\n{"a":3}', 'application/x-ndjson'],
    ];
    for (const [text, type] of bodies) {
      const parsed = parseJsonBody(text, type);
      expect(count(text, type), text).toBe(parsed.records.length + parsed.rejected.length);
    }
  });

  it('counts the same when the body arrives in chunks cut anywhere (inside strings, escapes, numbers)', () => {
    const bodies: [string, string][] = [
      ['[{"a": "x\\"}]\\\\"}, 12345, true, {"b": [1, "]"]}, null]', 'application/json'],
      ['{"a":1} {"b":"c,d"}\n77\n', 'application/json'],
      ['{"a":1}\n\n  \n{"a":2}\n{"z":"\\n"}', 'application/x-ndjson'],
    ];
    for (const [text, type] of bodies) {
      const bytes = Buffer.from(text);
      const whole = countBodyRecords(bytes, type);
      for (let size = 1; size <= bytes.length; size++) {
        const counter = bodyRecordCounter(type);
        for (let at = 0; at < bytes.length; at += size) counter.feed(bytes.subarray(at, at + size));
        expect(counter.total(), `${text} in chunks of ${size}`).toBe(whole);
      }
    }
  });

  it('skips strings with runs of backslashes before quotes, cut anywhere, as the parse reads them', () => {
    const records = Array.from({ length: 6 }, (_, n) => ({ [`k${'\\'.repeat(n)}`]: `${'\\'.repeat(n)}"}],{["\\` }));
    const bytes = Buffer.from(JSON.stringify(records));
    for (let size = 1; size <= bytes.length; size++) {
      const values = bodyRecordCounter('application/json');
      const containers = new JsonValueCounter();
      for (let at = 0; at < bytes.length; at += size) {
        values.feed(bytes.subarray(at, at + size));
        containers.feed(bytes.subarray(at, at + size));
      }
      expect(values.total(), `chunks of ${size}`).toBe(6);
      expect(containers.containers(), `chunks of ${size}`).toBe(7);
    }
  });

  it('counts many records without parsing them', () => {
    expect(count(`[${'{},'.repeat(99_999)}{}]`)).toBe(100_000);
    expect(count('{}\n'.repeat(50_000), 'application/x-ndjson')).toBe(50_000);
    expect(count('{}{}{}')).toBe(3);
  });

  it('gives some count for broken bodies, which the parse then refuses', () => {
    expect(count('[{"a": ')).toBe(1);
    expect(count('"unterminated')).toBe(1);
    expect(count('')).toBe(0);
  });

  it('counts objects and arrays anywhere, not those inside strings, in chunks cut anywhere', () => {
    const text = '{"a":[{},{"b":"{[\\"[{"}],"c":{"d":[[1],[]]}}\n[]';
    const bytes = Buffer.from(text);
    for (let size = 1; size <= bytes.length; size++) {
      const counter = new JsonValueCounter();
      for (let at = 0; at < bytes.length; at += size) counter.feed(bytes.subarray(at, at + size));
      expect(counter.containers(), `chunks of ${size}`).toBe(9);
    }
  });

  it('counts objects and arrays in the same pass as the records, in chunks cut anywhere', () => {
    const bodies = [
      '{"a":[{},{"b":"{[\\"[{"}],"c":{"d":[[1],[]]}}\n[]',
      '[{"t":"x{"},{"l":[1,2,{"m":"]"}]},[]]',
      '{"a":"open\n{"b":[{},{}]}\n{"c":"esc\\\n[[{}]]\n',
      '  \n{"x":1}\n\n{"y":{"z":[]}}\n',
      'true{[]}',
    ];
    for (const text of bodies) {
      const bytes = Buffer.from(text);
      const expected = containersByTheRule(text);
      for (const make of [() => new JsonValueCounter(), () => new NdjsonLineCounter()])
        for (let size = 1; size <= bytes.length; size++) {
          const counter = make();
          for (let at = 0; at < bytes.length; at += size) counter.feed(bytes.subarray(at, at + size));
          expect(counter.containers(), `${counter.constructor.name} ${JSON.stringify(text)} chunks of ${size}`).toBe(
            expected,
          );
        }
    }
  });

  it('counts objects and arrays outside strings, a string ending with its line at the latest, in any bytes', () => {
    // The plain rule against both counters on random bodies cut at random.
    const alphabet = '{}[]",:\\\n a1té';
    let seed = 7;
    const random = (below: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % below;
    };
    for (let round = 0; round < 2000; round++) {
      const text = Array.from({ length: 1 + random(60) }, () => alphabet[random(alphabet.length)]).join('');
      const bytes = Buffer.from(text);
      const cut = 1 + random(bytes.length);
      for (const counter of [new JsonValueCounter(), new NdjsonLineCounter()]) {
        counter.feed(bytes.subarray(0, cut));
        counter.feed(bytes.subarray(cut));
        expect(counter.containers(), `${counter.constructor.name} ${JSON.stringify(text)} cut at ${cut}`).toBe(
          containersByTheRule(text),
        );
      }
    }
  });
});
