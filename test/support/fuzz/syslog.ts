import type { DatagramInput, StreamInput } from './inputs.ts';
import type { Mutator } from './mutator.ts';

const SEEDS = [
  '<134>1 2026-11-23T10:00:00.123456Z web-1 billing 4242 PAY [req@32473 id="1" user="u1"] payment processed',
  '<13>1 - host app - - [__proto__ constructor="1"][a@1 b="\\"]\\\\"] BOM\ufeffbody',
  '<134>Nov 23 10:00:00 web-1 billing[4242]: payment processed in 23 ms',
  '<0>1 2026-02-30T25:61:61+99:99 - - - - -',
  '<191>Jan  1 00:00:00 h t: m',
];

/** A syslog message built from parts that each may be wrong: PRI, version, timestamp, SD, body. */
function structured(m: Mutator): string {
  const pri = m.pick(['<13>', '<0>', '<191>', '<192>', '<-1>', '<99999999999999999999>', '<>', '<1', '', '<1.5>']);
  const version = m.pick(['1 ', '2 ', '0 ', '999999999999 ', '']);
  const ts = m.pick([
    '2026-11-23T10:00:00Z',
    '-',
    '2026-13-45T99:99:99.9999999999Z',
    'Nov 23 10:00:00',
    'Feb 31 24:00:00',
    '0000-00-00T00:00:00+25:00',
    m.string().slice(0, 200),
  ]);
  const field = () => m.pick(['-', 'h', m.name() || '-', 'x'.repeat(m.pick([48, 49, 255, 256, 5000]))]);
  const sdCount = m.int(4);
  let sd = sdCount ? '' : '-';
  for (let i = 0; i < sdCount; i++) {
    const params: string[] = [];
    for (let j = m.int(4); j > 0; j--)
      params.push(`${m.name() || 'p'}="${m.pick(['v', '\\"', '\\', '\\]', m.string().slice(0, 2000)])}"`);
    sd += `[${m.name() || 'id'}${params.length ? ' ' : ''}${params.join(' ')}${m.chance(0.1) ? '' : ']'}`;
  }
  const body = m.pick(['', 'plain', '\ufeffutf8 body', m.string()]);
  return `${pri}${version}${ts} ${field()} ${field()} ${field()} ${field()} ${sd} ${body}`;
}

function message(m: Mutator): Buffer {
  const r = m.int(10);
  if (r < 4) return Buffer.from(structured(m));
  if (r < 8) return m.bytes(Buffer.from(m.pick(SEEDS)));
  if (r < 9) return Buffer.concat([Buffer.from('<13>1 - h a - - - '), m.invalidUtf8(), m.invalidUtf8()]);
  return Buffer.alloc(m.pick([0, 1, 65_000]), m.pick([0x00, 0x0a, 0x3c, 0xff]));
}

/** One UDP datagram (at most 65,507 bytes, the IPv4 limit). */
export function syslogDatagram(m: Mutator): DatagramInput {
  return { kind: 'udp', body: message(m).subarray(0, 65_507) };
}

/**
 * One TCP connection's bytes: messages LF-delimited or octet-counted (RFC 6587), with counts that
 * lie (too long, negative, huge, not digits), mixed framings, and writes split mid-frame.
 */
export function syslogStream(m: Mutator): StreamInput {
  const parts: Buffer[] = [];
  const n = 1 + m.int(5);
  for (let i = 0; i < n; i++) {
    const msg = message(m);
    if (m.chance(0.5)) {
      parts.push(msg, Buffer.from(m.pick(['\n', '\r\n', '\n', '', '\0'])));
    } else {
      const count = m.pick([
        String(msg.length),
        String(msg.length),
        String(msg.length + 1 + m.int(100)),
        String(Math.max(0, msg.length - 1 - m.int(10))),
        '-1',
        '99999999999',
        '0',
        '4294967296',
        'abc',
        '',
      ]);
      parts.push(Buffer.from(`${count} `), msg);
    }
  }
  const all = Buffer.concat(parts);
  const chunks: Buffer[] = [];
  for (let at = 0; at < all.length;) {
    const size = m.chance(0.7) ? all.length - at : 1 + m.int(Math.max(1, all.length - at));
    chunks.push(all.subarray(at, at + size));
    at += size;
  }
  return { kind: 'tcp', chunks };
}
