import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { registry } from '../../../src/components.ts';
import type { ConfigIssue } from '../../../src/config/schema.ts';
import { fileExporterSchema } from '../../../src/exporters/file/config.ts';
import { FileExporter } from '../../../src/exporters/file/exporter.ts';
import type { VigilEvent } from '../../../src/model/event.ts';
import { eventToJson } from '../../../src/model/eventJson.ts';
import { SyslogIngest, type SyslogRecord } from '../../../src/receivers/syslog/ingest.ts';
import type { Origin, SyslogAttributeNames } from '../../../src/receivers/syslog/mapping.ts';
import { SyslogMetrics } from '../../../src/receivers/syslog/metrics.ts';
import { SyslogParser } from '../../../src/receivers/syslog/parser.ts';
import type { SyslogReceiver } from '../../../src/receivers/syslog/receiver.ts';
import { parseConfig } from '../../../src/service/config/load.ts';
import { VigilService } from '../../../src/service/service.ts';
import { createLogger } from '../../../src/telemetry/logger.ts';
import { SelfMetrics } from '../../../src/telemetry/selfMetrics.ts';
import { waitFor } from '../../support/waitFor.ts';

/**
 * Lines of many shapes, each with whether the framer cut it: the bench's, structured data with
 * escapes, repeated and parameterless elements, numeric and hostile names, NIL fields, a BOM and
 * non-ASCII text, RFC 3164 variants, a truncated line and lines no rule reads.
 */
const LINES: [string, boolean][] = [
  [
    '<134>1 2026-11-23T10:00:00.123456Z web-7 billing 4242 PAY [req@32473 id="7" user="u7"] payment 7 processed in 23 ms',
    false,
  ],
  [
    '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 99 ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"] \uFEFFAn application event',
    false,
  ],
  ["<13>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.", false],
  ['<14>1 - - - - - -', false],
  ['<14>1 - h a - - [x@1 q="say \\"hi\\"" b="C:\\temp" r="a]b" o="\\n"][meta@0][x@1 more="yes"] msg', false],
  ['<13>1 - h a - - [__proto__ x="1"][constructor keys="2" __proto__="3" toString="4"] m', false],
  ['<13>1 - h a - - [123 10="ten" 2="two" b="bee"][9 a="1"] numeric names', false],
  ['<11>1 2026-12-04T12:00:00+02:00 żółw.example ünï 1 M [ü@1 ✓="🐢 \\] é"] żółw 🐢 \u2028 "quoted" \\ tab\t', false],
  ['<190>1 2026-12-04T12:00:00Z host app - - [a@1 k="v"] ' + 'x'.repeat(40), true],
  ['<134>Nov 23 10:00:00 web-3 billing[4242]: payment 3 processed in 23 ms', false],
  ['<30>Dec  4 09:05:01 fw01 kernel: [ 1234.5678] eth0: link up', false],
  ['<189>123: *Mar  1 18:46:11.123: %SYS-5-CONFIG_I: Configured from console by vty0 (10.0.0.1)', false],
  ['<38>2026-12-04T10:11:12.5+01:00 nas sshd[77]: Accepted password for ünï', false],
  ['<13>1 2026-13-40T00:00:00Z h a - - - bad time', false],
  ['<13>1 - h a - - [unterminated x="1" cut', true],
  ['no pri at all, just text', false],
  ['<999>1 - h a - - - bad pri', false],
  ['<14>1 2026-12-04T12:00:00Z h a - - [a.b c="1"][a b.c="2"][a.b.c][x@1 e=""] dotted ids', false],
  ['<14>1 - h a - - - first line\nsecond line', false],
  ['<14>1 - h a - - - ' + 'y'.repeat(250), false],
  ['<14>1 - h\u0001x a\\b p"q m\u007f [s@1 v="\u0000\ud800"] ctl \u0007 lone \ud800 pair \ud83d\udc22 end', false],
  ['<13>Dec  4 09:05:01 myhost just a message', false],
];

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function exporter(): FileExporter {
  const issues: ConfigIssue[] = [];
  const config = fileExporterSchema.parse({ path: 'out.ndjson' }, 'exporters.file', issues);
  if (!config) throw new Error(JSON.stringify(issues));
  const dataDir = mkdtempSync(join(tmpdir(), 'vigil-syslog-file-'));
  dirs.push(dataDir);
  return new FileExporter({ id: 'file', logger: createLogger('silent'), metrics: new SelfMetrics(), dataDir }, config);
}

/**
 * `lines`: the consumer takes lines, as a pipeline into the file exporter alone does, so the
 * ingest makes each message's line without its event.
 */
function ingest(attributeNames: SyslogAttributeNames, lines = false): SyslogIngest {
  const self = new SelfMetrics();
  return new SyslogIngest({
    id: 'syslog',
    // 2026-12-04T12:00:00Z: RFC 3164 lines without a year take 2026.
    parser: new SyslogParser('auto', 'UTC', () => 1_796_385_600_000),
    attributeNames,
    consumer: lines
      ? { consume: () => Promise.resolve(), consumeLines: () => Promise.resolve() }
      : { consume: () => Promise.resolve() },
    metrics: new SyslogMetrics(self.registry),
    self,
    logger: createLogger('silent'),
  });
}

/**
 * What the file exporter writes of LINES given as events, as lines made without the events, or
 * both in one batch: runs of lines, each a batch of its listener's, between another receiver's
 * events.
 */
