import { describe, expect, it } from 'vitest';
import type { SyslogMessage } from '../../../src/receivers/syslog/message.ts';
import { parseRfc5424 } from '../../../src/receivers/syslog/rfc5424Parser.ts';

const ns = (iso: string, extraNs = 0n) => BigInt(Date.parse(iso)) * 1_000_000n + extraNs;

function parsed(line: string): SyslogMessage {
  const r = parseRfc5424(line);
  if (typeof r === 'string') throw new Error(`expected a parse, got: ${r}`);
  return r;
}

describe('RFC 5424 parser', () => {
  // The four examples of RFC 5424 §6.5, then lines as common senders write them.
  const corpus: [string, string, Partial<SyslogMessage>][] = [
    [
      'RFC 5424 example 1 (BOM before MSG)',
      "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \uFEFF'su root' failed for lonvick on /dev/pts/8",
      {
        priority: 34,
        timeNs: ns('2003-10-11T22:14:15.003Z'),
        hostname: 'mymachine.example.com',
        appname: 'su',
        procId: '',
        msgId: 'ID47',
        structuredData: undefined,
        message: "'su root' failed for lonvick on /dev/pts/8",
      },
    ],
    [
      'RFC 5424 example 2 (zoned, microseconds, no SD)',
      "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.",
      {
        priority: 165,
        timeNs: ns('2003-08-24T12:14:15Z', 3000n),
        hostname: '192.0.2.1',
        appname: 'myproc',
        procId: '8710',
        msgId: '',
        message: "%% It's time to make the do-nuts.",
      },
    ],
    [
      'RFC 5424 example 3 (SD and MSG)',
      '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] \uFEFFAn application event log entry...',
      {
        appname: 'evntslog',
        msgId: 'ID47',
        structuredData: { 'exampleSDID@32473': { iut: '3', eventSource: 'Application', eventID: '1011' } },
        message: 'An application event log entry...',
      },
    ],
    [
      'RFC 5424 example 4 (two SD elements, no MSG)',
      '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]',
      {
        structuredData: {
          'exampleSDID@32473': { iut: '3', eventSource: 'Application', eventID: '1011' },
          'examplePriority@32473': { class: 'high' },
        },
        message: '',
      },
    ],
    [
      'all NILVALUE',
      '<13>1 - - - - - -',
      {
        priority: 13,
        timeNs: 0n,
        hostname: '',
        appname: '',
        procId: '',
        msgId: '',
        structuredData: undefined,
        message: '',
      },
    ],
    [
      'escaped quote, backslash and bracket in SD values; other backslashes kept',
      '<14>1 2026-11-23T10:00:00Z h app - - [x@1 q="say \\"hi\\"" b="C:\\\\temp" r="a\\]b" o="\\n"] msg',
      { structuredData: { 'x@1': { q: 'say "hi"', b: 'C:\\temp', r: 'a]b', o: '\\n' } }, message: 'msg' },
    ],
    [
      'util-linux logger --rfc5424 (timeQuality SD)',
      '<13>1 2026-11-23T10:59:58.123456+01:00 web-1 root 4242 - [timeQuality tzKnown="1" isSynced="1" syncAccuracy="50000"] disk almost full',
      {
        timeNs: ns('2026-11-23T09:59:58.123Z', 456000n),
        hostname: 'web-1',
        appname: 'root',
        procId: '4242',
        structuredData: { timeQuality: { tzKnown: '1', isSynced: '1', syncAccuracy: '50000' } },
        message: 'disk almost full',
      },
    ],
    [
      'Juniper Junos structured-data',
      '<14>1 2026-11-23T10:00:00.000Z srx-edge RT_FLOW - RT_FLOW_SESSION_CREATE [junos@2636.1.1.1.2.40 source-address="10.0.0.5" source-port="51515" destination-address="8.8.8.8" destination-port="53" service-name="junos-dns-udp"] session created',
      {
        hostname: 'srx-edge',
        appname: 'RT_FLOW',
        msgId: 'RT_FLOW_SESSION_CREATE',
        structuredData: {
          'junos@2636.1.1.1.2.40': {
            'source-address': '10.0.0.5',
            'source-port': '51515',
            'destination-address': '8.8.8.8',
            'destination-port': '53',
            'service-name': 'junos-dns-udp',
          },
        },
        message: 'session created',
      },
    ],
    [
      'NXLog from Windows (nine fractional digits, SD element without params)',
      '<14>1 2026-11-23T10:00:00.123456789Z DC01.corp.example Microsoft-Windows-Security-Auditing 636 4624 [meta@0] An account was successfully logged on.',
      {
        timeNs: ns('2026-11-23T10:00:00Z', 123456789n),
        appname: 'Microsoft-Windows-Security-Auditing',
        procId: '636',
        msgId: '4624',
        structuredData: { 'meta@0': {} },
        message: 'An account was successfully logged on.',
      },
    ],
    [
      'lower-case t and z',
      '<11>1 2026-11-23t10:00:00z h a - - - x',
      { timeNs: ns('2026-11-23T10:00:00Z'), message: 'x' },
    ],
    [
      'rsyslog RSYSLOG_SyslogProtocol23Format with multi-line message',
      '<30>1 2026-11-23T10:00:00.5+00:00 db-2 postgres 77 - - ERROR:  deadlock detected\nDETAIL:  Process 77 waits',
      {
        timeNs: ns('2026-11-23T10:00:00.500Z'),
        appname: 'postgres',
        message: 'ERROR:  deadlock detected\nDETAIL:  Process 77 waits',
      },
    ],
    [
      'header only, no SD at all (lenient)',
      '<13>1 2026-11-23T10:00:00Z host app 1 ID',
      { hostname: 'host', appname: 'app', procId: '1', msgId: 'ID', message: '' },
    ],
    ['<0> is valid', '<0>1 - h a - - - kernel panic', { priority: 0, message: 'kernel panic' }],
    ['<191> is valid', '<191>1 - h a - - - debug', { priority: 191 }],
  ];
  for (const [name, line, expected] of corpus) {
    it(name, () => {
      const m = parsed(line);
      expect(m).toMatchObject({ format: 'rfc5424', version: 1, ...expected });
    });
  }

  const malformed: [string, string, RegExp][] = [
    ['no PRI', '1 2026-11-23T10:00:00Z h a - - - x', /no PRI/],
    ['PRI above 191', '<192>1 - h a - - - x', /invalid PRI/],
    ['PRI with a leading zero', '<013>1 - h a - - - x', /invalid PRI/],
    ['PRI not closed', '<13 1 - h a - - - x', /invalid PRI/],
    ['version 2', '<13>2 - h a - - - x', /expected version 1/],
    ['timestamp not RFC 3339', '<13>1 2026/11/23 h a - - - x', /not RFC 3339/],
    ['impossible month', '<13>1 2026-13-01T00:00:00Z h a - - - x', /not RFC 3339/],
    ['timestamp without zone', '<13>1 2026-11-23T10:00:00 h a - - - x', /not RFC 3339/],
    ['truncated header', '<13>1 - host app', /header is incomplete/],
    ['two spaces in the header', '<13>1 - host  app - - - x', /empty field/],
    ['SD not closed', '<13>1 - h a - - [x@1 a="b"', /expected \]/],
    ['SD value without closing quote', '<13>1 - h a - - [x@1 a="b] msg', /no closing quote/],
    ['SD param without quotes', '<13>1 - h a - - [x@1 a=b] msg', /expected name="value"/],
    ['SD without an id', '<13>1 - h a - - [ a="b"] msg', /missing SD-ID/],
    ['SD glued to MSG', '<13>1 - h a - - [x@1 a="b"]msg', /followed by a space/],
  ];
  for (const [name, line, reason] of malformed) {
    it(`rejects ${name} with a reason`, () => {
      const r = parseRfc5424(line);
      expect(typeof r).toBe('string');
      expect(r).toMatch(reason);
    });
  }
});

