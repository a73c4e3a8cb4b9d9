import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeBody } from '../../../bench/jsonWorkload.ts';
import { registry } from '../../../src/components.ts';
import { eventToJson } from '../../../src/model/eventJson.ts';
import { parseConfig } from '../../../src/service/config/load.ts';
import { VigilService } from '../../../src/service/service.ts';
import { waitFor } from '../../support/waitFor.ts';
import type { ConfigIssue } from '../../../src/config/schema.ts';
import { fileExporterSchema } from '../../../src/exporters/file/config.ts';
import { FileExporter } from '../../../src/exporters/file/exporter.ts';
import { fieldMappingSchema } from '../../../src/receivers/json/config.ts';
import { JsonEventMapper } from '../../../src/receivers/json/mapping.ts';
import { parseJsonBody } from '../../../src/receivers/json/receiver.ts';
import { createLogger } from '../../../src/telemetry/logger.ts';
import { SelfMetrics } from '../../../src/telemetry/selfMetrics.ts';

/** Events of several shapes: the bench's, nested and odd values, hostile keys, escapes and non-ASCII. */
const BODY = JSON.stringify([
  {
    asset_unique_id: 'host-1',
    event_title: 'CPU usage above threshold',
    event_type: 'down',
    event_level: 'CRITICAL',
    event_desc: 'CPU usage at 97% on core 3',
    event_ts: '2026-11-23T10:00:00.123Z',
    service: 'billing',
    region: 'eu-west-1',
    team: 'payments',
    check: 'cpu',
  },
  {
    message: 'disk full\nsecond line "quoted" \\ tab\t',
    severity: 9,
    time: 1_767_323_045_123,
    service: { name: 'api' },
    resource: { 'host.name': 'web-2', 'k8s.pod': 'p-1' },
    attributes: { n: 1.5, list: [1, 'two', null, { deep: true }] },
    trace_id: '0123456789ABCDEF0123456789abcdef',
    span_id: 'FEDCBA9876543210',
    tenant: 'acme',
    __proto__x: 1,
    ['__proto__']: { polluted: true },
    'ünïcode ✓': 'żółw 🐢',
    control: '\u0000\u001f\u2028',
    big: 12345678901234567168,
    empty: {},
  },
  { msg: 'x'.repeat(250), type: 'resolved', level: 'warn', host: 'db-1', 'service.name': 'flat' },
  { body: { structured: ['a', 1] }, asset: 7, title: false },
]);

function exporter(): FileExporter {
  const issues: ConfigIssue[] = [];
  const config = fileExporterSchema.parse({ path: 'out.ndjson' }, 'exporters.file', issues);
  if (!config) throw new Error(JSON.stringify(issues));
  const dataDir = mkdtempSync(join(tmpdir(), 'vigil-json-file-'));
  return new FileExporter({ id: 'file', logger: createLogger('silent'), metrics: new SelfMetrics(), dataDir }, config);
}

