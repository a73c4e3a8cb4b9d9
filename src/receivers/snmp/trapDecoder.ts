import type { Socket, RemoteInfo } from 'node:dgram';
import snmp from 'net-snmp';
import { normalizeEngineId, type SnmpUserConfig } from './config.ts';
import { readUsmHeader } from './usmHeader.ts';

/** A varbind as net-snmp decodes it: Counter64, OctetString and Opaque values are Buffers. */
export interface SnmpVarbind {
  oid: string;
  type: number;
  value: unknown;
}

/** A trap or inform PDU as net-snmp hands it over (v1 fields only on `Trap`, context fields only on v3). */
export interface TrapPdu {
  type: number;
  varbinds: SnmpVarbind[];
  enterprise?: string;
  agentAddr?: string;
  generic?: number;
  specific?: number;
  upTime?: number;
  contextEngineID?: string;
  contextName?: string;
  /** With includeAuthentication: the v1/v2c community or the v3 user name. */
  community?: string;
  user?: string;
}

/** Why a datagram was dropped, as the `reason` label of `vigil_snmp_rejected_messages_total`. */
export type RejectReason =
  | 'unknown_community'
  | 'unknown_user'
  | 'unknown_engine_id'
  | 'wrong_security_level'
  | 'authentication_failed'
  | 'decryption_failed'
  | 'unsupported_pdu'
  | 'malformed';

export type Decoded =
  | { kind: 'notification'; pdu: TrapPdu; version: '1' | '2c' | '3' }
  /** Answered by the library (an SNMPv3 engine ID discovery), nothing to emit. */
  | { kind: 'answered' }
  | { kind: 'rejected'; reason: RejectReason; message: string };

export const PDU_TRAP_V1 = 164;
export const PDU_INFORM = 166;

/** The part of net-snmp's Receiver this decoder drives; its own socket handling is not used. */
interface NetSnmpReceiver {
  engine: { engineID: Buffer };
  getAuthorizer(): { addCommunity(c: string): void; addUser(u: object): void };
  onMsg(socket: Socket, buffer: Buffer, rinfo: RemoteInfo): void;
}

/** net-snmp keeps every localized key it computes, one per user and sender engine ID, forever. */
const MAX_CACHED_KEYS = 10_000;
const CACHE_CHECK_EVERY = 1024;

/** A socket stand-in for net-snmp's listener: the receiver owns the real one (see receiver.ts). */
const detachedDgram = {
  createSocket: () => ({
    on() {},
    bind() {},
    close(cb?: () => void) {
      cb?.();
    },
    address: () => ({}),
  }),
};

function userEntry(u: SnmpUserConfig): object {
  const entry: Record<string, unknown> = {
    name: u.name,
    level: u.priv_protocol ? snmp.SecurityLevel.authPriv : snmp.SecurityLevel.authNoPriv,
    authProtocol: snmp.AuthProtocols[u.auth_protocol],
    authKey: u.auth_key,
  };
  if (u.priv_protocol) {
    entry.privProtocol = snmp.PrivProtocols[u.priv_protocol];
    entry.privKey = u.priv_key;
  }
  return entry;
}

/**
 * SNMP messages in, trap PDUs out, through net-snmp's notification receiver: BER decoding,
 * community and USM checks (HMAC, decryption, security level), the answer to informs and to
 * v3 discovery. The library reports each outcome through a callback, synchronously; this turns
 * that into a return value, classifies refusals, and holds every exception a hostile datagram
 * can raise inside the library, so one datagram can never take the daemon down.
 */
export class TrapDecoder {
  private readonly receiver: NetSnmpReceiver;
  private outcome: Decoded | undefined;
  private decoded = 0;
  private readonly userNames: ReadonlySet<string>;
  /** Engine IDs each user with `engine_ids` may send from, Vigil's own (informs) included. */
  private readonly engineIds = new Map<string, Set<string>>();

