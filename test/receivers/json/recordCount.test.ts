import { describe, expect, it } from 'vitest';
import { bodyRecordCounter, countBodyRecords, parseJsonBody } from '../../../src/receivers/json/receiver.ts';
import { JsonContainerCounter } from '../../../src/receivers/json/recordCount.ts';

const count = (text: string, contentType = 'application/json') => countBodyRecords(Buffer.from(text), contentType);

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
      const containers = new JsonContainerCounter();
      for (let at = 0; at < bytes.length; at += size) {
        values.feed(bytes.subarray(at, at + size));
        containers.feed(bytes.subarray(at, at + size));
      }
      expect(values.total(), `chunks of ${size}`).toBe(6);
      expect(containers.total(), `chunks of ${size}`).toBe(7);
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
      const counter = new JsonContainerCounter();
      for (let at = 0; at < bytes.length; at += size) counter.feed(bytes.subarray(at, at + size));
      expect(counter.total(), `chunks of ${size}`).toBe(9);
    }
  });
});
