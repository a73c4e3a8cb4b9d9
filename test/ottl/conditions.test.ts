import { describe, expect, it } from 'vitest';
import { newEvent, type MetricPoint, type Span, type VigilEvent } from '../../src/model/index.ts';
import { compileCondition } from '../../src/ottl/index.ts';

function event(fields: Partial<VigilEvent> = {}): VigilEvent {
  return newEvent({ source: 'test', ...fields });
}

const web500 = event({
  body: 'link down on eth0',
  asset: 'web-1',
  service: 'shop',
  severityNumber: 17,
  severityText: 'ERROR',
  attributes: {
    'http.status_code': 503,
    'http.route': '/cart',
    retries: '3',
    tags: ['a', 'b'],
    nested: { k: 'v' },
    big: 9007199254740993n,
    ok: true,
  },
  resource: { 'k8s.namespace.name': 'prod' },
});

const cases: [string, boolean][] = [
  ['attributes["http.status_code"] >= 500 and resource.attributes["k8s.namespace.name"] == "prod"', true],
  ['attributes["http.status_code"] >= 500 and resource.attributes["k8s.namespace.name"] == "dev"', false],
  ['IsMatch(body, "link (down|up)")', true],
  ['not IsMatch(body, "^link up")', true],
  ['asset == "web-1" or asset == "web-2"', true],
  ['(asset == "web-2" or service == "shop") and severity_number >= SEVERITY_NUMBER_ERROR', true],
  ['severity_number > SEVERITY_NUMBER_ERROR', false],
  ['severity_text == "ERROR"', true],
  ['type == "neutral"', true],
  // OTTL compares values of different types as "not equal": no string/number coercion.
  ['attributes["retries"] == 3', false],
  ['attributes["retries"] != 3', true],
  ['Int(attributes["retries"]) == 3', true],
  ['Int("9007199254740993") == 9007199254740993 and Int(" -7 ") == -7 and Int("1.5") == nil', true],
  ['Double("2.5") > 2', true],
  ['String(attributes["http.status_code"]) == "503"', true],
  ['attributes["missing"] == nil', true],
  ['attributes["missing"] != nil', false],
  ['attributes["missing"] > 1', false],
  ['attributes["nested"]["k"] == "v"', true],
  ['attributes["tags"][1] == "b"', true],
  ['Len(attributes["tags"]) == 2', true],
  ['Len(body) == 17', true],
  ['attributes["big"] > 9007199254740992', true],
  ['Concat([asset, service], "/") == "web-1/shop"', true],
  ['IsString(body) and not IsMap(body)', true],
  ['IsInt(attributes["http.status_code"]) and IsList(attributes["tags"]) and IsMap(attributes["nested"])', true],
  ['HasPrefix(attributes["http.route"], "/ca") and HasSuffix(body, "eth0")', true],
  ['ToUpperCase(asset) == "WEB-1" and ToLowerCase("AbC") == "abc"', true],
  ['Substring(body, 0, 4) == "link"', true],
  ['Split(attributes["http.route"], "/")[1] == "cart"', true],
  ['ContainsValue(attributes["tags"], "a")', true],
  ['ExtractPatterns(body, "on (?<iface>\\\\w+)")["iface"] == "eth0"', true],
  ['log.body == body and event.asset == asset', true],
  ['attributes["http.status_code"] == 503.0', true],
  ['true', true],
  ['attributes["ok"] and not attributes["nested"] and not attributes["missing"]', true],
  ['not true or false', false],
  ['"a" < "b" and 1 < 2.5 and false < true', true],
  ['attributes["constructor"] == nil', true],
];

describe('compileCondition on events', () => {
  it.each(cases)('%s → %s', (source, expected) => {
    expect(compileCondition(source, 'event')(web500)).toBe(expected);
  });

  it('evaluates against each item, so one compiled condition serves every event', () => {
    const isDown = compileCondition('IsMatch(body, "link down") and asset != ""', 'event');
    expect(isDown(event({ body: 'link down', asset: 'r1' }))).toBe(true);
    expect(isDown(event({ body: 'link up', asset: 'r1' }))).toBe(false);
    expect(isDown(event({ body: 'link down' }))).toBe(false);
    expect(isDown(event({ body: { message: 'link down' } }))).toBe(false);
  });

  it('reads a numeric body through IsMatch as its text, as OTTL string-like arguments do', () => {
    expect(compileCondition('IsMatch(body, "^42$")', 'event')(event({ body: 42 }))).toBe(true);
  });

  it('binds not tighter than and, and and tighter than or', () => {
    const e = event({ asset: 'a' });
    expect(compileCondition('asset == "x" and asset == "y" or asset == "a"', 'event')(e)).toBe(true);
    expect(compileCondition('asset == "x" and (asset == "y" or asset == "a")', 'event')(e)).toBe(false);
    expect(compileCondition('not asset == "x" and asset == "a"', 'event')(e)).toBe(true);
  });
});

describe('compileCondition on data points and spans', () => {
  const point: MetricPoint = {
    kind: 'gauge',
    name: 'system.cpu.utilization',
    description: '',
    unit: '1',
    value: 0.93,
    resource: { 'host.name': 'db-1' },
    attributes: { cpu: '0' },
    startTimeUnixNano: 0n,
    timeUnixNano: 1n,
    flags: 0,
    exemplars: [],
    service: 'db',
    tenant: '',
  };
  const span: Span = {
    traceId: 'a'.repeat(32),
    spanId: 'b'.repeat(16),
    parentSpanId: '',
    traceState: '',
    name: 'GET /cart',
    kind: 2,
    startTimeUnixNano: 1_000_000n,
    endTimeUnixNano: 2_000_000n,
    attributes: { 'http.response.status_code': 500 },
    resource: {},
    events: [],
    links: [],
    statusCode: 2,
    statusMessage: 'boom',
    service: 'shop',
    tenant: '',
  };

  it('reads datapoint name, value and attributes', () => {
    expect(compileCondition('name == "system.cpu.utilization" and value > 0.9', 'datapoint')(point)).toBe(true);
    expect(
      compileCondition(
        'metric.name == "system.cpu.utilization" and resource.attributes["host.name"] == "db-1"',
        'datapoint',
      )(point),
    ).toBe(true);
    expect(compileCondition('value > 0.95', 'datapoint')(point)).toBe(false);
    expect(compileCondition('kind == "gauge" and attributes["cpu"] == "0"', 'datapoint')(point)).toBe(true);
  });

  it('reads span status, kind and name with OTTL enums', () => {
    expect(compileCondition('status.code == STATUS_CODE_ERROR and kind == SPAN_KIND_SERVER', 'span')(span)).toBe(true);
    expect(
      compileCondition('span.name == "GET /cart" and end_time_unix_nano > start_time_unix_nano', 'span')(span),
    ).toBe(true);
    expect(compileCondition('attributes["http.response.status_code"] < 500', 'span')(span)).toBe(false);
  });
});