describe('parseRfc5424: names from the wire', () => {
  it('keeps "__proto__" and "constructor" as plain SD-IDs and parameter names, leaving Object.prototype alone', () => {
    const m = parseRfc5424('<13>1 - h a - - [__proto__ x="1"][constructor keys="2" __proto__="3"] m');
    if (typeof m === 'string') throw new Error(m);
    expect(Object.keys(m.structuredData!)).toEqual(['__proto__', 'constructor']);
    expect(m.structuredData!.__proto__!.x).toBe('1');
    expect((m.structuredData!['constructor'] as Record<string, string>).keys).toBe('2');
    expect(Object.hasOwn(m.structuredData!['constructor']!, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
    expect(typeof Object.keys).toBe('function');
  });

  it('reads no SD-ID or parameter from Object.prototype: a name the message lacks is undefined', () => {
    const m = parseRfc5424('<13>1 - h a - - [a@1 x="1"] m');
    if (typeof m === 'string') throw new Error(m);
    const sd = m.structuredData!;
    for (const name of ['toString', 'constructor', 'hasOwnProperty', '__proto__']) {
      expect(sd[name]).toBeUndefined();
      expect(sd['a@1']![name]).toBeUndefined();
    }
  });
});

describe('RFC 5424 times of consecutive messages', () => {
  it('gives each message its own time when the one before shares some or all of its fields', () => {
    const at = (time: string) => parsed(`<14>1 ${time} h a - - - m`).timeNs;
    const sequence: [string, bigint][] = [
      ['2026-12-05T10:00:00.123Z', ns('2026-12-05T10:00:00.123Z')],
      ['2026-12-05T10:00:00.123Z', ns('2026-12-05T10:00:00.123Z')],
      ['2026-12-05T10:00:00.123000001Z', ns('2026-12-05T10:00:00.123Z', 1n)],
      ['2026-12-05T10:00:00.123+01:00', ns('2026-12-05T09:00:00.123Z')],
      ['2026-12-05T10:00:00.123-01:00', ns('2026-12-05T11:00:00.123Z')],
      ['2026-12-05T10:00:01.123Z', ns('2026-12-05T10:00:01.123Z')],
      ['2026-11-05T10:00:01.123Z', ns('2026-11-05T10:00:01.123Z')],
      ['2025-11-05T10:00:01.123Z', ns('2025-11-05T10:00:01.123Z')],
      ['1969-12-31T23:59:59Z', 0n],
      ['1969-12-31T23:59:59Z', 0n],
      ['2026-12-05T10:00:00.123Z', ns('2026-12-05T10:00:00.123Z')],
    ];
    expect(sequence.map(([time]) => at(time))).toEqual(sequence.map(([, want]) => want));
  });
});
