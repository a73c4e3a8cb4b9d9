import { describe, expect, it } from 'vitest';
import { RedisKeys } from '../../src/state/redisKeys.ts';

describe('RedisKeys', () => {
  const keys = new RedisKeys('prod');

  it("tags each key with its rule, so one rule's keys share a cluster slot", () => {
    expect(keys.stateKey('c:errors{svc="a"}')).toBe('prod:{=errors}:c:errors{svc="a"}');
    expect(keys.stateKey('mx:cpu{host="h1"}#12')).toBe('prod:{=cpu}:mx:cpu{host="h1"}#12');
    expect(keys.stateKey('i:cpu{host="h1"}')).toBe('prod:{=cpu}:i:cpu{host="h1"}');
    expect(keys.sequenceKey('cpu')).toBe('prod:{=cpu}#seq');
    // No kind part: the key up to its labels is the tag.
    expect(keys.stateKey('plain{a="1"}')).toBe('prod:{=plain}:plain{a="1"}');
    // An empty tag still leaves the braces non-empty, so Redis hashes the tag, not the whole key.
    expect(keys.stateKey('c:{a="1"}')).toBe('prod:{=}:c:{a="1"}');
  });

  it('decodes state keys back and skips everything else under the prefix', () => {
    for (const k of ['c:errors{svc="a}b"}', 'i:x{a="{}:"}', 'plain', 'a:b:c'])
      expect(keys.decode(keys.stateKey(k))).toBe(k);
    expect(keys.decode('prod:{=cpu}#seq')).toBeUndefined();
    expect(keys.decode('prod:lease:{leader}')).toBeUndefined();
    expect(keys.decode('other:{=cpu}:c:cpu')).toBeUndefined();
  });
});
