import { bomb, BOMB_CHANCE, encodeBody } from './encoding.ts';
import type { HttpInput } from './inputs.ts';
import type { Mutator } from './mutator.ts';

const SEED_EVENTS = [
  {
    asset: 'db-1',
    type: 'down',
    severity: 'error',
    body: 'disk full',
    attributes: { region: 'eu', 'nested.a': { b: [1, 2] } },
    resource: { 'host.name': 'db-1' },
  },
  { asset: 'web-2', timestamp: '2026-11-23T10:00:00.123Z', severity: 9, body: { msg: 'ok', code: 200 } },
  { body: 'plain' },
];

const CONTENT_TYPES = [
  'application/json',
  'application/x-ndjson',
  'application/json; charset=utf-8',
  'application/cloudevents+json',
  'application/jsonl',
  'text/plain',
  'application/x-www-form-urlencoded',
  '',
  'application/json; charset=utf-16',
  'APPLICATION/JSON',
];

/** An event object as text, built from fields that each may be a wrong type, a hostile key or an edge value. */
function event(m: Mutator): string {
  if (m.chance(0.3)) return JSON.stringify(m.pick(SEED_EVENTS));
  const fields: string[] = [];
  const maybe = (key: string, ...good: string[]) => {
    if (m.chance(0.6)) fields.push(`"${key}":${m.chance(0.6) ? m.pick(good) : m.jsonValue(2)}`);
  };
  maybe('asset', '"db-1"', '"__proto__"');
  maybe('type', '"down"', '"up"');
  maybe('severity', '"error"', '"info"', '24', '-1', '"FATAL4"');
  maybe('timestamp', '"2026-11-23T10:00:00Z"', '1764000000000', '-1e300', '"not a time"');
  maybe('body', '"text"', '{"a":1}');
  maybe('attributes', '{"a":"b"}', '{"__proto__":{"polluted":1}}');
  maybe('resource', '{"host.name":"h"}');
  for (let i = m.int(3); i > 0; i--) fields.push(`${JSON.stringify(m.name())}:${m.jsonValue(1)}`);
  return `{${fields.join(',')}}`;
}

function document(m: Mutator, ndjson: boolean): Buffer {
  const n = m.pick([0, 1, 1, 2, 5, 50]);
  const events: string[] = [];
  for (let i = 0; i < n; i++) events.push(event(m));
  let text: string;
  if (ndjson) text = events.join(m.pick(['\n', '\r\n', '\n\n', '\x1e'])) + (m.chance(0.5) ? '\n' : '');
  else if (n === 1 && m.chance(0.5)) text = events[0]!;
  else text = `[${events.join(',')}]`;
  if (m.chance(0.08)) text = m.jsonValue(0);
  if (m.chance(0.04)) text = m.deepJson(m.pick([65, 1000, 100_000]));
  const body = Buffer.from(text);
  return m.chance(0.25) ? m.bytes(body) : body;
}

/** One POST to the JSON events receiver: an object, an array or NDJSON, in any Content-Encoding, or a wrong one. */
export function jsonEventsRequest(m: Mutator): HttpInput {
  const contentType = m.chance(0.75) ? m.pick(CONTENT_TYPES.slice(0, 2)) : m.pick(CONTENT_TYPES);
  const path = m.chance(0.9)
    ? m.pick(['/v1/events', '/ingest'])
    : m.pick(['/v1/events/', '/v1/logs', '/%2e%2e/admin', `/${'a'.repeat(5000)}`]);
  const headers: Record<string, string> = {};
  if (contentType) headers['content-type'] = contentType;
  if (m.chance(BOMB_CHANCE)) {
    const b = bomb(m);
    return { kind: 'http', path, headers: { ...headers, 'content-encoding': b.encoding }, body: b.body };
  }
  const { body, encoding } = m.chance(0.04)
    ? { body: Buffer.alloc(0), encoding: undefined }
    : encodeBody(m, document(m, /ndjson|jsonl/.test(contentType)));
  if (encoding) headers['content-encoding'] = encoding;
  return { kind: 'http', path, headers, body };
}
