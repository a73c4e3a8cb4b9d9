import { setAttr, type Attributes } from '../../model/attributes.ts';
import { newEvent, type VigilEvent } from '../../model/event.ts';
import { defaultTitle } from '../../model/title.ts';
import { readPri, type SyslogMessage } from './message.ts';
import { PerSdPair } from './sdPairs.ts';

/** Syslog severity 0–7 → OTel SeverityNumber and text, as the Collector's syslog parser maps them. */
export const SEVERITY_NUMBER = [21, 19, 18, 17, 13, 10, 9, 5] as const;
export const SEVERITY_TEXT = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'] as const;
export const FACILITY_NAME = [
  'kern',
  'user',
  'mail',
  'daemon',
  'auth',
  'syslog',
  'lpr',
  'news',
  'uucp',
  'cron',
  'authpriv',
  'ftp',
  'ntp',
  'security',
  'console',
  'solaris-cron',
  'local0',
  'local1',
  'local2',
  'local3',
  'local4',
  'local5',
  'local6',
  'local7',
] as const;

/** Where a message came from: the peer address and transport, for events whose header names no host. */
export interface Origin {
  peerAddress: string;
  transport: 'udp' | 'tcp' | 'tls';
}

/**
 * The attribute names the syslog fields get: Vigil's (`syslog.*`, structured data flat as
 * `syslog.sd.<SD-ID>.<param>`), or those of the Collector's syslog receiver (its stanza syslog
 * parser: `appname`, `proc_id`, `structured_data` as a map of maps…), so that dashboards and
 * queries built on the Collector's output read Vigil's unchanged.
 */
export type SyslogAttributeNames = 'vigil' | 'collector';

export interface FieldNames {
  priority: string;
  facility: string;
  version: string;
  appname: string;
  procId: string;
  msgId: string;
  /** Undefined where the field has no attribute of its own (Vigil: host.name and the body carry them). */
  hostname: string | undefined;
  message: string | undefined;
  /** Structured data as one nested map under this name; undefined: flat `syslog.sd.*` keys. */
  structuredData: string | undefined;
  /** The body: the message alone, or the whole line as received, as the Collector keeps it. */
  wholeLineBody: boolean;
}

export const FIELD_NAMES: Record<SyslogAttributeNames, FieldNames> = {
  vigil: {
    priority: 'syslog.priority',
    facility: 'syslog.facility',
    version: 'syslog.version',
    appname: 'syslog.appname',
    procId: 'syslog.procid',
    msgId: 'syslog.msgid',
    hostname: undefined,
    message: undefined,
    structuredData: undefined,
    wholeLineBody: false,
  },
  collector: {
    priority: 'priority',
    facility: 'facility',
    version: 'version',
    appname: 'appname',
    procId: 'proc_id',
    msgId: 'msg_id',
    hostname: 'hostname',
    message: 'message',
    structuredData: 'structured_data',
    wholeLineBody: true,
  },
};

function setPriority(ev: VigilEvent, pri: number, names: FieldNames): void {
  const severity = pri & 7;
  const facility = pri >> 3;
  ev.severityNumber = SEVERITY_NUMBER[severity]!;
  ev.severityText = SEVERITY_TEXT[severity]!;
  ev.attributes[names.priority] = pri;
  ev.attributes[names.facility] = facility;
  ev.attributes['syslog.facility.name'] = FACILITY_NAME[facility]!;
}

/**
 * The attributes every parsed message has, in their order, as one literal: V8 then gives the
 * object room for them at once instead of growing its property store three keys at a time.
 */
function vigilHead(origin: Origin, format: string, pri: number): Attributes {
  return {
    'network.transport': origin.transport === 'udp' ? 'udp' : 'tcp',
    'network.peer.address': origin.peerAddress,
    'syslog.format': format,
    'syslog.priority': pri,
    'syslog.facility': pri >> 3,
    'syslog.facility.name': FACILITY_NAME[pri >> 3]!,
  };
}

/** The same under the Collector's names. */
function collectorHead(origin: Origin, format: string, pri: number): Attributes {
  return {
    'network.transport': origin.transport === 'udp' ? 'udp' : 'tcp',
    'network.peer.address': origin.peerAddress,
    'syslog.format': format,
    priority: pri,
    facility: pri >> 3,
    'syslog.facility.name': FACILITY_NAME[pri >> 3]!,
  };
}

function originAttributes(origin: Origin): Attributes {
  return {
    'network.transport': origin.transport === 'udp' ? 'udp' : 'tcp',
    'network.peer.address': origin.peerAddress,
  };
}