async function written(
  attributeNames: SyslogAttributeNames,
  as: 'events' | 'lines' | 'mixed' = 'events',
): Promise<string> {
  const byEvents = ingest(attributeNames);
  const byLines = ingest(attributeNames, true);
  const origins: Origin[] = [
    { peerAddress: '192.0.2.7', transport: 'tcp' },
    { peerAddress: '2001:db8::1', transport: 'udp' },
  ];
  const asLine = (i: number) => as === 'lines' || (as === 'mixed' && i % 5 >= 2);
  const records: SyslogRecord[] = [];
  for (let i = 0; i < LINES.length;) {
    const by = asLine(i) ? byLines : byEvents;
    const batch: SyslogRecord[] = [];
    by.beginBatch();
    for (; i < LINES.length && asLine(i) === (by === byLines); i++) {
      const [line, truncated] = LINES[i]!;
      const [origin, observed] = [origins[i % 2]!, 1_796_385_600_123_456_789n];
      // Lines from the bytes, as the listeners hand them over, in a buffer that goes on after
      // them; from the text where bytes cannot hold it (a lone surrogate).
      const bytes = Buffer.from(`${line}\n[x] "`);
      const wire = bytes.toString('utf8', 0, Buffer.byteLength(line)) === line;
      batch.push(
        by === byLines && wire
          ? by.toRecordBytes(bytes, 0, Buffer.byteLength(line), truncated, origin, observed)
          : by.toRecord(line, truncated, origin, observed),
      );
    }
    by.finishBatch(batch);
    records.push(...batch);
  }
  for (const [i, r] of records.entries()) expect(r instanceof Uint8Array).toBe(asLine(i));
  const out = exporter();
  await out.start();
  await out.consumeLogs(records.slice(0, 1));
  await out.consumeLogs(records.slice(1));
  await out.shutdown();
  const text = readFileSync(out.path, 'utf8');
  const ids = text
    .split('\n')
    .slice(0, -1)
    .map((l) => (JSON.parse(l) as VigilEvent).id);
  expect(ids).toHaveLength(records.length);
  for (const id of ids) expect(id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
  return text.replace(/"id":"[0-9A-Z]{26}"/g, '"id":"ID"');
}

describe('syslog messages written by the file exporter', () => {
  it('keeps the NDJSON line format byte for byte with Vigil attribute names, ids aside', async () => {
    expect(await written('vigil')).toBe(EXPECTED_VIGIL);
  });

  it('keeps the NDJSON line format byte for byte with the Collector attribute names, ids aside', async () => {
    expect(await written('collector')).toBe(EXPECTED_COLLECTOR);
  });

  it('writes the same bytes from lines made without events, under both attribute namings', async () => {
    expect(await written('vigil', 'lines')).toBe(EXPECTED_VIGIL);
    expect(await written('collector', 'lines')).toBe(EXPECTED_COLLECTOR);
  });

  it('writes the same bytes when lines and events share a batch', async () => {
    expect(await written('vigil', 'mixed')).toBe(EXPECTED_VIGIL);
    expect(await written('collector', 'mixed')).toBe(EXPECTED_COLLECTOR);
  });

  it('makes the same line as the event for generated messages of every shape', async () => {
    const seeds = [...Array(400).keys()].map(generatedLine);
    for (const names of ['vigil', 'collector'] as const) {
      const events = ingest(names);
      const lines = ingest(names, true);
      events.beginBatch();
      lines.beginBatch();
      const origin: Origin = { peerAddress: '198.51.100.9', transport: 'tls' };
      for (const [i, line] of seeds.entries()) {
        const truncated = i % 7 === 0;
        const fromEvent =
          eventToJson(events.toRecord(line, truncated, origin, 5n) as VigilEvent).replace(/"id":"[0-9A-Z]{26}"/, '') +
          '\n';
        // From the text, and from the bytes with more after them.
        const bytes = Buffer.from(`${line}\n[x=] "\\`);
        const batch = [
          lines.toRecord(line, truncated, origin, 5n),
          lines.toRecordBytes(bytes, 0, Buffer.byteLength(line), truncated, origin, 5n),
        ];
        lines.finishBatch(batch);
        const made = Buffer.concat(batch as Uint8Array[])
          .toString()
          .replace(/"id":"[0-9A-Z]{26}"/g, '');
        expect(made, line).toBe(fromEvent + fromEvent);
      }
    }
  });

  it("makes the same line from a message's bytes as from its text, for messages mutated byte by byte", () => {
    // Deterministic: a failing case can be replayed from its index.
    let seed = 3164;
    const next = (n: number) => {
      seed = (seed * 1664525 + 1013904223) >>> 0;
      return Math.floor((seed / 2 ** 32) * n);
    };
    const bases = [...LINES.map(([l]) => l), ...[...Array(40).keys()].map(generatedLine)].map((l) => Buffer.from(l));
    const alphabet = Buffer.from(' []"\\=-<>1059aZ.@:T\t\n');
    const strange = [0xc3, 0xa9, 0xff, 0x00, 0xef, 0xbb, 0xbf];
    for (const names of ['vigil', 'collector'] as const) {
      const lines = ingest(names, true);
      for (let n = 0; n < 3000; n++) {
        const bytes = Buffer.from(bases[next(bases.length)]!);
        let b: Buffer = bytes;
        for (let k = 1 + next(3); k > 0; k--) {
          const at = next(b.length + 1);
          const byte = next(8) === 0 ? strange[next(strange.length)]! : alphabet[next(alphabet.length)]!;
          const how = next(3);
          if (how === 0 && at < b.length) b[at] = byte;
          else if (how === 1) b = Buffer.concat([b.subarray(0, at), Buffer.from([byte]), b.subarray(at)]);
          else b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
        }
        const truncated = n % 11 === 0;
        const origin: Origin = { peerAddress: '203.0.113.5', transport: n % 2 ? 'udp' : 'tcp' };
        lines.beginBatch();
        const batch = [
          lines.toRecord(b.toString('utf8'), truncated, origin, 7n),
          lines.toRecordBytes(Buffer.concat([b, Buffer.from('\n<13>1 - h')]), 0, b.length, truncated, origin, 7n),
        ];
        lines.finishBatch(batch);
        const [fromText, fromBytes] = Buffer.concat(batch as Uint8Array[])
          .toString()
          .replace(/"id":"[0-9A-Z]{26}"/g, '')
          .split('\n');
        expect(fromBytes, `${n}: ${JSON.stringify(b.toString('latin1'))}`).toBe(fromText);
      }
    }
  });
});

/** An RFC 5424 or RFC 3164 line built from `i`, mixing NIL and present fields, escapes and lengths. */
function generatedLine(i: number): string {
  const pick = <T>(xs: readonly T[], k: number): T => xs[(i * 7 + k * 13 + ((i >> 3) % 5)) % xs.length]!;
  const text = pick(['plain', 'say "hi"', 'back\\slash', 'tab\there', 'ü✓🐢', 'nl\nin', 'x'.repeat(210), ''], 1);
  if (i % 4 === 3)
    return `<${i % 192}>${pick(['Dec  4 09:05:01', '2026-12-04T10:11:12.5+01:00'], 2)} ${pick(['h1', 'h-2.example'], 3)} ${pick(['app', 'sshd[77]', 'kernel'], 4)}: ${text}`;
  const sd = pick(
    [
      '-',
      '[a@1 k="v"]',
      '[a@1 k="v" j="w"][b@2]',
      '[a@1 k="1"][a@1 k="2"]',
      '[q@1 v="in \\"quotes\\" \\] end"]',
      '[0 1="one"][10 x="y"]',
      '[d.o.t k="1"][d o.t.k="2"]',
    ],
    5,
  );
  return `<${(i * 5) % 192}>1 ${pick(['-', '2026-12-04T12:00:00.123456Z', '2003-08-24T05:14:15.000003-07:00'], 6)} ${pick(['-', 'web-7', 'ü.example'], 7)} ${pick(['-', 'billing', 'a"b'], 8)} ${pick(['-', '4242'], 9)} ${pick(['-', 'ID47'], 10)} ${sd}${i % 5 === 0 ? '' : ` ${text}`}`;
}

/** The lines the file exporter writes for these messages, ids normalised: a format users parse. */
const EXPECTED_VIGIL =
  [
    '{"id":"ID","timeUnixNano":"1795428000123456000","observedTimeUnixNano":"1796385600123456789","severityNumber":9,"severityText":"info","body":"payment 7 processed in 23 ms","attributes":{"network.transport":"tcp","network.peer.address":"192.0.2.7","syslog.format":"rfc5424","syslog.priority":134,"syslog.facility":16,"syslog.facility.name":"local0","syslog.version":1,"syslog.appname":"billing","syslog.procid":"4242","syslog.msgid":"PAY","syslog.sd.req@32473.id":"7","syslog.sd.req@32473.user":"u7"},"resource":{"service.name":"billing","host.name":"web-7"},"traceId":"","spanId":"","flags":0,"asset":"web-7","title":"payment 7 processed in 23 ms","type":"neutral","service":"billing","tenant":"","fingerprint":"","source":"syslog"}',
    '{"id":"ID","timeUnixNano":"1065910455003000000","observedTimeUnixNano":"1796385600123456789","severityNumber":10,"severityText":"notice","body":"An application event","attributes":{"network.transport":"udp","network.peer.address":"2001:db8::1","syslog.format":"rfc5424","syslog.priority":165,"syslog.facility":20,"syslog.facility.name":"local4","syslog.version":1,"syslog.appname":"evntslog","syslog.procid":"99","syslog.msgid":"ID47","syslog.sd.exampleSDID@32473.iut":"3","syslog.sd.exampleSDID@32473.eventSource":"Application","syslog.sd.exampleSDID@32473.eventID":"1011","syslog.sd.examplePriority@32473.class":"high"},"resource":{"service.name":"evntslog","host.name":"mymachine.example.com"},"traceId":"","spanId":"","flags":0,"asset":"mymachine.example.com","title":"An application event","type":"neutral","service":"evntslog","tenant":"","fingerprint":"","source":"syslog"}',
    '{"id":"ID","timeUnixNano":"1061727255000003000","observedTimeUnixNano":"1796385600123456789","severityNumber":10,"severityText":"notice","body":"%% It\'s time to make the do-nuts.","attributes":{"network.transport":"tcp","network.peer.address":"192.0.2.7","syslog.format":"rfc5424","syslog.priority":13,"syslog.facility":1,"syslog.facility.name":"user","syslog.version":1,"syslog.appname":"myproc","syslog.procid":"8710"},"resource":{"service.name":"myproc","host.name":"192.0.2.1"},"traceId":"","spanId":"","flags":0,"asset":"192.0.2.1","title":"%% It\'s time to make the do-nuts.","type":"neutral","service":"myproc","tenant":"","fingerprint":"","source":"syslog"}',
    '{"id":"ID","timeUnixNano":"0","observedTimeUnixNano":"1796385600123456789","severityNumber":9,"severityText":"info","body":"","attributes":{"network.transport":"udp","network.peer.address":"2001:db8::1","syslog.format":"rfc5424","syslog.priority":14,"syslog.facility":1,"syslog.facility.name":"user","syslog.version":1},"resource":{},"traceId":"","spanId":"","flags":0,"asset":"2001:db8::1","title":"","type":"neutral","service":"","tenant":"","fingerprint":"","source":"syslog"}',
    '{"id":"ID","timeUnixNano":"0","observedTimeUnixNano":"1796385600123456789","severityNumber":9,"severityText":"info","body":"msg","attributes":{"network.transport":"tcp","network.peer.address":"192.0.2.7","syslog.format":"rfc5424","syslog.priority":14,"syslog.facility":1,"syslog.facility.name":"user","syslog.version":1,"syslog.appname":"a","syslog.sd.x@1.q":"say \\"hi\\"","syslog.sd.x@1.b":"C:\\\\temp","syslog.sd.x@1.r":"a]b","syslog.sd.x@1.o":"\\\\n","syslog.sd.x@1.more":"yes","syslog.sd.meta@0":true},"resource":{"service.name":"a","host.name":"h"},"traceId":"","spanId":"","flags":0,"asset":"h","title":"msg","type":"neutral","service":"a","tenant":"","fingerprint":"","source":"syslog"}',
    '{"id":"ID","timeUnixNano":"0","observedTimeUnixNano":"1796385600123456789","severityNumber":10,"severityText":"notice","body":"m","attributes":{"network.transport":"udp","network.peer.address":"2001:db8::1","syslog.format":"rfc5424","syslog.priority":13,"syslog.facility":1,"syslog.facility.name":"user","syslog.version":1,"syslog.appname":"a","syslog.sd.__proto__.x":"1","syslog.sd.constructor.keys":"2","syslog.sd.constructor.__proto__":"3","syslog.sd.constructor.toString":"4"},"resource":{"service.name":"a","host.name":"h"},"traceId":"","spanId":"","flags":0,"asset":"h","title":"m","type":"neutral","service":"a","tenant":"","fingerprint":"","source":"syslog"}',
    '{"id":"ID","timeUnixNano":"0","observedTimeUnixNano":"1796385600123456789","severityNumber":10,"severityText":"notice","body":"numeric names","attributes":{"network.transport":"tcp","network.peer.address":"192.0.2.7","syslog.format":"rfc5424","syslog.priority":13,"syslog.facility":1,"syslog.facility.name":"user","syslog.version":1,"syslog.appname":"a","syslog.sd.9.a":"1","syslog.sd.123.2":"two","syslog.sd.123.10":"ten","syslog.sd.123.b":"bee"},"resource":{"service.name":"a","host.name":"h"},"traceId":"","spanId":"","flags":0,"asset":"h","title":"numeric names","type":"neutral","service":"a","tenant":"","fingerprint":"","source":"syslog"}',
    '{"id":"ID","timeUnixNano":"1796378400000000000","observedTimeUnixNano":"1796385600123456789","severityNumber":17,"severityText":"err","body":"żółw 🐢 \u2028 \\"quoted\\" \\\\ tab\\t","attributes":{"network.transport":"udp","network.peer.address":"2001:db8::1","syslog.format":"rfc5424","syslog.priority":11,"syslog.facility":1,"syslog.facility.name":"user","syslog.version":1,"syslog.appname":"ünï","syslog.procid":"1","syslog.msgid":"M","syslog.sd.ü@1.✓":"🐢 ] é"},"resource":{"service.name":"ünï","host.name":"żółw.example"},"traceId":"","spanId":"","flags":0,"asset":"żółw.example","title":"żółw 🐢 \u2028 \\"quoted\\" \\\\ tab\\t","type":"neutral","service":"ünï","tenant":"","fingerprint":"","source":"syslog"}',
    '{"id":"ID","timeUnixNano":"1796385600000000000","observedTimeUnixNano":"1796385600123456789","severityNumber":9,"severityText":"info","body":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx","attributes":{"network.transport":"tcp","network.peer.address":"192.0.2.7","syslog.format":"rfc5424","syslog.priority":190,"syslog.facility":23,"syslog.facility.name":"local7","syslog.version":1,"syslog.appname":"app","syslog.sd.a@1.k":"v","syslog.truncated":true},"resource":{"service.name":"app","host.name":"host"},"traceId":"","spanId":"","flags":0,"asset":"host","title":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx","type":"neutral","service":"app","tenant":"","fingerprint":"","source":"syslog"}',
    '{"id":"ID","timeUnixNano":"1795428000000000000","observedTimeUnixNano":"1796385600123456789","severityNumber":9,"severityText":"info","body":"payment 3 processed in 23 ms","attributes":{"network.transport":"udp","network.peer.address":"2001:db8::1","syslog.format":"rfc3164","syslog.priority":134,"syslog.facility":16,"syslog.facility.name":"local0","syslog.appname":"billing","syslog.procid":"4242"},"resource":{"service.name":"billing","host.name":"web-3"},"traceId":"","spanId":"","flags":0,"asset":"web-3","title":"payment 3 processed in 23 ms","type":"neutral","service":"billing","tenant":"","fingerprint":"","source":"syslog"}',
    '{"id":"ID","timeUnixNano":"1796375101000000000","observedTimeUnixNano":"1796385600123456789","severityNumber":9,"severityText":"info","body":"[ 1234.5678] eth0: link up","attributes":{"network.transport":"tcp","network.peer.address":"192.0.2.7","syslog.format":"rfc3164","syslog.priority":30,"syslog.facility":3,"syslog.facility.name":"daemon","syslog.appname":"kernel"},"resource":{"service.name":"kernel","host.name":"fw01"},"traceId":"","spanId":"","flags":0,"asset":"fw01","title":"[ 1234.5678] eth0: link up","type":"neutral","service":"kernel","tenant":"","fingerprint":"","source":"syslog"}',
    '{"id":"ID","timeUnixNano":"1772390771123000000","observedTimeUnixNano":"1796385600123456789","severityNumber":10,"severityText":"notice","body":"Configured from console by vty0 (10.0.0.1)","attributes":{"network.transport":"udp","network.peer.address":"2001:db8::1","syslog.format":"rfc3164","syslog.priority":189,"syslog.facility":23,"syslog.facility.name":"local7","syslog.msgid":"SYS-5-CONFIG_I","syslog.sequence":"123"},"resource":{},"traceId":"","spanId":"","flags":0,"asset":"2001:db8::1","title":"Configured from console by vty0 (10.0.0.1)","type":"neutral","service":"","tenant":"","fingerprint":"","source":"syslog"}',
    '{"id":"ID","timeUnixNano":"1796375472500000000","observedTimeUnixNano":"1796385600123456789","severityNumber":9,"severityText":"info","body":"Accepted password for ünï","attributes":{"network.transport":"tcp","network.peer.address":"192.0.2.7","syslog.format":"rfc3164","syslog.priority":38,"syslog.facility":4,"syslog.facility.name":"auth","syslog.appname":"sshd","syslog.procid":"77"},"resource":{"service.name":"sshd","host.name":"nas"},"traceId":"","spanId":"","flags":0,"asset":"nas","title":"Accepted password for ünï","type":"neutral","service":"sshd","tenant":"","fingerprint":"","source":"syslog"}',
    '{"id":"ID","timeUnixNano":"0","observedTimeUnixNano":"1796385600123456789","severityNumber":10,"severityText":"notice","body":"<13>1 2026-13-40T00:00:00Z h a - - - bad time","attributes":{"network.transport":"udp","network.peer.address":"2001:db8::1","syslog.parse_error":"RFC 5424 TIMESTAMP \\"2026-13-40T00:00:00Z\\" is not RFC 3339 (e.g. 2003-10-11T22:14:15.003Z) or -","syslog.priority":13,"syslog.facility":1,"syslog.facility.name":"user"},"resource":{},"traceId":"","spanId":"","flags":0,"asset":"2001:db8::1","title":"<13>1 2026-13-40T00:00:00Z h a - - - bad time","type":"neutral","service":"","tenant":"","fingerprint":"","source":"syslog"}',
    '{"id":"ID","timeUnixNano":"0","observedTimeUnixNano":"1796385600123456789","severityNumber":10,"severityText":"notice","body":"<13>1 - h a - - [unterminated x=\\"1\\" cut","attributes":{"network.transport":"tcp","network.peer.address":"192.0.2.7","syslog.parse_error":"RFC 5424 structured data element [unterminated]: expected name=\\"value\\" at offset 36","syslog.priority":13,"syslog.facility":1,"syslog.facility.name":"user","syslog.truncated":true},"resource":{},"traceId":"","spanId":"","flags":0,"asset":"192.0.2.7","title":"<13>1 - h a - - [unterminated x=\\"1\\" cut","type":"neutral","service":"","tenant":"","fingerprint":"","source":"syslog"}',
    '{"id":"ID","timeUnixNano":"0","observedTimeUnixNano":"1796385600123456789","severityNumber":0,"severityText":"","body":"no pri at all, just text","attributes":{"network.transport":"udp","network.peer.address":"2001:db8::1","syslog.parse_error":"no PRI: a syslog message starts with <N>, N from 0 to 191"},"resource":{},"traceId":"","spanId":"","flags":0,"asset":"2001:db8::1","title":"no pri at all, just text","type":"neutral","service":"","tenant":"","fingerprint":"","source":"syslog"}',
    '{"id":"ID","timeUnixNano":"0","observedTimeUnixNano":"1796385600123456789","severityNumber":0,"severityText":"","body":"<999>1 - h a - - - bad pri","attributes":{"network.transport":"tcp","network.peer.address":"192.0.2.7","syslog.parse_error":"invalid PRI \\"<999>1\\": expected <N> with N from 0 to 191"},"resource":{},"traceId":"","spanId":"","flags":0,"asset":"192.0.2.7","title":"<999>1 - h a - - - bad pri","type":"neutral","service":"","tenant":"","fingerprint":"","source":"syslog"}',
    '{"id":"ID","timeUnixNano":"1796385600000000000","observedTimeUnixNano":"1796385600123456789","severityNumber":9,"severityText":"info","body":"dotted ids","attributes":{"network.transport":"udp","network.peer.address":"2001:db8::1","syslog.format":"rfc5424","syslog.priority":14,"syslog.facility":1,"syslog.facility.name":"user","syslog.version":1,"syslog.appname":"a","syslog.sd.a.b.c":true,"syslog.sd.x@1.e":""},"resource":{"service.name":"a","host.name":"h"},"traceId":"","spanId":"","flags":0,"asset":"h","title":"dotted ids","type":"neutral","service":"a","tenant":"","fingerprint":"","source":"syslog"}',
    '{"id":"ID","timeUnixNano":"0","observedTimeUnixNano":"1796385600123456789","severityNumber":9,"severityText":"info","body":"first line\\nsecond line","attributes":{"network.transport":"tcp","network.peer.address":"192.0.2.7","syslog.format":"rfc5424","syslog.priority":14,"syslog.facility":1,"syslog.facility.name":"user","syslog.version":1,"syslog.appname":"a"},"resource":{"service.name":"a","host.name":"h"},"traceId":"","spanId":"","flags":0,"asset":"h","title":"first line","type":"neutral","service":"a","tenant":"","fingerprint":"","source":"syslog"}',
    '{"id":"ID","timeUnixNano":"0","observedTimeUnixNano":"1796385600123456789","severityNumber":9,"severityText":"info","body":"yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy","attributes":{"network.transport":"udp","network.peer.address":"2001:db8::1","syslog.format":"rfc5424","syslog.priority":14,"syslog.facility":1,"syslog.facility.name":"user","syslog.version":1,"syslog.appname":"a"},"resource":{"service.name":"a","host.name":"h"},"traceId":"","spanId":"","flags":0,"asset":"h","title":"yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy…","type":"neutral","service":"a","tenant":"","fingerprint":"","source":"syslog"}',
    '{"id":"ID","timeUnixNano":"0","observedTimeUnixNano":"1796385600123456789","severityNumber":9,"severityText":"info","body":"ctl \\u0007 lone \\ud800 pair 🐢 end","attributes":{"network.transport":"tcp","network.peer.address":"192.0.2.7","syslog.format":"rfc5424","syslog.priority":14,"syslog.facility":1,"syslog.facility.name":"user","syslog.version":1,"syslog.appname":"a\\\\b","syslog.procid":"p\\"q","syslog.msgid":"m\u007f","syslog.sd.s@1.v":"\\u0000\\ud800"},"resource":{"service.name":"a\\\\b","host.name":"h\\u0001x"},"traceId":"","spanId":"","flags":0,"asset":"h\\u0001x","title":"ctl \\u0007 lone \\ud800 pair 🐢 end","type":"neutral","service":"a\\\\b","tenant":"","fingerprint":"","source":"syslog"}',
    '{"id":"ID","timeUnixNano":"1796375101000000000","observedTimeUnixNano":"1796385600123456789","severityNumber":10,"severityText":"notice","body":"just a message","attributes":{"network.transport":"udp","network.peer.address":"2001:db8::1","syslog.format":"rfc3164","syslog.priority":13,"syslog.facility":1,"syslog.facility.name":"user"},"resource":{"host.name":"myhost"},"traceId":"","spanId":"","flags":0,"asset":"myhost","title":"just a message","type":"neutral","service":"","tenant":"","fingerprint":"","source":"syslog"}',
  ].join('\n') + '\n';
const EXPECTED_COLLECTOR =
  [
    '{"id":"ID","timeUnixNano":"1795428000123456000","observedTimeUnixNano":"1796385600123456789","severityNumber":9,"severityText":"info","body":"<134>1 2026-11-23T10:00:00.123456Z web-7 billing 4242 PAY [req@32473 id=\\"7\\" user=\\"u7\\"] payment 7 processed in 23 ms","attributes":{"network.transport":"tcp","network.peer.address":"192.0.2.7","syslog.format":"rfc5424","priority":134,"facility":16,"syslog.facility.name":"local0","version":1,"appname":"billing","proc_id":"4242","msg_id":"PAY","message":"payment 7 processed in 23 ms","structured_data":{"req@32473":{"id":"7","user":"u7"}},"hostname":"web-7"},"resource":{"service.name":"billing","host.name":"web-7"},"traceId":"","spanId":"","flags":0,"asset":"web-7","title":"payment 7 processed in 23 ms","type":"neutral","service":"billing","tenant":"","fingerprint":"","source":"syslog"}',
    '{"id":"ID","timeUnixNano":"1065910455003000000","observedTimeUnixNano":"1796385600123456789","severityNumber":10,"severityText":"notice","body":"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 99 ID47 [exampleSDID@32473 iut=\\"3\\" eventSource=\\"Application\\" eventID=\\"1011\\"][examplePriority@32473 class=\\"high\\"] ﻿An application event","attributes":{"network.transport":"udp","network.peer.address":"2001:db8::1","syslog.format":"rfc5424","priority":165,"facility":20,"syslog.facility.name":"local4","version":1,"appname":"evntslog","proc_id":"99","msg_id":"ID47","message":"An application event","structured_data":{"exampleSDID@32473":{"iut":"3","eventSource":"Application","eventID":"1011"},"examplePriority@32473":{"class":"high"}},"hostname":"mymachine.example.com"},"resource":{"service.name":"evntslog","host.name":"mymachine.example.com"},"traceId":"","spanId":"","flags":0,"asset":"mymachine.example.com","title":"An application event","type":"neutral","service":"evntslog","tenant":"","fingerprint":"","source":"syslog"}',
    '{"id":"ID","timeUnixNano":"1061727255000003000","observedTimeUnixNano":"1796385600123456789","severityNumber":10,"severityText":"notice","body":"<13>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It\'s time to make the do-nuts.","attributes":{"network.transport":"tcp","network.peer.address":"192.0.2.7","syslog.format":"rfc5424","priority":13,"facility":1,"syslog.facility.name":"user","version":1,"appname":"myproc","proc_id":"8710","message":"%% It\'s time to make the do-nuts.","hostname":"192.0.2.1"},"resource":{"service.name":"myproc","host.name":"192.0.2.1"},"traceId":"","spanId":"","flags":0,"asset":"192.0.2.1","title":"%% It\'s time to make the do-nuts.","type":"neutral","service":"myproc","tenant":"","fingerprint":"","source":"syslog"}',
    '{"id":"ID","timeUnixNano":"0","observedTimeUnixNano":"1796385600123456789","severityNumber":9,"severityText":"info","body":"<14>1 - - - - - -","attributes":{"network.transport":"udp","network.peer.address":"2001:db8::1","syslog.format":"rfc5424","priority":14,"facility":1,"syslog.facility.name":"user","version":1,"message":""},"resource":{},"traceId":"","spanId":"","flags":0,"asset":"2001:db8::1","title":"","type":"neutral","service":"","tenant":"","fingerprint":"","source":"syslog"}',
    '{"id":"ID","timeUnixNano":"0","observedTimeUnixNano":"1796385600123456789","severityNumber":9,"severityText":"info","body":"<14>1 - h a - - [x@1 q=\\"say \\\\\\"hi\\\\\\"\\" b=\\"C:\\\\temp\\" r=\\"a]b\\" o=\\"\\\\n\\"][meta@0][x@1 more=\\"yes\\"] msg","attributes":{"network.transport":"tcp","network.peer.address":"192.0.2.7","syslog.format":"rfc5424","priority":14,"facility":1,"syslog.facility.name":"user","version":1,"appname":"a","message":"msg","structured_data":{"x@1":{"q":"say \\"hi\\"","b":"C:\\\\temp","r":"a]b","o":"\\\\n","more":"yes"},"meta@0":{}},"hostname":"h"},"resource":{"service.name":"a","host.name":"h"},"traceId":"","spanId":"","flags":0,"asset":"h","title":"msg","type":"neutral","service":"a","tenant":"","fingerprint":"","source":"syslog"}',
    '{"id":"ID","timeUnixNano":"0","observedTimeUnixNano":"1796385600123456789","severityNumber":10,"severityText":"notice","body":"<13>1 - h a - - [__proto__ x=\\"1\\"][constructor keys=\\"2\\" __proto__=\\"3\\" toString=\\"4\\"] m","attributes":{"network.transport":"udp","network.peer.address":"2001:db8::1","syslog.format":"rfc5424","priority":13,"facility":1,"syslog.facility.name":"user","version":1,"appname":"a","message":"m","structured_data":{"__proto__":{"x":"1"},"constructor":{"keys":"2","__proto__":"3","toString":"4"}},"hostname":"h"},"resource":{"service.name":"a","host.name":"h"},"traceId":"","spanId":"","flags":0,"asset":"h","title":"m","type":"neutral","service":"a","tenant":"","fingerprint":"","source":"syslog"}',
    '{"id":"ID","timeUnixNano":"0","observedTimeUnixNano":"1796385600123456789","severityNumber":10,"severityText":"notice","body":"<13>1 - h a - - [123 10=\\"ten\\" 2=\\"two\\" b=\\"bee\\"][9 a=\\"1\\"] numeric names","attributes":{"network.transport":"tcp","network.peer.address":"192.0.2.7","syslog.format":"rfc5424","priority":13,"facility":1,"syslog.facility.name":"user","version":1,"appname":"a","message":"numeric names","structured_data":{"9":{"a":"1"},"123":{"2":"two","10":"ten","b":"bee"}},"hostname":"h"},"resource":{"service.name":"a","host.name":"h"},"traceId":"","spanId":"","flags":0,"asset":"h","title":"numeric names","type":"neutral","service":"a","tenant":"","fingerprint":"","source":"syslog"}',
    '{"id":"ID","timeUnixNano":"1796378400000000000","observedTimeUnixNano":"1796385600123456789","severityNumber":17,"severityText":"err","body":"<11>1 2026-12-04T12:00:00+02:00 żółw.example ünï 1 M [ü@1 ✓=\\"🐢 \\\\] é\\"] żółw 🐢 \u2028 \\"quoted\\" \\\\ tab\\t","attributes":{"network.transport":"udp","network.peer.address":"2001:db8::1","syslog.format":"rfc5424","priority":11,"facility":1,"syslog.facility.name":"user","version":1,"appname":"ünï","proc_id":"1","msg_id":"M","message":"żółw 🐢 \u2028 \\"quoted\\" \\\\ tab\\t","structured_data":{"ü@1":{"✓":"🐢 ] é"}},"hostname":"żółw.example"},"resource":{"service.name":"ünï","host.name":"żółw.example"},"traceId":"","spanId":"","flags":0,"asset":"żółw.example","title":"żółw 🐢 \u2028 \\"quoted\\" \\\\ tab\\t","type":"neutral","service":"ünï","tenant":"","fingerprint":"","source":"syslog"}',
    '{"id":"ID","timeUnixNano":"1796385600000000000","observedTimeUnixNano":"1796385600123456789","severityNumber":9,"severityText":"info","body":"<190>1 2026-12-04T12:00:00Z host app - - [a@1 k=\\"v\\"] xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx","attributes":{"network.transport":"tcp","network.peer.address":"192.0.2.7","syslog.format":"rfc5424","priority":190,"facility":23,"syslog.facility.name":"local7","version":1,"appname":"app","message":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx","structured_data":{"a@1":{"k":"v"}},"hostname":"host","syslog.truncated":true},"resource":{"service.name":"app","host.name":"host"},"traceId":"","spanId":"","flags":0,"asset":"host","title":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx","type":"neutral","service":"app","tenant":"","fingerprint":"","source":"syslog"}',
    '{"id":"ID","timeUnixNano":"1795428000000000000","observedTimeUnixNano":"1796385600123456789","severityNumber":9,"severityText":"info","body":"<134>Nov 23 10:00:00 web-3 billing[4242]: payment 3 processed in 23 ms","attributes":{"network.transport":"udp","network.peer.address":"2001:db8::1","syslog.format":"rfc3164","priority":134,"facility":16,"syslog.facility.name":"local0","appname":"billing","proc_id":"4242","message":"payment 3 processed in 23 ms","hostname":"web-3"},"resource":{"service.name":"billing","host.name":"web-3"},"traceId":"","spanId":"","flags":0,"asset":"web-3","title":"payment 3 processed in 23 ms","type":"neutral","service":"billing","tenant":"","fingerprint":"","source":"syslog"}',
    '{"id":"ID","timeUnixNano":"1796375101000000000","observedTimeUnixNano":"1796385600123456789","severityNumber":9,"severityText":"info","body":"<30>Dec  4 09:05:01 fw01 kernel: [ 1234.5678] eth0: link up","attributes":{"network.transport":"tcp","network.peer.address":"192.0.2.7","syslog.format":"rfc3164","priority":30,"facility":3,"syslog.facility.name":"daemon","appname":"kernel","message":"[ 1234.5678] eth0: link up","hostname":"fw01"},"resource":{"service.name":"kernel","host.name":"fw01"},"traceId":"","spanId":"","flags":0,"asset":"fw01","title":"[ 1234.5678] eth0: link up","type":"neutral","service":"kernel","tenant":"","fingerprint":"","source":"syslog"}',
    '{"id":"ID","timeUnixNano":"1772390771123000000","observedTimeUnixNano":"1796385600123456789","severityNumber":10,"severityText":"notice","body":"<189>123: *Mar  1 18:46:11.123: %SYS-5-CONFIG_I: Configured from console by vty0 (10.0.0.1)","attributes":{"network.transport":"udp","network.peer.address":"2001:db8::1","syslog.format":"rfc3164","priority":189,"facility":23,"syslog.facility.name":"local7","msg_id":"SYS-5-CONFIG_I","syslog.sequence":"123","message":"Configured from console by vty0 (10.0.0.1)"},"resource":{},"traceId":"","spanId":"","flags":0,"asset":"2001:db8::1","title":"Configured from console by vty0 (10.0.0.1)","type":"neutral","service":"","tenant":"","fingerprint":"","source":"syslog"}',
    '{"id":"ID","timeUnixNano":"1796375472500000000","observedTimeUnixNano":"1796385600123456789","severityNumber":9,"severityText":"info","body":"<38>2026-12-04T10:11:12.5+01:00 nas sshd[77]: Accepted password for ünï","attributes":{"network.transport":"tcp","network.peer.address":"192.0.2.7","syslog.format":"rfc3164","priority":38,"facility":4,"syslog.facility.name":"auth","appname":"sshd","proc_id":"77","message":"Accepted password for ünï","hostname":"nas"},"resource":{"service.name":"sshd","host.name":"nas"},"traceId":"","spanId":"","flags":0,"asset":"nas","title":"Accepted password for ünï","type":"neutral","service":"sshd","tenant":"","fingerprint":"","source":"syslog"}',
    '{"id":"ID","timeUnixNano":"0","observedTimeUnixNano":"1796385600123456789","severityNumber":10,"severityText":"notice","body":"<13>1 2026-13-40T00:00:00Z h a - - - bad time","attributes":{"network.transport":"udp","network.peer.address":"2001:db8::1","syslog.parse_error":"RFC 5424 TIMESTAMP \\"2026-13-40T00:00:00Z\\" is not RFC 3339 (e.g. 2003-10-11T22:14:15.003Z) or -","priority":13,"facility":1,"syslog.facility.name":"user"},"resource":{},"traceId":"","spanId":"","flags":0,"asset":"2001:db8::1","title":"<13>1 2026-13-40T00:00:00Z h a - - - bad time","type":"neutral","service":"","tenant":"","fingerprint":"","source":"syslog"}',
    '{"id":"ID","timeUnixNano":"0","observedTimeUnixNano":"1796385600123456789","severityNumber":10,"severityText":"notice","body":"<13>1 - h a - - [unterminated x=\\"1\\" cut","attributes":{"network.transport":"tcp","network.peer.address":"192.0.2.7","syslog.parse_error":"RFC 5424 structured data element [unterminated]: expected name=\\"value\\" at offset 36","priority":13,"facility":1,"syslog.facility.name":"user","syslog.truncated":true},"resource":{},"traceId":"","spanId":"","flags":0,"asset":"192.0.2.7","title":"<13>1 - h a - - [unterminated x=\\"1\\" cut","type":"neutral","service":"","tenant":"","fingerprint":"","source":"syslog"}',
    '{"id":"ID","timeUnixNano":"0","observedTimeUnixNano":"1796385600123456789","severityNumber":0,"severityText":"","body":"no pri at all, just text","attributes":{"network.transport":"udp","network.peer.address":"2001:db8::1","syslog.parse_error":"no PRI: a syslog message starts with <N>, N from 0 to 191"},"resource":{},"traceId":"","spanId":"","flags":0,"asset":"2001:db8::1","title":"no pri at all, just text","type":"neutral","service":"","tenant":"","fingerprint":"","source":"syslog"}',
    '{"id":"ID","timeUnixNano":"0","observedTimeUnixNano":"1796385600123456789","severityNumber":0,"severityText":"","body":"<999>1 - h a - - - bad pri","attributes":{"network.transport":"tcp","network.peer.address":"192.0.2.7","syslog.parse_error":"invalid PRI \\"<999>1\\": expected <N> with N from 0 to 191"},"resource":{},"traceId":"","spanId":"","flags":0,"asset":"192.0.2.7","title":"<999>1 - h a - - - bad pri","type":"neutral","service":"","tenant":"","fingerprint":"","source":"syslog"}',
    '{"id":"ID","timeUnixNano":"1796385600000000000","observedTimeUnixNano":"1796385600123456789","severityNumber":9,"severityText":"info","body":"<14>1 2026-12-04T12:00:00Z h a - - [a.b c=\\"1\\"][a b.c=\\"2\\"][a.b.c][x@1 e=\\"\\"] dotted ids","attributes":{"network.transport":"udp","network.peer.address":"2001:db8::1","syslog.format":"rfc5424","priority":14,"facility":1,"syslog.facility.name":"user","version":1,"appname":"a","message":"dotted ids","structured_data":{"a.b":{"c":"1"},"a":{"b.c":"2"},"a.b.c":{},"x@1":{"e":""}},"hostname":"h"},"resource":{"service.name":"a","host.name":"h"},"traceId":"","spanId":"","flags":0,"asset":"h","title":"dotted ids","type":"neutral","service":"a","tenant":"","fingerprint":"","source":"syslog"}',
    '{"id":"ID","timeUnixNano":"0","observedTimeUnixNano":"1796385600123456789","severityNumber":9,"severityText":"info","body":"<14>1 - h a - - - first line\\nsecond line","attributes":{"network.transport":"tcp","network.peer.address":"192.0.2.7","syslog.format":"rfc5424","priority":14,"facility":1,"syslog.facility.name":"user","version":1,"appname":"a","message":"first line\\nsecond line","hostname":"h"},"resource":{"service.name":"a","host.name":"h"},"traceId":"","spanId":"","flags":0,"asset":"h","title":"first line","type":"neutral","service":"a","tenant":"","fingerprint":"","source":"syslog"}',
    '{"id":"ID","timeUnixNano":"0","observedTimeUnixNano":"1796385600123456789","severityNumber":9,"severityText":"info","body":"<14>1 - h a - - - yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy","attributes":{"network.transport":"udp","network.peer.address":"2001:db8::1","syslog.format":"rfc5424","priority":14,"facility":1,"syslog.facility.name":"user","version":1,"appname":"a","message":"yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy","hostname":"h"},"resource":{"service.name":"a","host.name":"h"},"traceId":"","spanId":"","flags":0,"asset":"h","title":"yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy…","type":"neutral","service":"a","tenant":"","fingerprint":"","source":"syslog"}',
    '{"id":"ID","timeUnixNano":"0","observedTimeUnixNano":"1796385600123456789","severityNumber":9,"severityText":"info","body":"<14>1 - h\\u0001x a\\\\b p\\"q m\u007f [s@1 v=\\"\\u0000\\ud800\\"] ctl \\u0007 lone \\ud800 pair 🐢 end","attributes":{"network.transport":"tcp","network.peer.address":"192.0.2.7","syslog.format":"rfc5424","priority":14,"facility":1,"syslog.facility.name":"user","version":1,"appname":"a\\\\b","proc_id":"p\\"q","msg_id":"m\u007f","message":"ctl \\u0007 lone \\ud800 pair 🐢 end","structured_data":{"s@1":{"v":"\\u0000\\ud800"}},"hostname":"h\\u0001x"},"resource":{"service.name":"a\\\\b","host.name":"h\\u0001x"},"traceId":"","spanId":"","flags":0,"asset":"h\\u0001x","title":"ctl \\u0007 lone \\ud800 pair 🐢 end","type":"neutral","service":"a\\\\b","tenant":"","fingerprint":"","source":"syslog"}',
    '{"id":"ID","timeUnixNano":"1796375101000000000","observedTimeUnixNano":"1796385600123456789","severityNumber":10,"severityText":"notice","body":"<13>Dec  4 09:05:01 myhost just a message","attributes":{"network.transport":"udp","network.peer.address":"2001:db8::1","syslog.format":"rfc3164","priority":13,"facility":1,"syslog.facility.name":"user","message":"just a message","hostname":"myhost"},"resource":{"host.name":"myhost"},"traceId":"","spanId":"","flags":0,"asset":"myhost","title":"just a message","type":"neutral","service":"","tenant":"","fingerprint":"","source":"syslog"}',
  ].join('\n') + '\n';

describe('syslog over TCP into the file exporter of a running service', () => {
  // Lines are written into shared chunks that take new lines once the file holds theirs: a
  // queue far smaller than the stream keeps the receiver paused and its held lines offered in
  // slices while chunks are reused, and every line must still come out whole, once, in order.
  for (const acknowledge of ['exported', 'queued']) {
    it(`writes 30,000 messages whole, once and in order through a small queue (acknowledge: ${acknowledge})`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'vigil-syslog-file-'));
      dirs.push(dir);
      const cfg = parseConfig(
        `
receivers: { syslog: { location: UTC, tcp: { endpoint: 127.0.0.1:0 } } }
exporters: { file: { path: out.ndjson } }
service:
  pipelines: { logs: { receivers: [syslog], exporters: [file], queue_size: 1000, acknowledge: ${acknowledge} } }
  telemetry: { metrics: { endpoint: 127.0.0.1:0 }, logs: { level: silent } }
`,
        registry,
        {},
      );
      const service = new VigilService(cfg, { dataDir: dir, registry, logger: createLogger('silent') });
      await service.start();
      try {
        const port = (service.receiver('syslog') as SyslogReceiver).addresses.tcp!.port;
        const total = 30_000;
        let payload = '';
        for (let i = 0; i < total; i++)
          payload += `<134>1 2026-11-23T10:00:00.123Z web-${i % 50} billing 4242 PAY [req@32473 id="${i}"] payment ${i} ${'z'.repeat(i % 300)}\n`;
        await new Promise<void>((resolve, reject) => {
          const socket = connect(port, '127.0.0.1', () => socket.end(payload));
          socket.on('close', () => resolve());
          socket.on('error', reject);
        });
        const lines = () => readFileSync(join(dir, 'out.ndjson'), 'utf8').split('\n').slice(0, -1);
        await waitFor(() => lines().length >= total, 'every message in the file', 20_000);
        const got = lines().map((line) => JSON.parse(line) as VigilEvent);
        expect(got).toHaveLength(total);
        got.forEach((e, i) => {
          expect(e.body).toBe(`payment ${i} ${'z'.repeat(i % 300)}`);
          expect(e.attributes['syslog.sd.req@32473.id']).toBe(String(i));
        });
      } finally {
        await service.shutdown();
      }
    });
  }
});
