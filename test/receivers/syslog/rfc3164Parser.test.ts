import { describe, expect, it } from 'vitest';
import type { SyslogMessage } from '../../../src/receivers/syslog/message.ts';
import { parseRfc3164, type LegacyTimeContext } from '../../../src/receivers/syslog/rfc3164Parser.ts';
import { ZoneClock } from '../../../src/receivers/syslog/timestamps.ts';

const NOW = Date.parse('2026-11-23T10:00:00Z');
const utc: LegacyTimeContext = { clock: new ZoneClock('UTC'), nowMs: NOW };
const ns = (iso: string, extraNs = 0n) => BigInt(Date.parse(iso)) * 1_000_000n + extraNs;

function parsed(line: string, ctx: LegacyTimeContext = utc): SyslogMessage {
  const r = parseRfc3164(line, ctx);
  if (typeof r === 'string') throw new Error(`expected a parse, got: ${r}`);
  return r;
}

describe('RFC 3164 parser: a corpus of real-world lines', () => {
  const corpus: [string, string, Partial<SyslogMessage>][] = [
    [
      'RFC 3164 §5.4 example 1',
      "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
      {
        priority: 34,
        timeNs: ns('2026-10-11T22:14:15Z'),
        hostname: 'mymachine',
        appname: 'su',
        procId: '',
        message: "'su root' failed for lonvick on /dev/pts/8",
      },
    ],
    [
      'RFC 3164 §5.4 example 2 (IP as hostname, no tag)',
      '<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!',
      { priority: 13, timeNs: ns('2026-02-05T17:32:18Z'), hostname: '10.0.0.99', appname: '', message: 'Use the BFG!' },
    ],
    [
      'RFC 3164 §5.4 example 3 (tag with a colon in the text)',
      "<165>Aug 24 05:34:00 CST 1987 mymachine myproc[10]: %% It's time to make the do-nuts.  %%  Ingredients: Mix=OK, Jelly=OK #",
      // The RFC's relay example carries a zone and year after the time, a form no device in this
      // corpus sends: the header is the three timestamp fields and a hostname, the rest is text.
      {
        timeNs: ns('2026-08-24T05:34:00Z'),
        hostname: 'CST',
        appname: '',
        message: "1987 mymachine myproc[10]: %% It's time to make the do-nuts.  %%  Ingredients: Mix=OK, Jelly=OK #",
      },
    ],
    [
      'Linux sshd via rsyslog',
      '<38>Nov 23 09:59:58 web-1 sshd[1234]: Accepted publickey for deploy from 10.1.2.3 port 52144 ssh2',
      {
        priority: 38,
        timeNs: ns('2026-11-23T09:59:58Z'),
        hostname: 'web-1',
        appname: 'sshd',
        procId: '1234',
        message: 'Accepted publickey for deploy from 10.1.2.3 port 52144 ssh2',
      },
    ],
    [
      'Linux kernel, single-digit day padded',
      '<6>Nov  3 08:00:01 db-2 kernel: [12345.678901] eth0: Link is Down',
      {
        timeNs: ns('2026-11-03T08:00:01Z'),
        hostname: 'db-2',
        appname: 'kernel',
        message: '[12345.678901] eth0: Link is Down',
      },
    ],
    [
      'no hostname, tag[pid]: (local /dev/log style, some appliances)',
      '<30>Nov 23 09:00:00 systemd[1]: Started Daily apt upgrade and clean activities.',
      { hostname: '', appname: 'systemd', procId: '1', message: 'Started Daily apt upgrade and clean activities.' },
    ],
    [
      'util-linux logger --rfc3164',
      '<13>Nov 23 10:00:00 vm deploy[4321]: release 42 rolled out',
      { hostname: 'vm', appname: 'deploy', procId: '4321', message: 'release 42 rolled out' },
    ],
    [
      'Cisco IOS: sequence number, unsynchronised clock, msec and zone',
      '<189>123: *Mar  1 00:01:02.345 UTC: %SYS-5-CONFIG_I: Configured from console by vty0 (10.0.0.1)',
      {
        priority: 189,
        sequence: '123',
        timeNs: ns('2026-03-01T00:01:02.345Z'),
        hostname: '',
        appname: '',
        msgId: 'SYS-5-CONFIG_I',
        message: 'Configured from console by vty0 (10.0.0.1)',
      },
    ],
    [
      'Cisco IOS: origin-id hostname before the timestamp',
      '<187>52: core-sw1: .Nov 23 09:30:00.001 UTC: %LINK-3-UPDOWN: Interface GigabitEthernet0/1, changed state to down',
      {
        sequence: '52',
        hostname: 'core-sw1',
        timeNs: ns('2026-11-23T09:30:00.001Z'),
        msgId: 'LINK-3-UPDOWN',
        message: 'Interface GigabitEthernet0/1, changed state to down',
      },
    ],
    [
      'Cisco IOS without sequence numbers nor zone',
      '<190>Nov 23 09:45:10.123: %SEC-6-IPACCESSLOGP: list 101 denied tcp 10.0.0.1(1234) -> 10.0.0.2(22), 1 packet',
      {
        sequence: '',
        timeNs: ns('2026-11-23T09:45:10.123Z'),
        msgId: 'SEC-6-IPACCESSLOGP',
        message: 'list 101 denied tcp 10.0.0.1(1234) -> 10.0.0.2(22), 1 packet',
      },
    ],
    [
      'Cisco ASA with year and device-id',
      '<166>Nov 23 2025 23:59:59 asa01 : %ASA-6-302013: Built outbound TCP connection 123 for outside:8.8.8.8/443 (8.8.8.8/443) to inside:10.0.0.5/51515 (10.0.0.5/51515)',
      {
        timeNs: ns('2025-11-23T23:59:59Z'),
        hostname: 'asa01',
        msgId: 'ASA-6-302013',
        message: expect.stringMatching(/^Built outbound TCP connection 123/) as unknown as string,
      },
    ],
    [
      'Cisco ASA without timestamp nor hostname',
      '<166>%ASA-6-305011: Built dynamic TCP translation from inside:10.0.0.5/51515 to outside:1.2.3.4/51515',
      {
        timeNs: 0n,
        hostname: '',
        msgId: 'ASA-6-305011',
        message: 'Built dynamic TCP translation from inside:10.0.0.5/51515 to outside:1.2.3.4/51515',
      },
    ],
    [
      'HPE Comware: year after the clock, %% mnemonic',
      '<190>Nov 23 09:12:13 2026 sw-core-1 %%10SHELL/6/SHELL_LOGIN(l): admin logged in from 10.1.1.1.',
      {
        timeNs: ns('2026-11-23T09:12:13Z'),
        hostname: 'sw-core-1',
        msgId: '10SHELL/6/SHELL_LOGIN(l)',
        message: 'admin logged in from 10.1.1.1.',
      },
    ],
    [
      'Juniper Junos BSD format',
      '<28>Nov 23 09:00:00 srx1 RT_FLOW: RT_FLOW_SESSION_DENY: session denied 10.0.0.1/1->10.0.0.2/2',
      { hostname: 'srx1', appname: 'RT_FLOW', message: 'RT_FLOW_SESSION_DENY: session denied 10.0.0.1/1->10.0.0.2/2' },
    ],
    [
      'MikroTik RouterOS (topics, no tag colon)',
      '<30>Nov 23 09:00:00 MikroTik system,info,account user admin logged in from 192.168.88.2 via winbox',
      {
        hostname: 'MikroTik',
        appname: '',
        message: 'system,info,account user admin logged in from 192.168.88.2 via winbox',
      },
    ],
    [
      'FortiGate key=value without header',
      '<189>date=2026-11-23 time=10:00:00 devname="FG100E" devid="FG100E3G17000000" logid="0000000013" type="traffic" subtype="forward" level="notice"',
      {
        timeNs: 0n,
        hostname: '',
        appname: '',
        message:
          'date=2026-11-23 time=10:00:00 devname="FG100E" devid="FG100E3G17000000" logid="0000000013" type="traffic" subtype="forward" level="notice"',
      },
    ],
    [
      'Palo Alto CSV body',
      '<14>Nov 23 10:00:00 PA-VM 1,2026/11/23 10:00:00,007200001056,TRAFFIC,end,1,2026/11/23 10:00:00,10.0.0.5,8.8.8.8',
      {
        hostname: 'PA-VM',
        appname: '',
        message: '1,2026/11/23 10:00:00,007200001056,TRAFFIC,end,1,2026/11/23 10:00:00,10.0.0.5,8.8.8.8',
      },
    ],
    [
      'ISO timestamp with zone (rsyslog RSYSLOG_ForwardFormat)',
      '<86>2026-11-23T11:00:00.250+01:00 bastion sudo: deploy : TTY=pts/0 ; PWD=/home/deploy ; USER=root ; COMMAND=/bin/ls',
      {
        timeNs: ns('2026-11-23T10:00:00.250Z'),
        hostname: 'bastion',
        appname: 'sudo',
        message: 'deploy : TTY=pts/0 ; PWD=/home/deploy ; USER=root ; COMMAND=/bin/ls',
      },
    ],
    [
      'ISO timestamp without zone, space separated',
      '<14>2026-11-23 09:00:00 nas1 smbd[99]: share mounted',
      { timeNs: ns('2026-11-23T09:00:00Z'), hostname: 'nas1', appname: 'smbd', procId: '99', message: 'share mounted' },
    ],
    [
      'no timestamp: tag only',
      '<13>myapp[42]: started',
      { timeNs: 0n, hostname: '', appname: 'myapp', procId: '42', message: 'started' },
    ],
    [
      'no header at all: all message',
      '<13>just some text: from a script',
      { timeNs: 0n, hostname: '', appname: '', message: 'just some text: from a script' },
    ],
    [
      'Cisco uptime timestamp is left in the message',
      '<189>00:01:02: %SYS-5-RESTART: System restarted',
      { timeNs: 0n, sequence: '', msgId: '', message: '00:01:02: %SYS-5-RESTART: System restarted' },
    ],
    ['empty message after PRI', '<13>', { message: '' }],
    ['header without message', '<13>Nov 23 10:00:00 host', { hostname: 'host', message: '' }],
  ];
  for (const [name, line, expected] of corpus) {
    it(name, () => {
      expect(parsed(line)).toMatchObject({ format: 'rfc3164', version: 0, structuredData: undefined, ...expected });
    });
  }

  it('rejects a line without a valid PRI, saying why', () => {
    expect(parseRfc3164('Nov 23 10:00:00 host app: x', utc)).toMatch(/no PRI/);
    expect(parseRfc3164('<1000>Nov 23 10:00:00 host app: x', utc)).toMatch(/invalid PRI/);
    expect(parseRfc3164('<>x', utc)).toMatch(/invalid PRI/);
    expect(parseRfc3164('', utc)).toMatch(/no PRI/);
  });
});

