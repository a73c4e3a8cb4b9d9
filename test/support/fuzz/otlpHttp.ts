import { bomb, BOMB_CHANCE, encodeBody } from './encoding.ts';
import type { HttpInput } from './inputs.ts';
import type { Mutator } from './mutator.ts';
import { handBuiltLogs, otlpObject, otlpProtobuf, type OtlpSignal } from './otlpSeeds.ts';

const SIGNALS: OtlpSignal[] = ['logs', 'metrics', 'traces'];
const WRONG_TYPES = [
  'text/plain',
  'application/grpc',
  '',
  'application/x-protobuf; charset=utf-8',
  'application/protobuf',
  'multipart/form-data; boundary=x',
];

function path(m: Mutator, signal: OtlpSignal): string {
  return m.chance(0.95)
    ? `/v1/${signal}`
    : m.pick(['/v1/events', '/v1/logs/', '/v1/profiles', `/v1/${'x'.repeat(4000)}`, '/']);
}

function request(m: Mutator, signal: OtlpSignal, body: Buffer, contentType: string): HttpInput {
  const headers: Record<string, string> = {};
  const type = m.chance(0.9) ? contentType : m.pick(WRONG_TYPES);
  if (type) headers['content-type'] = type;
  if (m.chance(BOMB_CHANCE)) {
    const b = bomb(m);
    return {
      kind: 'http',
      path: path(m, signal),
      headers: { ...headers, 'content-encoding': b.encoding },
      body: b.body,
    };
  }
  const encoded = m.chance(0.04) ? { body: Buffer.alloc(0), encoding: undefined } : encodeBody(m, body);
  if (encoded.encoding) headers['content-encoding'] = encoded.encoding;
  return { kind: 'http', path: path(m, signal), headers, body: encoded.body };
}

/** One OTLP/HTTP protobuf POST: an encoded request with edge values, bit flips of one, or a hand-built hostile one. */
export function otlpHttpProtobufRequest(m: Mutator): HttpInput {
  const signal = m.pick(SIGNALS);
  const r = m.int(10);
  const body =
    r < 4
      ? otlpProtobuf(m, signal)
      : r < 8
        ? m.bytes(otlpProtobuf(m, signal))
        : signal === 'logs'
          ? handBuiltLogs(m)
          : m.bytes(Buffer.alloc(m.int(64), m.int(256)));
  return request(m, signal, body, 'application/x-protobuf');
}

/**
 * OTLP JSON as the spec writes it (hex ids, string int64s, enum numbers), but with the JSON-only
 * traps: ints as NaN or floats, unknown enum names, ids of the wrong length, hostile keys.
 */
function otlpJsonText(m: Mutator, signal: OtlpSignal): string {
  let text = JSON.stringify(otlpObject(m, signal), (_k, v: unknown) =>
    Buffer.isBuffer(v) || (v && typeof v === 'object' && (v as { type?: string }).type === 'Buffer')
      ? Buffer.from((v as { data: number[] }).data ?? v).toString('hex')
      : v,
  );
  if (m.chance(0.3))
    text = text.replace(
      /"(intValue|asInt|timeUnixNano|count)":("[^"]*"|[-\d.e+]+)/g,
      () => `"$1":${m.pick(['NaN', '"NaN"', '1.5', '"-"', '1e400', '"0x10"', '-0', '{}', '[]', 'null'])}`,
    );
  if (m.chance(0.2))
    text = text.replace(
      /"(severityNumber|kind|aggregationTemporality)":\d+/g,
      () => `"$1":${m.pick(['"SEVERITY_NUMBER_FATAL4"', '"BOGUS"', '-5', '2147483648', '1.5', 'null'])}`,
    );
  if (m.chance(0.2))
    text = text.replace(
      /"(traceId|spanId)":"[^"]*"/g,
      () => `"$1":${m.pick(['"zz"', '"0"', '"0123456789abcdef0123456789abcdeF"', `"${'a'.repeat(10_000)}"`, '123'])}`,
    );
  if (m.chance(0.1)) text = text.replace(/"value":/, `"value":${m.jsonValue(1)},"__proto__":`);
  if (m.chance(0.05))
    text = `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":${'{"kvlistValue":{"values":[{"key":"k","value":'.repeat(m.pick([64, 65, 300]))}{}${'}]}}'.repeat(m.pick([64, 65, 300]))}}]}]}]}`;
  return text;
}

/** One OTLP/HTTP JSON POST. */
export function otlpHttpJsonRequest(m: Mutator): HttpInput {
  const signal = m.pick(SIGNALS);
  const text = m.chance(0.05) ? m.jsonValue(0) : otlpJsonText(m, signal);
  const body = m.chance(0.25) ? m.bytes(Buffer.from(text)) : Buffer.from(text);
  return request(m, signal, body, m.pick(['application/json', 'application/json; charset=utf-8']));
}
