import { setAttr, type Attributes } from '../../model/attributes.ts';
import { newEvent, type VigilEvent } from '../../model/event.ts';
import { defaultTitle } from '../json/mapping.ts';
import { readPri, type SyslogMessage } from './message.ts';

/** Syslog severity 0–7 → OTel SeverityNumber and text, as the Collector's syslog parser maps them. */
const SEVERITY_NUMBER = [21, 19, 18, 17, 13, 10, 9, 5] as const;
const SEVERITY_TEXT = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'] as const;
const FACILITY_NAME = [
  'kern', 'user', 'mail', 'daemon', 'auth', 'syslog', 'lpr', 'news', 'uucp', 'cron', 'authpriv', 'ftp', 'ntp', 'security', 'console', 'solaris-cron',
  'local0', 'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7',
] as const;

/** Where a message came from: the peer address and transport, for events whose header names no host. */
export interface Origin {
  peerAddress: string;
  transport: 'udp' | 'tcp' | 'tls';
}

function setPriority(ev: VigilEvent, pri: number): void {
  const severity = pri & 7;
  const facility = pri >> 3;
  ev.severityNumber = SEVERITY_NUMBER[severity]!;
  ev.severityText = SEVERITY_TEXT[severity]!;
  ev.attributes['syslog.priority'] = pri;
  ev.attributes['syslog.facility'] = facility;
  ev.attributes['syslog.facility.name'] = FACILITY_NAME[facility]!;
}

function originAttributes(origin: Origin): Attributes {
  return { 'network.transport': origin.transport === 'udp' ? 'udp' : 'tcp', 'network.peer.address': origin.peerAddress };
}

/**
 * A parsed message as an event, following the OTel conventions for syslog: severity from
 * PRI, the hostname as `host.name` and asset, the app-name as `service.name`, and each
 * structured-data parameter as a `syslog.sd.<SD-ID>.<name>` attribute, flat so it lands in the
 * attribute map columns as is.
 */
export function syslogToEvent(m: SyslogMessage, origin: Origin, observedNs: bigint, truncated: boolean): VigilEvent {
  const ev = newEvent({ source: 'syslog', observedTimeUnixNano: observedNs, timeUnixNano: m.timeNs, body: m.message, attributes: originAttributes(origin) });
  const attrs = ev.attributes;
  attrs['syslog.format'] = m.format;
  setPriority(ev, m.priority);
  if (m.version) attrs['syslog.version'] = m.version;
  if (m.appname) {
    ev.service = m.appname;
    ev.resource['service.name'] = m.appname;
    attrs['syslog.appname'] = m.appname;
  }
  if (m.procId) attrs['syslog.procid'] = m.procId;
  if (m.msgId) attrs['syslog.msgid'] = m.msgId;
  if (m.sequence) attrs['syslog.sequence'] = m.sequence;
  if (m.structuredData) {
    for (const id of Object.keys(m.structuredData)) {
      const params = m.structuredData[id]!;
      const names = Object.keys(params);
      for (const name of names) setAttr(attrs, `syslog.sd.${id}.${name}`, params[name]!);
      // An element without parameters ([exampleSDID@32473]) still says something.
      if (names.length === 0) setAttr(attrs, `syslog.sd.${id}`, true);
    }
  }
  if (m.hostname) {
    ev.resource['host.name'] = m.hostname;
    ev.asset = m.hostname;
  } else ev.asset = origin.peerAddress;
  if (truncated) attrs['syslog.truncated'] = true;
  ev.title = defaultTitle(ev.body);
  return ev;
}

/**
 * A line no rule could read, kept whole as the body and flagged with why, so nothing a device
 * sent is lost and the reason is searchable. Its PRI still gives the severity when readable.
 */
export function unparsedToEvent(line: string, error: string, origin: Origin, observedNs: bigint, truncated: boolean): VigilEvent {
  const ev = newEvent({ source: 'syslog', observedTimeUnixNano: observedNs, body: line, attributes: originAttributes(origin) });
  ev.attributes['syslog.parse_error'] = error;
  const pri = readPri(line);
  if (pri >= 0) setPriority(ev, pri);
  ev.asset = origin.peerAddress;
  if (truncated) ev.attributes['syslog.truncated'] = true;
  ev.title = defaultTitle(line);
  return ev;
}
