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

  it("keeps a notification group's hash, flush lease and fence in one slot, apart from every other group's", () => {
    const [group, lease, fence] = keys.groupKeys('{}/{severity>="error"}:{site="paris"}', 'glpi');
    const tag = /\{([^}]+)\}/.exec(group)![1];
    expect(tag).toMatch(/^group@glpi:[0-9a-f]{24}$/);
    for (const k of [lease, fence]) expect(/\{([^}]+)\}/.exec(k)![1]).toBe(tag);
    expect(keys.groupKeys('{}/{severity>="error"}:{site="lyon"}', 'glpi')[0]).not.toBe(group);
    expect(keys.groupKeys('{}/{severity>="error"}:{site="paris"}', 'jira')[0]).not.toBe(group);
  });

  it("claims one notification under every id of an incident, all with the incident key's hash tag", () => {
    /** The part of a key Redis Cluster hashes: the text between the first `{` and the next `}`, if any. */
    const hashTag = (k: string) => {
      const open = k.indexOf('{');
      const close = k.indexOf('}', open + 1);
      return open >= 0 && close > open + 1 ? k.slice(open + 1, close) : k;
    };
    for (const key of ['errors{svc="a"}', 'errors{svc="a}b"}', 'plain', 'x{}']) {
      const resolved = keys.notificationClaimKeys(key, ['id1', 'id0', 'id2'], 'resolved', 6000);
      expect(resolved).toEqual(['id1', 'id0', 'id2'].map((id) => keys.notifiedKey(key, `${id}:resolved:6000`)));
      // An opening without its moment, and as versions before claimed it on its own id.
      const opened = keys.notificationClaimKeys(key, ['id1', 'id0'], 'opened', 1000);
      expect(opened).toEqual([
        keys.notifiedKey(key, 'id1:opened'),
        keys.notifiedKey(key, 'id0:opened'),
        keys.notifiedKey(key, 'id1:opened:1000'),
      ]);
      expect(new Set([...resolved, ...opened].map(hashTag))).toEqual(new Set([hashTag(keys.notifiedKey(key, ''))]));
    }
  });
});
