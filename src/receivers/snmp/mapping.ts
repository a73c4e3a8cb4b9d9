import { setAttr, type AttrValue, type Attributes } from '../../model/attributes.ts';
import { newEvent, type EventType, type VigilEvent } from '../../model/event.ts';
import type { OidNames } from './oidNames.ts';
import { PDU_INFORM, PDU_TRAP_V1, type SnmpVarbind, type TrapPdu } from './trapDecoder.ts';

const SYS_UPTIME = '1.3.6.1.2.1.1.3.0';
const SNMP_TRAP_OID = '1.3.6.1.6.3.1.1.4.1.0';
const SNMP_TRAP_ENTERPRISE = '1.3.6.1.6.3.1.1.4.3.0';
const SNMP_TRAP_ADDRESS = '1.3.6.1.6.3.18.1.3.0';
/** snmpTraps: the generic traps' OIDs are this plus generic-trap + 1 (RFC 3584 section 3.1). */
const SNMP_TRAPS = '1.3.6.1.6.3.1.1.5';
const IF_INDEX = '1.3.6.1.2.1.2.2.1.1.';
/** ifEntry columns whose instance suffix is the ifIndex, for link traps that omit ifIndex itself. */
const IF_ENTRY = '1.3.6.1.2.1.2.2.1.';

/**
 * Varbinds kept per trap. Devices send a handful; a 64 KiB datagram can hold ~9,000 empty ones,
 * each an attribute of ~100 bytes in memory, so one datagram could become a megabyte event.
 */
export const MAX_VARBINDS = 256;

const SEVERITY_INFO = 9;
const SEVERITY_WARN = 13;

interface StandardTrap {
  name: string;
  type: EventType;
  severity: number;
  /** Names an interface: the event carries `snmp.if_index`. */
  link?: true;
}

/**
 * The generic traps, tagged so that a pair rule works from config alone: a link going down and
 * coming back, a device (re)starting, which says it is up again. No prototype: a trap OID
 * varbind holding `constructor` is no standard trap.
 */
const STANDARD_TRAPS: Readonly<Record<string, StandardTrap>> = Object.assign(
  Object.create(null) as Record<string, StandardTrap>,
  {
    [`${SNMP_TRAPS}.1`]: { name: 'SNMPv2-MIB::coldStart', type: 'up', severity: SEVERITY_INFO },
    [`${SNMP_TRAPS}.2`]: { name: 'SNMPv2-MIB::warmStart', type: 'up', severity: SEVERITY_INFO },
    [`${SNMP_TRAPS}.3`]: { name: 'IF-MIB::linkDown', type: 'down', severity: SEVERITY_WARN, link: true },
    [`${SNMP_TRAPS}.4`]: { name: 'IF-MIB::linkUp', type: 'up', severity: SEVERITY_INFO, link: true },
    [`${SNMP_TRAPS}.5`]: { name: 'SNMPv2-MIB::authenticationFailure', type: 'neutral', severity: SEVERITY_WARN },
    [`${SNMP_TRAPS}.6`]: { name: 'RFC1213-MIB::egpNeighborLoss', type: 'neutral', severity: SEVERITY_WARN },
  },
);

const TYPE = {
  Boolean: 1,
  Integer: 2,
  OctetString: 4,
  Null: 5,
  OID: 6,
  IpAddress: 64,
  Counter: 65,
  Gauge: 66,
  TimeTicks: 67,
  Opaque: 68,
  Counter64: 70,
  NoSuchObject: 128,
  NoSuchInstance: 129,
  EndOfMibView: 130,
} as const;

const utf8 = new TextDecoder('utf-8', { fatal: true });

function hex(b: Buffer): string {
  let out = '';
  for (let i = 0; i < b.length; i++) out += (i ? ':' : '') + b[i]!.toString(16).padStart(2, '0');
  return out;
}

/** Text when the octets are UTF-8 without control characters (but tab, CR, LF), else hex pairs. */
export function octetString(b: Buffer): string {
  let end = b.length;
  // Devices often send C strings with their NUL terminator.
  while (end > 0 && b[end - 1] === 0) end--;
  const body = b.subarray(0, end);
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    return hex(b);
  }
  // eslint-disable-next-line no-control-regex
  return /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/.test(text) ? hex(b) : text;
}

function counter64(b: Buffer): string {
  let n = 0n;
  for (const byte of b) n = (n << 8n) | BigInt(byte);
  return n.toString();
}

/** A varbind value as an attribute: numbers stay numbers, Counter64 is a decimal string, octets text or hex. */
export function renderValue(vb: SnmpVarbind): AttrValue {
  const v = vb.value;
  switch (vb.type) {
    case TYPE.Boolean:
      return Boolean(v);
    case TYPE.Null:
      return null;
    case TYPE.OctetString:
      return Buffer.isBuffer(v) ? octetString(v) : String(v);
    case TYPE.Opaque:
      return Buffer.isBuffer(v) ? hex(v) : String(v);
    case TYPE.Counter64:
      return Buffer.isBuffer(v) ? counter64(v) : String(v);
    case TYPE.NoSuchObject:
      return 'noSuchObject';
    case TYPE.NoSuchInstance:
      return 'noSuchInstance';
    case TYPE.EndOfMibView:
      return 'endOfMibView';
  }
  if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') return v;
  if (Buffer.isBuffer(v)) return hex(v);
  return v === null || v === undefined ? null : String(v);
}