/**
 * A parsed message as an event, following the OTel conventions for syslog: severity from
 * PRI, the hostname as `host.name` and asset, the app-name as `service.name`, and the header
 * fields and structured data as attributes named by `attributeNames`. `line` is the message
 * as received, the body under the Collector's names.
 */
export function syslogToEvent(
  m: SyslogMessage,
  origin: Origin,
  observedNs: bigint,
  truncated: boolean,
  attributeNames: SyslogAttributeNames = 'vigil',
  line = '',
): VigilEvent {
  const names = FIELD_NAMES[attributeNames];
  const pri = m.priority;
  const ev = newEvent({
    source: 'syslog',
    observedTimeUnixNano: observedNs,
    timeUnixNano: m.timeNs,
    severityNumber: SEVERITY_NUMBER[pri & 7],
    severityText: SEVERITY_TEXT[pri & 7],
    body: names.wholeLineBody ? line : m.message,
    attributes: names === FIELD_NAMES.vigil ? vigilHead(origin, m.format, pri) : collectorHead(origin, m.format, pri),
  });
  const attrs = ev.attributes;
  if (m.version) attrs[names.version] = m.version;
  if (m.appname) {
    ev.service = m.appname;
    ev.resource['service.name'] = m.appname;
    attrs[names.appname] = m.appname;
  }
  if (m.procId) attrs[names.procId] = m.procId;
  if (m.msgId) attrs[names.msgId] = m.msgId;
  if (m.sequence) attrs['syslog.sequence'] = m.sequence;
  if (names.message !== undefined) attrs[names.message] = m.message;
  if (m.structuredData) {
    if (names.structuredData !== undefined) attrs[names.structuredData] = structuredDataMap(m.structuredData);
    else flattenStructuredData(attrs, m.structuredData);
  }
  if (m.hostname) {
    ev.resource['host.name'] = m.hostname;
    ev.asset = m.hostname;
    if (names.hostname !== undefined) attrs[names.hostname] = m.hostname;
  } else ev.asset = origin.peerAddress;
  if (truncated) attrs['syslog.truncated'] = true;
  ev.title = defaultTitle(m.message);
  return ev;
}

/**
 * `syslog.sd.<SD-ID>.<param>`, built once per pair: concatenating it for every message and then
 * using the new string as a property name (which V8 must look up in its string table) cost
 * about 1.5 µs a message with two parameters. '' as the name gives the key of a parameterless
 * element, `syslog.sd.<SD-ID>`.
 */
const flatKeys = new PerSdPair((id, name) => (name === '' ? `syslog.sd.${id}` : `syslog.sd.${id}.${name}`));

export function flatKey(id: string, name: string): string {
  return flatKeys.get(id, name);
}

function flattenStructuredData(attrs: Attributes, sd: Record<string, Record<string, string>>): void {
  for (const id of Object.keys(sd)) {
    const params = sd[id]!;
    const names = Object.keys(params);
    // Never "__proto__": every flat key starts with "syslog.sd.", so plain assignment is safe.
    for (const name of names) attrs[flatKey(id, name)] = params[name]!;
    // An element without parameters ([exampleSDID@32473]) still says something.
    if (names.length === 0) attrs[flatKey(id, '')] = true;
  }
}

/** SD-ID → {param: value}, as the Collector nests it; an element without parameters is an empty map. */
export function structuredDataMap(sd: Record<string, Record<string, string>>): Attributes {
  const out: Attributes = {};
  for (const id of Object.keys(sd)) {
    const params: Attributes = {};
    const given = sd[id]!;
    for (const name of Object.keys(given)) setAttr(params, name, given[name]!);
    setAttr(out, id, params);
  }
  return out;
}

/**
 * A line no rule could read, kept whole as the body and flagged with why, so nothing a device
 * sent is lost and the reason is searchable. Its PRI still gives the severity when readable.
 */
export function unparsedToEvent(
  line: string,
  error: string,
  origin: Origin,
  observedNs: bigint,
  truncated: boolean,
  attributeNames: SyslogAttributeNames = 'vigil',
): VigilEvent {
  const ev = newEvent({
    source: 'syslog',
    observedTimeUnixNano: observedNs,
    body: line,
    attributes: originAttributes(origin),
  });
  ev.attributes['syslog.parse_error'] = error;
  const pri = readPri(line);
  if (pri >= 0) setPriority(ev, pri, FIELD_NAMES[attributeNames]);
  ev.asset = origin.peerAddress;
  if (truncated) ev.attributes['syslog.truncated'] = true;
  ev.title = defaultTitle(line);
  return ev;
}