  constructor(opts: { communities: readonly string[]; users: readonly SnmpUserConfig[] }) {
    this.receiver = snmp.createReceiver(
      { port: 1, dgramModule: detachedDgram, includeAuthentication: true },
      (error: Error | null, notification: { pdu: TrapPdu } | null) => {
        this.outcome = error ? rejection(error) : { kind: 'notification', pdu: notification!.pdu, version: '1' };
      },
    ) as NetSnmpReceiver;
    const authorizer = this.receiver.getAuthorizer();
    for (const c of opts.communities) authorizer.addCommunity(c);
    for (const u of opts.users) authorizer.addUser(userEntry(u));
    this.userNames = new Set(opts.users.map((u) => u.name));
    const own = this.receiver.engine.engineID.toString('hex');
    for (const u of opts.users)
      if (u.engine_ids) this.engineIds.set(u.name, new Set([own, ...u.engine_ids.map(normalizeEngineId)]));
  }

  /** Decodes one datagram; `socket` is where the library sends inform acknowledgements and reports. */
  decode(buffer: Buffer, rinfo: RemoteInfo, socket: Socket): Decoded {
    this.outcome = undefined;
    const header = readUsmHeader(buffer);
    if (header) {
      // Refused here, the library neither localizes keys for them nor answers them with a report
      // (which a spoofed source address would turn on a third party). The empty user is engine
      // ID discovery, which informs need.
      if (header.user !== '' && !this.userNames.has(header.user))
        return rejected('unknown_user', 'SNMPv3 user not in users');
      const allowed = this.engineIds.get(header.user);
      if (allowed && !allowed.has(header.engineId))
        return rejected(
          'unknown_engine_id',
          `SNMPv3 message from engine ID ${header.engineId}, not in the engine_ids of user ${header.user}`,
        );
    }
    if (++this.decoded % CACHE_CHECK_EVERY === 0) boundKeyCache();
    try {
      this.receiver.onMsg(socket, buffer, rinfo);
    } catch (err) {
      return rejected('malformed', (err as Error).message);
    }
    // The library's callback set it during onMsg (TypeScript cannot see that and narrows it to undefined).
    const outcome: Decoded = (this.outcome as Decoded | undefined) ?? { kind: 'answered' };
    if (outcome.kind !== 'notification') return outcome;
    outcome.version = versionOf(outcome.pdu);
    // net-snmp lets a noAuthNoPriv v3 message with an empty user name through as an anonymous
    // user: no community, no key. Only configured users may send.
    if (outcome.version === '3' && !this.userNames.has(outcome.pdu.user!))
      return rejected('unknown_user', 'SNMPv3 message without authentication from a user not in users');
    return outcome;
  }
}

function versionOf(pdu: TrapPdu): '1' | '2c' | '3' {
  if (pdu.user !== undefined) return '3';
  return pdu.type === PDU_TRAP_V1 ? '1' : '2c';
}

function boundKeyCache(): void {
  const auth = snmp.Authentication as unknown as { authToKeyCache: Record<string, unknown> };
  if (Object.keys(auth.authToKeyCache).length > MAX_CACHED_KEYS) auth.authToKeyCache = {};
}

/**
 * net-snmp's error classes and messages, mapped to the reasons operators count. The messages
 * logged are Vigil's own: the library's name the community tried and the digest expected.
 */
function rejection(error: Error): Decoded {
  const e = error as Error & { code?: number; error?: Error };
  switch (e.name) {
    case 'RequestFailedError':
      if (e.message.startsWith('Local community not found'))
        return rejected('unknown_community', 'community not in communities');
      if (e.message.startsWith('Local user not found')) return rejected('unknown_user', 'SNMPv3 user not in users');
      if (/requires (authentication|privacy)/.test(e.message))
        return rejected(
          'wrong_security_level',
          "SNMPv3 message below the user's security level (authNoPriv or authPriv)",
        );
      break;
    case 'ResponseInvalidError':
      if (e.code === snmp.ResponseInvalidCode.EAuthFailure)
        return rejected(
          'authentication_failed',
          'SNMPv3 authentication digest does not match: wrong auth_key or auth_protocol',
        );
      if (e.code === snmp.ResponseInvalidCode.ECouldNotDecrypt)
        return rejected('decryption_failed', 'SNMPv3 message could not be decrypted: wrong priv_key or priv_protocol');
      break;
    case 'RequestInvalidError':
      return rejected('unsupported_pdu', e.message);
    case 'ProcessingError':
      return rejected('malformed', e.error?.message ?? e.message);
  }
  return rejected('malformed', e.message);
}

function rejected(reason: RejectReason, message: string): Decoded {
  return { kind: 'rejected', reason, message };
}