/** Where a trap came from: the UDP peer, and the SNMP version it was sent with. */
export interface TrapOrigin {
  peerAddress: string;
  peerPort: number;
  version: '1' | '2c' | '3';
}

/** RFC 3584 section 3.1: a v1 trap's SNMPv2 identity. */
function v1TrapOid(pdu: TrapPdu): string {
  const generic = pdu.generic ?? 6;
  return generic === 6 ? `${pdu.enterprise}.0.${pdu.specific ?? 0}` : `${SNMP_TRAPS}.${generic + 1}`;
}

function ifIndexOf(varbinds: SnmpVarbind[]): number | undefined {
  for (const vb of varbinds) if (vb.oid.startsWith(IF_INDEX) && typeof vb.value === 'number') return vb.value;
  for (const vb of varbinds) {
    if (!vb.oid.startsWith(IF_ENTRY)) continue;
    const instance = vb.oid.slice(vb.oid.indexOf('.', IF_ENTRY.length) + 1);
    if (/^\d+$/.test(instance)) return Number(instance);
  }
  return undefined;
}

function shortName(name: string): string {
  const i = name.indexOf('::');
  return i === -1 ? name : name.slice(i + 2);
}

/**
 * A trap (v1, v2c or v3, trap or inform) as an event: `snmp.trap.oid` (a v1 trap's translated
 * per RFC 3584) and `snmp.trap.name`, the agent address as asset, each varbind as
 * `snmp.varbind.<name or OID>`. The standard traps come tagged down/up, link traps with their
 * `snmp.if_index`.
 */
export function trapToEvent(
  pdu: TrapPdu,
  origin: TrapOrigin,
  names: OidNames | undefined,
  observedNs: bigint,
): VigilEvent {
  const attrs: Attributes = {
    'network.transport': 'udp',
    'network.peer.address': origin.peerAddress,
    'network.peer.port': origin.peerPort,
    'snmp.version': origin.version,
    'snmp.pdu': pdu.type === PDU_TRAP_V1 ? 'trap' : pdu.type === PDU_INFORM ? 'inform' : 'trap2',
  };
  let trapOid = '';
  let agent = origin.peerAddress;
  let enterprise: string | undefined;
  let uptime: number | undefined;
  if (pdu.type === PDU_TRAP_V1) {
    trapOid = v1TrapOid(pdu);
    if (pdu.agentAddr && pdu.agentAddr !== '0.0.0.0') agent = pdu.agentAddr;
    enterprise = pdu.enterprise;
    uptime = pdu.upTime;
    attrs['snmp.generic_trap'] = pdu.generic ?? 0;
    attrs['snmp.specific_trap'] = pdu.specific ?? 0;
  }
  const rest: string[] = [];
  let dropped = 0;
  for (const vb of pdu.varbinds) {
    switch (vb.oid) {
      case SYS_UPTIME:
        if (typeof vb.value === 'number') uptime = vb.value;
        continue;
      case SNMP_TRAP_OID:
        if (typeof vb.value === 'string') trapOid = vb.value;
        continue;
      case SNMP_TRAP_ENTERPRISE:
        if (typeof vb.value === 'string') enterprise = vb.value;
        continue;
      case SNMP_TRAP_ADDRESS:
        if (typeof vb.value === 'string') agent = vb.value;
        continue;
    }
    if (rest.length === MAX_VARBINDS) {
      dropped++;
      continue;
    }
    const key = names?.name(vb.oid) ?? vb.oid;
    const value = renderValue(vb);
    setAttr(attrs, `snmp.varbind.${key}`, value);
    rest.push(`${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
  }
  const standard = STANDARD_TRAPS[trapOid];
  const trapName = standard?.name ?? names?.name(trapOid);
  attrs['snmp.trap.oid'] = trapOid;
  if (trapName) attrs['snmp.trap.name'] = trapName;
  attrs['snmp.agent.address'] = agent;
  if (enterprise) attrs['snmp.enterprise'] = enterprise;
  if (uptime !== undefined) attrs['snmp.uptime'] = uptime;
  if (pdu.user !== undefined) attrs['snmp.user'] = pdu.user;
  if (pdu.contextEngineID) attrs['snmp.context.engine_id'] = pdu.contextEngineID;
  if (pdu.contextName) attrs['snmp.context.name'] = pdu.contextName;
  if (dropped) attrs['snmp.varbinds_dropped'] = dropped;
  let ifIndex: number | undefined;
  if (standard?.link) {
    ifIndex = ifIndexOf(pdu.varbinds);
    if (ifIndex !== undefined) attrs['snmp.if_index'] = ifIndex;
  }
  const what = trapName ? shortName(trapName) : trapOid || 'trap';
  const title = `${what} from ${agent}${ifIndex === undefined ? '' : ` (ifIndex ${ifIndex})`}`;
  return newEvent({
    source: 'snmp',
    observedTimeUnixNano: observedNs,
    asset: agent,
    title,
    body: rest.length ? `${title}: ${rest.join(', ')}` : title,
    type: standard?.type ?? 'neutral',
    severityNumber: standard?.severity ?? SEVERITY_INFO,
    severityText: (standard?.severity ?? SEVERITY_INFO) === SEVERITY_WARN ? 'WARN' : 'INFO',
    attributes: attrs,
  });
}
