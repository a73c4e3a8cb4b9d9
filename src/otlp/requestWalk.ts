import type { Attributes } from '../model/attributes.ts';
import type { InstrumentationScope } from '../model/event.ts';
import { decodeResource, decodeScope } from './proto/attributes.ts';
import { jsonList, jsonMessage, jsonResource, jsonScope, RecordError } from './json/values.ts';
import { CHECKPOINT_EVERY } from '../receivers/recordLimit.ts';
import type { Rejections } from './rejections.ts';
import { checkEnd, skip, subEnd, type Reader } from './proto/wireReader.ts';

/** Called once per scope block with its items, after the whole resource block is read. */
export type ScopeSink<T> = (items: T[], resource: Attributes, scope: InstrumentationScope | undefined) => void;

/** Called every CHECKPOINT_EVERY items; throws to stop decoding (memory short). */
export type Checkpoint = () => void;

/**
 * The layout every Export*ServiceRequest shares: repeated Resource* = 1 { Resource resource = 1;
 * repeated Scope* = 2 { InstrumentationScope scope = 1; repeated <item> = 2 } }. Resource and
 * scope may follow their items on the wire, so items are handed over at the end of the block.
 */
export function walkProtoRequest<T>(
  r: Reader,
  decodeItem: (r: Reader, end: number, out: T[]) => void,
  sink: ScopeSink<T>,
  checkpoint?: Checkpoint,
): void {
  const end = r.len;
  let untilCheck = CHECKPOINT_EVERY;
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag !== 10) {
      skip(r, tag);
      continue;
    }
    const resourceEnd = subEnd(r, end);
    let resource: Attributes = {};
    const groups: { scope: InstrumentationScope | undefined; items: T[] }[] = [];
    while (r.pos < resourceEnd) {
      const t = r.uint32();
      if (t === 10) resource = decodeResource(r, subEnd(r, resourceEnd));
      else if (t === 18) {
        const scopeEnd = subEnd(r, resourceEnd);
        const group: { scope: InstrumentationScope | undefined; items: T[] } = { scope: undefined, items: [] };
        while (r.pos < scopeEnd) {
          const st = r.uint32();
          if (st === 18) {
            decodeItem(r, subEnd(r, scopeEnd), group.items);
            if (--untilCheck === 0 && checkpoint) {
              untilCheck = CHECKPOINT_EVERY;
              checkpoint();
            }
          } else if (st === 10) group.scope = decodeScope(r, subEnd(r, scopeEnd));
          else skip(r, st);
        }
        checkEnd(r, scopeEnd);
        groups.push(group);
      } else skip(r, t);
    }
    checkEnd(r, resourceEnd);
    for (const g of groups) sink(g.items, resource, g.scope);
  }
}

/**
 * The same layout in OTLP/JSON, e.g. keys ['resourceLogs', 'scopeLogs', 'logRecords']. A
 * RecordError in one item rejects that item alone; structural errors above fail the request.
 */
export function walkJsonRequest<T>(
  doc: Record<string, unknown>,
  keys: readonly [string, string, string],
  decodeItem: (v: unknown, field: string, out: T[]) => void,
  sink: ScopeSink<T>,
  rejected: Rejections,
  checkpoint?: Checkpoint,
): void {
  const [resourceKey, scopeKey, itemKey] = keys;
  let untilCheck = CHECKPOINT_EVERY;
  const resources = jsonList(doc[resourceKey], resourceKey, true);
  for (let i = 0; i < resources.length; i++) {
    const rf = `${resourceKey}[${i}]`;
    const block = jsonMessage(resources[i], rf, true);
    const resource = jsonResource(block.resource, `${rf}.resource`);
    const scopes = jsonList(block[scopeKey], `${rf}.${scopeKey}`, true);
    for (let j = 0; j < scopes.length; j++) {
      const sf = `${rf}.${scopeKey}[${j}]`;
      const sb = jsonMessage(scopes[j], sf, true);
      const scope = jsonScope(sb.scope, `${sf}.scope`);
      const list = jsonList(sb[itemKey], `${sf}.${itemKey}`, true);
      const items: T[] = [];
      for (let k = 0; k < list.length; k++) {
        if (--untilCheck === 0 && checkpoint) {
          untilCheck = CHECKPOINT_EVERY;
          checkpoint();
        }
        try {
          decodeItem(list[k], `${sf}.${itemKey}[${k}]`, items);
        } catch (err) {
          if (!(err instanceof RecordError)) throw err;
          rejected.add(err.message);
        }
      }
      sink(items, resource, scope);
    }
  }
}
