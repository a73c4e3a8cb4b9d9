import { describe, expect, it } from 'vitest';
import { setAttr, type Attributes } from '../../src/model/attributes.ts';
import { newEvent } from '../../src/model/event.ts';
import { copyEvents } from '../../src/model/eventCopy.ts';

describe('copies of events for a pipeline that changes them', () => {
  const resource: Attributes = { 'service.name': 'api', tags: ['a', 'b'] };
  const scope = { name: 'lib', version: '1', attributes: { x: 'y' } };
  const hostile: Attributes = {};
  setAttr(hostile, '__proto__', 'data, not a prototype');
  const events = [
    newEvent({
      source: 'otlp',
      timeUnixNano: 5n,
      body: { msg: 'x', list: [1, { deep: true }] },
      attributes: { big: 2n ** 63n - 1n, bytes: new Uint8Array([1, 2, 3]), nested: { n: 1 } },
      resource,
      scope,
    }),
    newEvent({ source: 'otlp', timeUnixNano: 6n, attributes: hostile, resource, scope }),
  ];

  it('are equal to the events, field by field and in the same order', () => {
    const copies = copyEvents(events);
    expect(copies).toStrictEqual(events);
    for (let i = 0; i < events.length; i++) expect(Object.keys(copies[i]!)).toEqual(Object.keys(events[i]!));
    // A key named __proto__ stays a key, and the prototype stays Object's.
    expect(Object.keys(copies[1]!.attributes)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(copies[1]!.attributes)).toBe(Object.prototype);
  });

  it('share nothing with the events: changing a copy, however deep, leaves the event as it was', () => {
    const copies = copyEvents(events);
    const c = copies[0]!;
    c.type = 'down';
    (c.body as { list: [number, { deep: boolean }] }).list[1].deep = false;
    (c.attributes.bytes as Uint8Array)[0] = 9;
    (c.attributes.nested as Attributes).n = 2;
    (c.resource.tags as string[]).push('c');
    c.scope!.attributes.x = 'z';
    expect(events[0]!.type).toBe('neutral');
    expect(events[0]!.body).toEqual({ msg: 'x', list: [1, { deep: true }] });
    expect(events[0]!.attributes.bytes).toEqual(new Uint8Array([1, 2, 3]));
    expect(events[0]!.attributes.nested).toEqual({ n: 1 });
    expect(resource.tags).toEqual(['a', 'b']);
    expect(scope.attributes.x).toBe('y');
  });

  it('keep a resource and scope the events share shared among the copies, once per batch', () => {
    const copies = copyEvents(events);
    expect(copies[0]!.resource).toBe(copies[1]!.resource);
    expect(copies[0]!.scope).toBe(copies[1]!.scope);
    expect(copies[0]!.resource).not.toBe(resource);
    expect(copyEvents(events)[0]!.resource).not.toBe(copies[0]!.resource);
  });
});