describe('JSON events written by the file exporter', () => {
  it('keeps the NDJSON line format byte for byte, ids aside', async () => {
    const mapper = new JsonEventMapper(fieldMappingSchema.parse({}, '', [])!);
    const parsed = parseJsonBody(BODY, 'application/json');
    const events = parsed.records.map((r) => {
      const m = mapper.map(r.value, 1_700_000_000_000_000_007n);
      if (!m.ok) throw new Error(m.reason);
      return m.event;
    });
    const out = exporter();
    await out.start();
    await out.consumeLogs(events.slice(0, 1));
    await out.consumeLogs(events.slice(1));
    await out.shutdown();
    const text = readFileSync(out.path, 'utf8');
    const ids = events.map((e) => e.id);
    for (const id of ids) expect(id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    const normalised = text.replace(/"id":"[0-9A-Z]{26}"/g, '"id":"ID"');
    expect(normalised).toBe(EXPECTED);
  });
});

/** The lines the file exporter writes for these events, ids normalised: a format users parse. */
const EXPECTED =
  [
    '{"id":"ID","timeUnixNano":"1795428000123000000","observedTimeUnixNano":"1700000000000000007","severityNumber":18,"severityText":"CRITICAL","body":"CPU usage at 97% on core 3","attributes":{"region":"eu-west-1","team":"payments","check":"cpu"},"resource":{},"traceId":"","spanId":"","flags":0,"asset":"host-1","title":"CPU usage above threshold","type":"down","service":"billing","tenant":"","fingerprint":"","source":"json"}',
    '{"id":"ID","timeUnixNano":"1767323045123000000","observedTimeUnixNano":"1700000000000000007","severityNumber":9,"severityText":"","body":"disk full\\nsecond line \\"quoted\\" \\\\ tab\\t","attributes":{"n":1.5,"list":[1,"two",null,{"deep":true}],"__proto__x":1,"__proto__":{"polluted":true},"ünïcode ✓":"żółw 🐢","control":"\\u0000\\u001f ","big":12345678901234567000,"empty":{}},"resource":{"host.name":"web-2","k8s.pod":"p-1"},"traceId":"0123456789abcdef0123456789abcdef","spanId":"fedcba9876543210","flags":0,"asset":"","title":"disk full","type":"neutral","service":"api","tenant":"acme","fingerprint":"","source":"json"}',
    '{"id":"ID","timeUnixNano":"0","observedTimeUnixNano":"1700000000000000007","severityNumber":13,"severityText":"warn","body":"' +
      'x'.repeat(250) +
      '","attributes":{},"resource":{},"traceId":"","spanId":"","flags":0,"asset":"db-1","title":"' +
      'x'.repeat(199) +
      '…","type":"up","service":"flat","tenant":"","fingerprint":"","source":"json"}',
    '{"id":"ID","timeUnixNano":"0","observedTimeUnixNano":"1700000000000000007","severityNumber":0,"severityText":"","body":{"structured":["a",1]},"attributes":{},"resource":{},"traceId":"","spanId":"","flags":0,"asset":"7","title":"false","type":"neutral","service":"","tenant":"","fingerprint":"","source":"json"}',
  ].join('\n') + '\n';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('JSON events into the file exporter of a running service', () => {
  // With the file exporter alone behind it, the receiver hands on lines made from the body's
  // bytes (test/receivers/json/bodyReader.test.ts); bodies it does not take whole go as events.
  // With a processor (a filter that keeps every event here), the events themselves are read
  // from the body's bytes and handed on.
  for (const [acknowledge, processors] of [
    ['exported', '[]'],
    ['queued', '[]'],
    ['exported', '[filter]'],
    ['queued', '[filter]'],
  ]) {
    it(`writes each accepted event once, as its event's line, whichever way it went (acknowledge: ${acknowledge}, processors: ${processors})`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'vigil-json-file-'));
      dirs.push(dir);
      const cfg = parseConfig(
        `
receivers: { json: { endpoint: 127.0.0.1:0 } }
processors: { filter: { logs: ['severity_number == 99'] } }
exporters: { file: { path: out.ndjson } }
service:
  pipelines: { logs: { receivers: [json], processors: ${processors}, exporters: [file], queue_size: 2000, acknowledge: ${acknowledge} } }
  telemetry: { metrics: { endpoint: 127.0.0.1:0 }, logs: { level: silent } }
`,
        registry,
        {},
      );
      const service = new VigilService(cfg, { dataDir: dir, registry, logger: createLogger('silent') });
      await service.start();
      try {
        const url = `http://127.0.0.1:${service.httpAddresses[0]!.port}/v1/events`;
        const bodies: [string, string, number, number][] = [
          ...Array.from(
            { length: 30 },
            (_, i) =>
              ['application/json', makeBody(1 + i * 37).toString('utf8'), 1 + i * 37, 0] as [
                string,
                string,
                number,
                number,
              ],
          ),
          ['application/json', BODY, 4, 0],
          ['application/x-ndjson', '{"msg":"one"}\n\n{"msg":"two","x":{"y":1}}\n{"msg":\n{"msg":"four"}\n', 3, 1],
          ['application/json', '[{"msg":"kept"},{"msg":"bad type","type":"sideways"}]', 1, 1],
        ];
        const mapper = new JsonEventMapper(fieldMappingSchema.parse({}, '', [])!);
        const expected: string[] = [];
        for (const [contentType, text, accepted, rejected] of bodies) {
          const res = await fetch(url, { method: 'POST', body: text, headers: { 'content-type': contentType } });
          const answer = (await res.json()) as { accepted: number; rejected: unknown[] };
          expect({ status: res.status, accepted: answer.accepted, rejected: answer.rejected.length }).toEqual({
            status: 200,
            accepted,
            rejected,
          });
          for (const r of parseJsonBody(text, contentType).records) {
            const m = mapper.map(r.value, 1n);
            if (m.ok) expected.push(eventToJson(m.event));
          }
        }
        const normalise = (line: string) =>
          line.replace(/"id":"[0-9A-Z]{26}"/, '"id":"ID"').replace(/"observedTimeUnixNano":"\d+"/, '"observed":0');
        const lines = () => readFileSync(join(dir, 'out.ndjson'), 'utf8').split('\n').slice(0, -1);
        await waitFor(() => lines().length >= expected.length, 'every event in the file', 20_000);
        // Written once each: nothing more comes out of the drained queue.
        await service.shutdown();
        const got = lines();
        expect(got).toHaveLength(expected.length);
        expect(got.map(normalise)).toEqual(expected.map(normalise));
        expect(new Set(got.map((line) => line.slice(7, 33))).size).toBe(got.length);
      } finally {
        await service.shutdown();
      }
    });
  }
});
