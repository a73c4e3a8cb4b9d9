import { bomb, BOMB_CHANCE, encodeBody } from './encoding.ts';
import type { HttpInput } from './inputs.ts';
import type { Mutator } from './mutator.ts';

const SEED_ALERTS = [
  {
    labels: { alertname: 'InstanceDown', instance: 'web-1:9100', job: 'node', severity: 'critical' },
    annotations: { summary: 'web-1 down' },
    startsAt: '2026-11-23T10:00:00.123Z',
    endsAt: '2026-11-23T10:04:00Z',
    generatorURL: 'http://prometheus:9090/graph',
  },
  { labels: { alertname: 'Watchdog' } },
  { labels: { a: 'b' }, endsAt: '0001-01-01T00:00:00Z' },
];

const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'text/plain',
  '',
  'application/x-www-form-urlencoded',
];

/** A labelSet: names and values that may be hostile, empty, or not strings. */
function labelSet(m: Mutator): string {
  if (m.chance(0.1)) return m.jsonValue(1);
  const pairs: string[] = [];
  for (let i = m.int(6); i > 0; i--)
    pairs.push(
      `${JSON.stringify(m.chance(0.5) ? m.pick(['alertname', 'instance', 'job', 'severity', '']) : m.name())}:${m.chance(0.8) ? JSON.stringify(m.string()) : m.jsonValue(1)}`,
    );
  return `{${pairs.join(',')}}`;
}

/** One postableAlert as text, each field present or not, well-formed or not. */
function alert(m: Mutator): string {
  if (m.chance(0.3)) return JSON.stringify(m.pick(SEED_ALERTS));
  const fields: string[] = [];
  if (m.chance(0.9)) fields.push(`"labels":${labelSet(m)}`);
  if (m.chance(0.5)) fields.push(`"annotations":${labelSet(m)}`);
  const time = () =>
    m.chance(0.7)
      ? JSON.stringify(
          m.pick([
            '2026-11-23T10:00:00Z',
            '2026-11-23T10:00:00.123456789+02:00',
            '0001-01-01T00:00:00Z',
            '9999-12-31T23:59:59Z',
            'yesterday',
            '',
          ]),
        )
      : m.jsonValue(0);
  if (m.chance(0.6)) fields.push(`"startsAt":${time()}`);
  if (m.chance(0.6)) fields.push(`"endsAt":${time()}`);
  if (m.chance(0.3)) fields.push(`"generatorURL":${m.chance(0.7) ? JSON.stringify(m.string()) : m.jsonValue(0)}`);
  if (m.chance(0.2)) fields.push(`${JSON.stringify(m.name())}:${m.jsonValue(1)}`);
  return `{${fields.join(',')}}`;
}

/** One POST to the alertmanager receiver: an array of alerts, or something else, in any Content-Encoding. */
export function alertmanagerRequest(m: Mutator): HttpInput {
  const contentType = m.chance(0.85) ? 'application/json' : m.pick(CONTENT_TYPES);
  const path = m.chance(0.9)
    ? '/api/v2/alerts'
    : m.pick(['/api/v1/alerts', '/api/v2/alerts/', '/-/healthy', '/api/v2/status']);
  const headers: Record<string, string> = {};
  if (contentType) headers['content-type'] = contentType;
  if (m.chance(BOMB_CHANCE)) {
    const b = bomb(m);
    return { kind: 'http', path, headers: { ...headers, 'content-encoding': b.encoding }, body: b.body };
  }
  const n = m.pick([0, 1, 1, 2, 5, 100]);
  let text = `[${Array.from({ length: n }, () => alert(m)).join(',')}]`;
  if (m.chance(0.08)) text = m.jsonValue(0);
  if (m.chance(0.04)) text = m.deepJson(m.pick([65, 1000, 100_000]));
  const plain = Buffer.from(text);
  const { body, encoding } = encodeBody(m, m.chance(0.2) ? m.bytes(plain) : plain);
  if (encoding) headers['content-encoding'] = encoding;
  return { kind: 'http', path, headers, body };
}
