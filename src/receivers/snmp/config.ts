import {
  bytes,
  endpoint,
  list,
  literalUnion,
  obj,
  optional,
  refine,
  str,
  type ConfigIssue,
  type Infer,
} from '../../config/schema.ts';
import { defaultTenant } from '../defaultTenant.ts';

export const AUTH_PROTOCOLS = ['md5', 'sha', 'sha224', 'sha256', 'sha384', 'sha512'] as const;
export const PRIV_PROTOCOLS = ['des', 'aes', 'aes256b', 'aes256r'] as const;

/** RFC 3414 (section 11.2) asks for passphrases of at least 8 characters; Net-SNMP's tools refuse shorter ones. */
const MIN_KEY_LENGTH = 8;

/** SnmpEngineID is an OCTET STRING (SIZE(5..32)) (RFC 3411). */
const ENGINE_ID = /^(0x)?([0-9a-fA-F]{2}){5,32}$/;

/** An engine ID as config gives it, as readUsmHeader reports it: lowercase hex without `0x`. */
export function normalizeEngineId(id: string): string {
  return id.replace(/^0x/, '').toLowerCase();
}

const userSchema = obj({
  name: str({ nonEmpty: true, doc: 'USM user (security) name the devices send.' }),
  auth_protocol: literalUnion(AUTH_PROTOCOLS, {
    doc: 'HMAC of the user: `md5`, `sha` (SHA-1), `sha224`, `sha256`, `sha384` or `sha512` (RFC 7860).',
  }),
  auth_key: str({
    doc: 'Authentication passphrase (at least 8 characters); keep it out of the file with `${file:...}` or `${env:...}`.',
  }),
  priv_protocol: optional(
    literalUnion(PRIV_PROTOCOLS, {
      doc: 'Encryption of the user (authPriv): `des` (CBC-DES; needs Node started with `--openssl-legacy-provider`), `aes` (CFB-AES-128), `aes256b` or `aes256r` (AES-256 with Blumenthal or Reeder key localization; Cisco uses Reeder). Omit for authNoPriv.',
    }),
  ),
  priv_key: optional(str({ doc: 'Privacy passphrase (at least 8 characters), with priv_protocol.' })),
  engine_ids: optional(
    list(str({ pattern: ENGINE_ID, patternHint: 'an engine ID in hex, 5 to 32 bytes, such as 0x80001f8804736f6d65' }), {
      minItems: 1,
      doc: "Engine IDs (hex, the devices' snmpEngineID, as `snmptrap -e` takes them) this user's traps may come from, as snmptrapd's `createUser -e`; others are refused before any key is computed. Set it where the receiver is reachable from untrusted networks: each new engine ID costs a key localization (hashing 1 MiB). Omit to accept any engine ID. Informs to Vigil's own engine ID are always accepted.",
    }),
  ),
});

export const snmpTrapReceiverSchema = refine(
  obj({
    endpoint: endpoint({
      default: '127.0.0.1:1162',
      doc: 'UDP address to listen on: `0.0.0.0:1162` to take traps from the network (162, the standard port, needs root or NET_BIND_SERVICE; `[::]:1162` for IPv6).',
    }),
    receive_buffer_size: bytes({
      default: '1MiB',
      min: 65536,
      doc: 'Kernel receive buffer asked for the socket; absorbs trap storms while a batch is processed. Linux caps it at net.core.rmem_max (208 KiB on most distributions): the receiver logs a warning at start when it got less. Raise rmem_max on the node (sysctl) to keep what is asked here.',
    }),
    communities: list(str({ nonEmpty: true }), {
      default: [],
      doc: 'Communities accepted from SNMPv1 and v2c senders; traps with any other community are dropped and counted. Empty: v1 and v2c are refused.',
    }),
    users: list(userSchema, {
      default: [],
      doc: 'SNMPv3 (USM) users accepted, with authentication (authNoPriv) or authentication and privacy (authPriv). Traps from unknown users, with a wrong key or a lower security level are dropped and counted.',
    }),
    tenant: defaultTenant(
      'Tenant stamped on every trap received (community and USM user name no tenant); empty: none.',
    ),
    mib_dir: optional(
      str({
        nonEmpty: true,
        doc: 'Directory of MIB files (SMIv1/SMIv2 text, any file name) that name trap and varbind OIDs (`IF-MIB::ifIndex.3`); SNMPv2-SMI, SNMPv2-TC, SNMPv2-MIB, RFC1213-MIB and their imports are built in. Without it, OIDs stay numeric, but for the standard traps.',
      }),
    ),
  }),
  (c) => {
    const issues: ConfigIssue[] = [];
    if (c.communities.length === 0 && c.users.length === 0)
      issues.push({
        path: '',
        message: 'accepts no trap: list `communities` (v1/v2c) and/or `users` (v3), e.g. `communities: [public]`',
      });
    const seen = new Set<string>();
    c.users.forEach((u, i) => {
      const at = `users[${i}]`;
      if (seen.has(u.name))
        issues.push({
          path: `${at}.name`,
          message: `user ${JSON.stringify(u.name)} is listed twice; one entry per user name`,
        });
      seen.add(u.name);
      if (u.auth_key.length < MIN_KEY_LENGTH)
        issues.push({ path: `${at}.auth_key`, message: `must be at least ${MIN_KEY_LENGTH} characters (RFC 3414)` });
      if ((u.priv_protocol === undefined) !== (u.priv_key === undefined))
        issues.push({
          path: at,
          message: 'priv_protocol and priv_key go together: set both for authPriv, neither for authNoPriv',
        });
      else if (u.priv_key !== undefined && u.priv_key.length < MIN_KEY_LENGTH)
        issues.push({ path: `${at}.priv_key`, message: `must be at least ${MIN_KEY_LENGTH} characters (RFC 3414)` });
    });
    return issues;
  },
  'At least one community or user; user names are unique; keys have at least 8 characters (RFC 3414); `priv_protocol` and `priv_key` go together.',
);

export type SnmpTrapReceiverConfig = Infer<typeof snmpTrapReceiverSchema>;
export type SnmpUserConfig = Infer<typeof userSchema>;
