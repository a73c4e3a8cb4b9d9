import { describe, expect, it } from 'vitest';
import { syslogToEvent, unparsedToEvent, type Origin } from '../../../src/receivers/syslog/mapping.ts';
import { parseRfc5424 } from '../../../src/receivers/syslog/rfc5424Parser.ts';
import type { SyslogMessage } from '../../../src/receivers/syslog/message.ts';

const origin: Origin = { peerAddress: '192.0.2.7', transport: 'tcp' };

describe('syslog → event mapping', () => {
  it('maps each syslog severity to the OTel SeverityNumber and text', () => {
    const got = Array.from({ length: 8 }, (_, sev) => {
      const ev = syslogToEvent(parseRfc5424(`<${8 + sev}>1 - h a - - - x`) as SyslogMessage, origin, 1n, false);
      return [ev.severityNumber, ev.severityText];
    });
    expect(got).toEqual([
      [21, 'emerg'],
      [19, 'alert'],
      [18, 'crit'],
      [17, 'err'],
      [13, 'warning'],
      [10, 'notice'],
      [9, 'info'],
      [5, 'debug'],
    ]);
  });

  it('puts hostname, app-name, procid, msgid and structured data where OTel conventions expect them', () => {
    const m = parseRfc5424(
      '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 99 ID47 [exampleSDID@32473 iut="3" eventSource="Application"][flag@1] An application event',
    ) as SyslogMessage;
    const ev = syslogToEvent(m, origin, 5n, false);
    expect(ev).toMatchObject({
      source: 'syslog',
      timeUnixNano: 1065910455003000000n,
      observedTimeUnixNano: 5n,
      body: 'An application event',
      title: 'An application event',
      asset: 'mymachine.example.com',
      service: 'evntslog',
      resource: { 'host.name': 'mymachine.example.com', 'service.name': 'evntslog' },
    });
    expect(ev.attributes).toEqual({
      'network.transport': 'tcp',
      'network.peer.address': '192.0.2.7',
      'syslog.format': 'rfc5424',
      'syslog.version': 1,
      'syslog.priority': 165,
      'syslog.facility': 20,
      'syslog.facility.name': 'local4',
      'syslog.appname': 'evntslog',
      'syslog.procid': '99',
      'syslog.msgid': 'ID47',
      'syslog.sd.exampleSDID@32473.iut': '3',
      'syslog.sd.exampleSDID@32473.eventSource': 'Application',
      'syslog.sd.flag@1': true,
    });
  });

  it('falls back to the peer address as asset when the header names no host', () => {
    const ev = syslogToEvent(
      parseRfc5424('<13>1 - - - - - - x') as SyslogMessage,
      { peerAddress: '10.9.8.7', transport: 'udp' },
      1n,
      true,
    );
    expect(ev).toMatchObject({ asset: '10.9.8.7', service: '', resource: {} });
    expect(ev.attributes).toMatchObject({ 'network.transport': 'udp', 'syslog.truncated': true });
  });

  it('keeps an unparsable line whole, flagged with the reason, with the severity its PRI gives', () => {
    const ev = unparsedToEvent('<11>1 broken', 'RFC 5424 TIMESTAMP "broken" is not RFC 3339', origin, 1n, false);
    expect(ev).toMatchObject({
      body: '<11>1 broken',
      severityNumber: 17,
      severityText: 'err',
      asset: '192.0.2.7',
      attributes: { 'syslog.parse_error': 'RFC 5424 TIMESTAMP "broken" is not RFC 3339', 'syslog.priority': 11 },
    });
    const noPri = unparsedToEvent('hello', 'no PRI', origin, 1n, false);
    expect(noPri).toMatchObject({ body: 'hello', severityNumber: 0, attributes: { 'syslog.parse_error': 'no PRI' } });
    expect(noPri.attributes['syslog.priority']).toBeUndefined();
  });

  it("names the fields as the Collector's syslog receiver does with attribute_names: collector", () => {
    const line =
      '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 99 ID47 [exampleSDID@32473 iut="3" eventSource="Application"][flag@1] An application event';
    const ev = syslogToEvent(parseRfc5424(line) as SyslogMessage, origin, 5n, false, 'collector', line);
    expect(ev).toMatchObject({
      body: line,
      title: 'An application event',
      asset: 'mymachine.example.com',
      service: 'evntslog',
      severityNumber: 10,
      severityText: 'notice',
    });
    expect(ev.attributes).toEqual({
      'network.transport': 'tcp',
      'network.peer.address': '192.0.2.7',
      'syslog.format': 'rfc5424',
      'syslog.facility.name': 'local4',
      version: 1,
      priority: 165,
      facility: 20,
      appname: 'evntslog',
      hostname: 'mymachine.example.com',
      proc_id: '99',
      msg_id: 'ID47',
      message: 'An application event',
      structured_data: { 'exampleSDID@32473': { iut: '3', eventSource: 'Application' }, 'flag@1': {} },
    });
    const unparsed = unparsedToEvent('<11>1 broken', 'bad', origin, 1n, false, 'collector');
    expect(unparsed.attributes).toMatchObject({ priority: 11, facility: 1, 'syslog.parse_error': 'bad' });
    expect(unparsed.attributes['syslog.priority']).toBeUndefined();
  });

  it('names flattened structured data syslog.sd.<SD-ID>.<param> for however many distinct names senders use', () => {
    const sdKeys = (line: string) =>
      Object.keys(syslogToEvent(parseRfc5424(line) as SyslogMessage, origin, 1n, false).attributes).filter((k) =>
        k.startsWith('syslog.sd.'),
      );
    // More distinct pairs than any cache of names would keep, each seen twice.
    for (let round = 0; round < 2; round++)
      for (let i = 0; i < 5000; i += 7) {
        expect(sdKeys(`<13>1 - h a - - [id${i}@1 p${i}="v" q="w"][flag${i}][id${i}@1 r="x"] m`)).toEqual([
          `syslog.sd.id${i}@1.p${i}`,
          `syslog.sd.id${i}@1.q`,
          `syslog.sd.id${i}@1.r`,
          `syslog.sd.flag${i}`,
        ]);
      }
    expect(sdKeys('<13>1 - h a - - [a.b c.d="1"][a b.c.d="2"] m')).toEqual(['syslog.sd.a.b.c.d']);
  });
});
