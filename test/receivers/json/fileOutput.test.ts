import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
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