describe('RFC 3164 timestamps: the missing year and zone', () => {
  it('reads zone-less times in the configured location, across DST', () => {
    const paris: LegacyTimeContext = { clock: new ZoneClock('Europe/Paris'), nowMs: NOW };
    expect(parsed('<13>Nov 23 10:00:00 h a: x', paris).timeNs).toBe(ns('2026-11-23T09:00:00Z')); // CET, UTC+1
    expect(parsed('<13>Jul 14 10:00:00 h a: x', paris).timeNs).toBe(ns('2026-07-14T08:00:00Z')); // CEST, UTC+2
    const ny: LegacyTimeContext = { clock: new ZoneClock('America/New_York'), nowMs: NOW };
    expect(parsed('<13>Nov 23 10:00:00 h a: x', ny).timeNs).toBe(ns('2026-11-23T15:00:00Z'));
  });

  it('keeps explicit zones: an ISO offset, or Cisco "UTC:" whatever the location', () => {
    const paris: LegacyTimeContext = { clock: new ZoneClock('Europe/Paris'), nowMs: NOW };
    expect(parsed('<13>2026-11-23T10:00:00Z h a: x', paris).timeNs).toBe(ns('2026-11-23T10:00:00Z'));
    expect(parsed('<189>1: *Nov 23 10:00:00.000 UTC: %SYS-5-X: y', paris).timeNs).toBe(ns('2026-11-23T10:00:00Z'));
  });

  it('puts a December line read in early January in the previous year', () => {
    const newYear: LegacyTimeContext = { clock: new ZoneClock('UTC'), nowMs: Date.parse('2027-01-01T00:00:05Z') };
    expect(parsed('<13>Dec 31 23:59:59 h a: x', newYear).timeNs).toBe(ns('2026-12-31T23:59:59Z'));
  });

  it("puts a January line from a clock running ahead on New Year's Eve in the next year", () => {
    const eve: LegacyTimeContext = { clock: new ZoneClock('UTC'), nowMs: Date.parse('2026-12-31T23:59:58Z') };
    expect(parsed('<13>Jan  1 00:00:03 h a: x', eve).timeNs).toBe(ns('2027-01-01T00:00:03Z'));
  });

  it('reads a time again as it was read, whatever line, zone, clock or batch came between', () => {
    // Lines that share their timestamp are read once per batch: a batch's clock, a parser's
    // zone and the line's own fields decide, and nothing read before.
    const ctx: LegacyTimeContext = { clock: new ZoneClock('UTC'), nowMs: Date.parse('2027-01-01T00:00:05Z') };
    const paris: LegacyTimeContext = { clock: new ZoneClock('Europe/Paris'), nowMs: ctx.nowMs };
    const line = '<13>Dec 31 23:59:59 h a: x';
    expect(parsed(line, ctx).timeNs).toBe(ns('2026-12-31T23:59:59Z'));
    expect(parsed(line, ctx).timeNs).toBe(ns('2026-12-31T23:59:59Z'));
    expect(parsed('<13>Dec 31 23:59:59.5 h a: x', ctx).timeNs).toBe(ns('2026-12-31T23:59:59.500Z'));
    expect(parsed(line, ctx).timeNs).toBe(ns('2026-12-31T23:59:59Z'));
    expect(parsed('<13>Dec 31 2025 23:59:59 h a: x', ctx).timeNs).toBe(ns('2025-12-31T23:59:59Z'));
    expect(parsed(line, paris).timeNs).toBe(ns('2026-12-31T22:59:59Z'));
    expect(parsed('<13>Dec 31 23:59:59 UTC: h a: x', paris).timeNs).toBe(ns('2026-12-31T23:59:59Z'));
    // The next batch, half a year on: the same line is read against the new clock.
    ctx.nowMs = Date.parse('2027-06-30T12:00:00Z');
    expect(parsed(line, ctx).timeNs).toBe(ns('2026-12-31T23:59:59Z'));
    ctx.nowMs = Date.parse('2027-12-31T23:59:58Z');
    expect(parsed(line, ctx).timeNs).toBe(ns('2027-12-31T23:59:59Z'));
    ctx.clock = new ZoneClock('America/New_York');
    expect(parsed(line, ctx).timeNs).toBe(ns('2028-01-01T04:59:59Z'));
  });

  it('accepts a one-digit day and comma fractions', () => {
    expect(parsed('<13>Nov 3 10:00:00,5 h a: x').timeNs).toBe(ns('2026-11-03T10:00:00.500Z'));
  });

  it('treats an impossible date as no timestamp rather than guessing', () => {
    const m = parsed('<13>Nov 32 10:00:00 h a: x');
    expect(m.timeNs).toBe(0n);
    expect(m.message).toBe('Nov 32 10:00:00 h a: x');
  });
});
