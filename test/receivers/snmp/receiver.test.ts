import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConfigIssue } from '../../../src/config/schema.ts';
import { QueueFullError } from '../../../src/errors.ts';
import type { Consumer } from '../../../src/pipeline/signals.ts';
import type { VigilEvent } from '../../../src/model/event.ts';
import { snmpTrapReceiverSchema } from '../../../src/receivers/snmp/config.ts';
import { desUnavailable } from '../../../src/receivers/snmp/desSupport.ts';
import { SnmpTrapReceiver } from '../../../src/receivers/snmp/receiver.ts';
import { createLogger } from '../../../src/telemetry/logger.ts';
import { SelfMetrics } from '../../../src/telemetry/selfMetrics.ts';
import { RefusingConsumer } from '../../support/refusingConsumer.ts';
import { waitFor } from '../../support/waitFor.ts';
import { COLD_START_PDU, DISCOVERY_PDU, scopedPdu, sendDatagram, V2C_COLD_START, v3Header } from './datagrams.ts';
import { snmpinform, snmptrap, v3 } from './snmptrap.ts';

/** The logs pipeline's stand-in: keeps what it accepts, refuses while `full` is set. */
class CollectingConsumer extends RefusingConsumer<VigilEvent> {
  constructor() {
    super('logs', 10);
  }
}

/** As CollectingConsumer, and refuses before decoding too, as the pipeline's admit() does. */
class AdmittingConsumer extends CollectingConsumer {
  admit(): void {
    if (this.full) throw new QueueFullError('logs', 10);
  }
}

const AUTH = 'vigil-auth-pass';
const PRIV = 'vigil-priv-pass';

/** Net-SNMP's names of the protocols; AES256 localizes the key as Blumenthal's draft does, AES256C as Cisco (Reeder) does. */
const AUTH_FLAG = {
  md5: 'MD5',
  sha: 'SHA',
  sha224: 'SHA-224',
  sha256: 'SHA-256',
  sha384: 'SHA-384',
  sha512: 'SHA-512',
} as const;
const PRIV_FLAG = { aes: 'AES', aes256b: 'AES256', aes256r: 'AES256C' } as const;
const authUsers = (Object.keys(AUTH_FLAG) as (keyof typeof AUTH_FLAG)[]).map((p) => ({
  name: `auth-${p}`,
  auth_protocol: p,
  auth_key: AUTH,
}));
// DES needs Node's OpenSSL legacy provider: the daemon test covers it.
const privUsers = (Object.keys(PRIV_FLAG) as (keyof typeof PRIV_FLAG)[]).map((p) => ({
  name: `priv-${p}`,
  auth_protocol: 'sha',
  auth_key: AUTH,
  priv_protocol: p,
  priv_key: PRIV,
}));
const users = [...authUsers, ...privUsers];

let receiver: SnmpTrapReceiver | undefined;
afterEach(async () => {
  await receiver?.shutdown();
  receiver = undefined;
});

async function start(
  consumer: Consumer<VigilEvent>,
  extra: Record<string, unknown> = {},
): Promise<{ target: string; port: number; metrics: SelfMetrics }> {
  const issues: ConfigIssue[] = [];
  const config = snmpTrapReceiverSchema.parse(
    { endpoint: '127.0.0.1:0', communities: ['public'], users, ...extra },
    'receivers.snmp_trap',
    issues,
  );
  expect(issues).toEqual([]);
  const metrics = new SelfMetrics();
  receiver = new SnmpTrapReceiver(
    { id: 'snmp_trap', logger: createLogger('silent'), metrics, dataDir: '/nonexistent' },
    config!,
    consumer,
  );
  await receiver.start();
  const port = receiver.address!.port;
  return { target: `127.0.0.1:${port}`, port, metrics };
}

async function rejected(metrics: SelfMetrics, reason: string): Promise<number> {
  return counter(metrics, 'vigil_snmp_rejected_messages_total', reason);
}

async function counter(metrics: SelfMetrics, name: string, reason: string): Promise<number> {
  const m = metrics.registry.getSingleMetric(name);
  if (!m) return 0;
  return (await m.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

async function sent(p: Promise<{ code: number; stderr: string }>): Promise<void> {
  const r = await p;
  expect(r, r.stderr).toMatchObject({ code: 0 });
}

const MARK = '1.3.6.1.4.1.32473.1.9.0';

describe('snmp_trap receiver: traps from snmptrap become events', () => {
  it('an SNMPv1 linkDown comes tagged down, with the agent address as asset and the interface index', async () => {
    const c = new CollectingConsumer();
    const { target } = await start(c);
    await sent(
      snmptrap([
        '-v',
        '1',
        '-c',
        'public',
        target,
        '1.3.6.1.4.1.8072.2.3',
        '10.1.2.3',
        '2',
        '0',
        '12345',
        '1.3.6.1.2.1.2.2.1.1.3',
        'i',
        '3',
        '1.3.6.1.2.1.2.2.1.2.3',
        's',
        'eth0',
      ]),
    );
    await waitFor(() => c.taken.length === 1, 'the v1 trap');
    const e = c.taken[0]!;
    expect(e).toMatchObject({
      source: 'snmp',
      type: 'down',
      asset: '10.1.2.3',
      severityText: 'WARN',
      title: 'linkDown from 10.1.2.3 (ifIndex 3)',
    });
    expect(e.attributes).toEqual({
      'network.transport': 'udp',
      'network.peer.address': '127.0.0.1',
      'network.peer.port': expect.any(Number),
      'snmp.version': '1',
      'snmp.pdu': 'trap',
      'snmp.trap.oid': '1.3.6.1.6.3.1.1.5.3',
      'snmp.trap.name': 'IF-MIB::linkDown',
      'snmp.agent.address': '10.1.2.3',
      'snmp.enterprise': '1.3.6.1.4.1.8072.2.3',
      'snmp.generic_trap': 2,
      'snmp.specific_trap': 0,
      'snmp.uptime': 12345,
      'snmp.if_index': 3,
      'snmp.varbind.1.3.6.1.2.1.2.2.1.1.3': 3,
      'snmp.varbind.1.3.6.1.2.1.2.2.1.2.3': 'eth0',
    });
    expect(e.body).toBe('linkDown from 10.1.2.3 (ifIndex 3): 1.3.6.1.2.1.2.2.1.1.3=3, 1.3.6.1.2.1.2.2.1.2.3=eth0');
  });

  it('an SNMPv1 enterprise-specific trap gets the RFC 3584 trap OID and stays neutral', async () => {
    const c = new CollectingConsumer();
    const { target } = await start(c);
    await sent(
      snmptrap(['-v', '1', '-c', 'public', target, '1.3.6.1.4.1.32473', '', '6', '17', '', MARK, 's', 'v1-specific']),
    );
    await waitFor(() => c.taken.length === 1, 'the v1 trap');
    const e = c.taken[0]!;
    expect(e.type).toBe('neutral');
    expect(e.attributes).toMatchObject({
      'snmp.trap.oid': '1.3.6.1.4.1.32473.0.17',
      'snmp.generic_trap': 6,
      'snmp.specific_trap': 17,
    });
    expect(e.attributes['snmp.trap.name']).toBeUndefined();
  });

  it('an SNMPv2c trap: varbind values rendered by type, numeric OIDs without a MIB directory', async () => {
    const c = new CollectingConsumer();
    const { target } = await start(c);
    await sent(
      snmptrap([
        '-v',
        '2c',
        '-c',
        'public',
        target,
        '4200',
        '1.3.6.1.4.1.32473.0.1',
        '1.3.6.1.4.1.32473.1.1',
        's',
        'fan 2 stopped',
        '1.3.6.1.4.1.32473.1.2',
        'x',
        '001A2B3C4D5E',
        '1.3.6.1.4.1.32473.1.3',
        'a',
        '192.0.2.7',
        '1.3.6.1.4.1.32473.1.4',
        'C',
        '18446744073709551615',
        '1.3.6.1.4.1.32473.1.5',
        'c',
        '4294967295',
        '1.3.6.1.4.1.32473.1.6',
        'u',
        '7',
        '1.3.6.1.4.1.32473.1.7',
        't',
        '360000',
        '1.3.6.1.4.1.32473.1.8',
        'o',
        '1.3.6.1.4.1.32473.9',
        '1.3.6.1.4.1.32473.1.10',
        'i',
        '-5',
        '1.3.6.1.6.3.18.1.3.0',
        'a',
        '198.51.100.9',
      ]),
    );
    await waitFor(() => c.taken.length === 1, 'the v2c trap');
    const e = c.taken[0]!;
    expect(e).toMatchObject({
      type: 'neutral',
      asset: '198.51.100.9',
      title: '1.3.6.1.4.1.32473.0.1 from 198.51.100.9',
    });
    expect(e.attributes).toEqual({
      'network.transport': 'udp',
      'network.peer.address': '127.0.0.1',
      'network.peer.port': expect.any(Number),
      'snmp.version': '2c',
      'snmp.pdu': 'trap2',
      'snmp.trap.oid': '1.3.6.1.4.1.32473.0.1',
      'snmp.agent.address': '198.51.100.9',
      'snmp.uptime': 4200,
      'snmp.varbind.1.3.6.1.4.1.32473.1.1': 'fan 2 stopped',
      'snmp.varbind.1.3.6.1.4.1.32473.1.2': '00:1a:2b:3c:4d:5e',
      'snmp.varbind.1.3.6.1.4.1.32473.1.3': '192.0.2.7',
      'snmp.varbind.1.3.6.1.4.1.32473.1.4': '18446744073709551615',
      'snmp.varbind.1.3.6.1.4.1.32473.1.5': 4294967295,
      'snmp.varbind.1.3.6.1.4.1.32473.1.6': 7,
      'snmp.varbind.1.3.6.1.4.1.32473.1.7': 360000,
      'snmp.varbind.1.3.6.1.4.1.32473.1.8': '1.3.6.1.4.1.32473.9',
      'snmp.varbind.1.3.6.1.4.1.32473.1.10': -5,
    });
  });

  it('coldStart, warmStart and linkUp come tagged up; an inform is acknowledged', async () => {
    const c = new CollectingConsumer();
    const { target } = await start(c);
    await sent(snmptrap(['-v', '2c', '-c', 'public', target, '', '1.3.6.1.6.3.1.1.5.1']));
    await sent(snmptrap(['-v', '2c', '-c', 'public', target, '', '1.3.6.1.6.3.1.1.5.2']));
    await sent(
      snmpinform([
        '-v',
        '2c',
        '-c',
        'public',
        '-r',
        '0',
        '-t',
        '5',
        target,
        '',
        '1.3.6.1.6.3.1.1.5.4',
        '1.3.6.1.2.1.2.2.1.1.7',
        'i',
        '7',
      ]),
    );
    await waitFor(() => c.taken.length === 3, 'three traps');
    const byName = Object.fromEntries(c.taken.map((e) => [e.attributes['snmp.trap.name'], e]));
    expect(byName['SNMPv2-MIB::coldStart']).toMatchObject({ type: 'up', asset: '127.0.0.1' });
    expect(byName['SNMPv2-MIB::warmStart']).toMatchObject({ type: 'up' });
    expect(byName['IF-MIB::linkUp']).toMatchObject({
      type: 'up',
      attributes: expect.objectContaining({ 'snmp.pdu': 'inform', 'snmp.if_index': 7 }),
    });
  });

  it("an SNMPv3 inform: the sender discovers the receiver's engine ID, and the inform is acknowledged", async () => {
    const c = new CollectingConsumer();
    const { target } = await start(c);
    await sent(
      snmpinform([
        ...v3('priv-aes', 'authPriv', ['SHA', AUTH], ['AES', PRIV], null),
        '-r',
        '0',
        '-t',
        '5',
        target,
        '',
        '1.3.6.1.6.3.1.1.5.3',
        '1.3.6.1.2.1.2.2.1.1.6',
        'i',
        '6',
      ]),
    );
    await waitFor(() => c.taken.length === 1, 'the v3 inform');
    expect(c.taken[0]).toMatchObject({
      type: 'down',
      attributes: expect.objectContaining({
        'snmp.version': '3',
        'snmp.pdu': 'inform',
        'snmp.user': 'priv-aes',
        'snmp.if_index': 6,
      }),
    });
  });

  it('listens on IPv6 too', async () => {
    const c = new CollectingConsumer();
    await start(c, { endpoint: '[::1]:0' });
    await sent(
      snmptrap(['-v', '2c', '-c', 'public', `udp6:[::1]:${receiver!.address!.port}`, '', '1.3.6.1.6.3.1.1.5.1']),
    );
    await waitFor(() => c.taken.length === 1, 'the trap over IPv6');
    expect(c.taken[0]).toMatchObject({
      asset: '::1',
      type: 'up',
      attributes: expect.objectContaining({ 'network.peer.address': '::1' }),
    });
  });

  it.each(authUsers)('SNMPv3 authNoPriv with $auth_protocol', async (u) => {
    const c = new CollectingConsumer();
    const { target } = await start(c);
    await sent(
      snmptrap([
        ...v3(u.name, 'authNoPriv', [AUTH_FLAG[u.auth_protocol], AUTH]),
        target,
        '',
        '1.3.6.1.6.3.1.1.5.3',
        '1.3.6.1.2.1.2.2.1.1.2',
        'i',
        '2',
      ]),
    );
    await waitFor(() => c.taken.length === 1, 'the v3 trap');
    expect(c.taken[0]).toMatchObject({
      type: 'down',
      attributes: expect.objectContaining({
        'snmp.version': '3',
        'snmp.user': u.name,
        'snmp.if_index': 2,
        'snmp.trap.name': 'IF-MIB::linkDown',
      }),
    });
  });

  it.each(privUsers)('SNMPv3 authPriv with $priv_protocol', async (u) => {
    const c = new CollectingConsumer();
    const { target } = await start(c);
    await sent(
      snmptrap([
        ...v3(u.name, 'authPriv', ['SHA', AUTH], [PRIV_FLAG[u.priv_protocol], PRIV]),
        target,
        '',
        '1.3.6.1.6.3.1.1.5.4',
        '1.3.6.1.2.1.2.2.1.1.5',
        'i',
        '5',
        MARK,
        's',
        `secret ${u.priv_protocol}`,
      ]),
    );
    await waitFor(() => c.taken.length === 1, 'the v3 trap');
    expect(c.taken[0]).toMatchObject({
      type: 'up',
      attributes: expect.objectContaining({
        'snmp.version': '3',
        'snmp.user': u.name,
        'snmp.if_index': 5,
        [`snmp.varbind.${MARK}`]: `secret ${u.priv_protocol}`,
      }),
    });
  });
});

describe('snmp_trap receiver: refusals are counted and nothing gets through', () => {
  it('a wrong community, an unknown user, a wrong auth key, a wrong priv key and a lower security level', async () => {
    const c = new CollectingConsumer();
    const { target, port, metrics } = await start(c);
    const trap = (marker: string) => [target, '', '1.3.6.1.6.3.1.1.5.3', MARK, 's', marker];
    await sent(snmptrap(['-v', '2c', '-c', 'private', ...trap('bad-community')]));
    await sent(
      snmptrap([
        '-v',
        '1',
        '-c',
        'private',
        target,
        '1.3.6.1.4.1.32473',
        '',
        '2',
        '0',
        '',
        MARK,
        's',
        'bad-community-v1',
      ]),
    );
    await sent(snmptrap([...v3('mallory', 'authPriv', ['SHA', AUTH], ['AES', PRIV]), ...trap('unknown-user')]));
    await sent(
      snmptrap([...v3('priv-aes', 'authPriv', ['SHA', 'not-the-auth-key'], ['AES', PRIV]), ...trap('bad-auth')]),
    );
    await sent(snmptrap([...v3('auth-sha256', 'authNoPriv', ['SHA-512', AUTH]), ...trap('wrong-auth-protocol')]));
    await sent(
      snmptrap([...v3('priv-aes', 'authPriv', ['SHA', AUTH], ['AES', 'not-the-priv-key']), ...trap('bad-priv')]),
    );
    await sent(snmptrap([...v3('priv-aes', 'authNoPriv', ['SHA', AUTH]), ...trap('no-priv')]));
    await sent(snmptrap([...v3('auth-sha', 'noAuthNoPriv'), ...trap('no-auth')]));
    // A well-formed noAuthNoPriv v3 trap with an empty user name, which net-snmp takes for anonymous.
    await sendDatagram(port, v3Header({ flags: 0x00, user: '', tail: scopedPdu(COLD_START_PDU) }));
    await waitFor(
      async () => (await rejected(metrics, 'unknown_community')) === 2,
      'the two wrong communities counted',
    );
    await waitFor(
      async () => (await rejected(metrics, 'unknown_user')) === 2,
      'the unknown and the empty user counted',
    );
    await waitFor(
      async () => (await rejected(metrics, 'authentication_failed')) === 2,
      'the wrong auth key and protocol counted',
    );
    await waitFor(async () => (await rejected(metrics, 'decryption_failed')) === 1, 'the wrong priv key counted');
    await waitFor(
      async () => (await rejected(metrics, 'wrong_security_level')) === 2,
      'the two lower security levels counted',
    );
    // A good trap after them arrives, and it alone.
    await sent(snmptrap(['-v', '2c', '-c', 'public', ...trap('good')]));
    await waitFor(() => c.taken.length === 1, 'the good trap');
    expect(c.taken.map((e) => e.attributes[`snmp.varbind.${MARK}`])).toEqual(['good']);
  });

  it('malformed datagrams are counted and dropped, the receiver lives on and takes the next trap', async () => {
    const c = new CollectingConsumer();
    const { target, port, metrics } = await start(c);
    const malformed: Buffer[] = [
      Buffer.from('not snmp at all'),
      Buffer.from([0x30]),
      Buffer.from([0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x02, 0x01, 0x01]),
      Buffer.from([0x30, 0x82, 0x00]),
      // A 5-byte length field and a negative version.
      Buffer.from([0x30, 0x85, 0x01, 0x00, 0x00, 0x00, 0x00, 0x02, 0x01, 0xff]),
      // SNMPv3, noAuthNoPriv, an empty user and a scoped PDU that is not a sequence.
      v3Header({ flags: 0x04, user: '', tail: Buffer.from([0x04, 0x01, 0x00]) }),
      V2C_COLD_START.subarray(0, V2C_COLD_START.length - 5),
    ];
    const send = (d: Buffer) => new Promise<void>((res) => sock.send(d, port, '127.0.0.1', () => res()));
    const sock = createSocket('udp4');
    for (const d of malformed) await send(d);
    // SNMPv3 for a known user with privacy, but the encrypted PDU is 3 bytes of noise.
    await send(v3Header({ flags: 0x03, user: 'priv-aes', tail: Buffer.from([0x04, 0x03, 1, 2, 3]) }));
    // A v2c GetRequest is SNMP, but not a notification.
    await send(Buffer.from('302602010104067075626c6963a019020101020100020100300e300c06082b060102010101000500', 'hex'));
    // SNMPv3 with the reportable flag, privacy, an unknown user and no PDU at all: refused
    // without the report the library would send (to whatever source address the datagram names).
    const replies: Buffer[] = [];
    sock.on('message', (b) => replies.push(b));
    await send(v3Header({ flags: 0x07, user: 'nobody', tail: Buffer.alloc(0) }));
    // An engine ID discovery (empty user, reportable, a GetRequest for nothing) is answered.
    await send(v3Header({ flags: 0x04, user: '', tail: scopedPdu(DISCOVERY_PDU) }));
    await waitFor(() => replies.length > 0, 'the discovery report');
    await waitFor(
      async () => (await rejected(metrics, 'malformed')) === malformed.length,
      'every malformed datagram counted',
    );
    expect(await rejected(metrics, 'unknown_user')).toBe(1);
    sock.close();
    expect(replies).toHaveLength(1);
    expect(await rejected(metrics, 'decryption_failed')).toBe(1);
    expect(await rejected(metrics, 'unsupported_pdu')).toBe(1);
    await sent(snmptrap(['-v', '2c', '-c', 'public', target, '', '1.3.6.1.6.3.1.1.5.1', MARK, 's', 'after-garbage']));
    await waitFor(() => c.taken.length === 1, 'the trap after the garbage');
    expect(c.taken[0]!.attributes[`snmp.varbind.${MARK}`]).toBe('after-garbage');
  });
});

describe('snmp_trap receiver: engine IDs', () => {
  it("a user with engine_ids takes traps from those engines only, and informs to Vigil's own", async () => {
    const c = new CollectingConsumer();
    const pinned = {
      name: 'pinned',
      auth_protocol: 'sha256',
      auth_key: AUTH,
      priv_protocol: 'aes',
      priv_key: PRIV,
      engine_ids: ['0x80001F8804766967696C', '8000000001020304aa'],
    };
    const { target, metrics } = await start(c, { users: [pinned, authUsers[0]] });
    const link = (marker: string) => [target, '', '1.3.6.1.6.3.1.1.5.3', MARK, 's', marker];
    const pinnedArgs = (engineId: string | null) =>
      v3('pinned', 'authPriv', ['SHA-256', AUTH], ['AES', PRIV], engineId);
    await sent(snmptrap([...pinnedArgs('0x80001f8804766967696c'), ...link('listed')]));
    await sent(snmptrap([...pinnedArgs('0x8000000001020304aa'), ...link('listed too')]));
    await sent(snmptrap([...pinnedArgs('0x8000000001020304bb'), ...link('other engine')]));
    // A user without engine_ids takes any.
    await sent(
      snmptrap([
        ...v3(
          authUsers[0]!.name,
          'authNoPriv',
          [AUTH_FLAG[authUsers[0]!.auth_protocol], AUTH],
          undefined,
          '0x8000000001020304cc',
        ),
        ...link('any engine'),
      ]),
    );
    await sent(snmpinform([...pinnedArgs(null), '-r', '0', '-t', '5', ...link('inform')]));
    await waitFor(async () => (await rejected(metrics, 'unknown_engine_id')) === 1, 'the other engine refused');
    await waitFor(() => c.taken.length === 4, 'the four others');
    expect(c.taken.map((e) => e.attributes[`snmp.varbind.${MARK}`]).sort()).toEqual([
      'any engine',
      'inform',
      'listed',
      'listed too',
    ]);
  });

  it('engine IDs must be hex of 5 to 32 bytes', () => {
    const issues: ConfigIssue[] = [];
    snmpTrapReceiverSchema.parse(
      { users: [{ name: 'a', auth_protocol: 'sha', auth_key: AUTH, engine_ids: ['0x8000', 'zz00000000'] }] },
      'r',
      issues,
    );
    expect(issues.map((i) => i.path)).toEqual(['r.users[0].engine_ids[0]', 'r.users[0].engine_ids[1]']);
  });
});

describe('snmp_trap receiver: back-pressure', () => {
  it('traps the pipeline refuses are dropped and counted; later ones arrive', async () => {
    const c = new CollectingConsumer();
    const { target, metrics } = await start(c);
    c.full = true;
    await sent(snmptrap(['-v', '2c', '-c', 'public', target, '', '1.3.6.1.6.3.1.1.5.3', MARK, 's', 'refused']));
    await waitFor(
      async () => (await counter(metrics, 'vigil_snmp_dropped_traps_total', 'refused')) === 1,
      'the refused trap counted',
    );
    c.full = false;
    await sent(snmptrap(['-v', '2c', '-c', 'public', target, '', '1.3.6.1.6.3.1.1.5.4', MARK, 's', 'accepted']));
    await waitFor(() => c.taken.length === 1, 'the trap after');
    expect(c.taken[0]!.attributes[`snmp.varbind.${MARK}`]).toBe('accepted');
  });

  it('while the pipeline refuses, an inform is not acknowledged, so its sender keeps it', async () => {
    const c = new AdmittingConsumer();
    const { target, metrics } = await start(c);
    c.full = true;
    const refused = await snmpinform([
      '-v',
      '2c',
      '-c',
      'public',
      '-r',
      '0',
      '-t',
      '1',
      target,
      '',
      '1.3.6.1.6.3.1.1.5.3',
    ]);
    expect(refused.code).not.toBe(0);
    expect(await counter(metrics, 'vigil_snmp_dropped_traps_total', 'refused')).toBe(1);
    c.full = false;
    await sent(snmpinform(['-v', '2c', '-c', 'public', '-r', '0', '-t', '5', target, '', '1.3.6.1.6.3.1.1.5.3']));
    expect(c.taken).toHaveLength(1);
  });
});

describe('snmp_trap receiver: names from a MIB directory', () => {
  it('names trap and varbind OIDs from the MIB files it could load, and skips the others', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-mibs-'));
    cpSync(resolve(import.meta.dirname, 'mibs'), dir, { recursive: true });
    // IF-MIB as net-snmp ships it, for the interface table.
    const shipped = resolve(import.meta.dirname, '../../../node_modules/net-snmp/lib/mibs');
    for (const f of ['IF-MIB.mib', 'IANAifType-MIB.mib']) cpSync(join(shipped, f), join(dir, f));
    writeFileSync(
      join(dir, 'BROKEN-MIB.txt'),
      'BROKEN-MIB DEFINITIONS ::= BEGIN\nIMPORTS enterprises FROM SNMPv2-SMI;\nbroken OBJECT IDENTIFIER ::= { enterprises\nEND\n',
    );
    const c = new CollectingConsumer();
    const { target } = await start(c, { mib_dir: dir });
    await sent(
      snmptrap([
        '-v',
        '2c',
        '-c',
        'public',
        target,
        '',
        '1.3.6.1.4.1.32473.0.1',
        '1.3.6.1.4.1.32473.1.1.0',
        'i',
        '2',
        '1.3.6.1.4.1.32473.1.2.0',
        's',
        'stopped',
        '1.3.6.1.4.1.32473.5.1',
        'i',
        '1',
      ]),
    );
    await sent(
      snmptrap([
        '-v',
        '2c',
        '-c',
        'public',
        target,
        '',
        '1.3.6.1.6.3.1.1.5.3',
        '1.3.6.1.2.1.2.2.1.1.4',
        'i',
        '4',
        '1.3.6.1.2.1.2.2.1.8.4',
        'i',
        '2',
      ]),
    );
    await sent(
      snmptrap([
        '-v',
        '1',
        '-c',
        'public',
        target,
        '1.3.6.1.4.1.32473.50',
        '',
        '6',
        '5',
        '',
        '1.3.6.1.4.1.32473.50.7.0',
        'i',
        '71',
      ]),
    );
    await waitFor(() => c.taken.length === 3, 'the three traps');
    const hot = c.taken.find((e) => e.attributes['snmp.trap.oid'] === '1.3.6.1.4.1.32473.50.0.5')!;
    // An SMIv1 TRAP-TYPE names the v1 trap by its enterprise and specific-trap number.
    expect(hot.attributes).toMatchObject({
      'snmp.trap.name': 'VIGIL-TEST-V1-MIB::vigilV1TooHot',
      'snmp.varbind.VIGIL-TEST-V1-MIB::vigilV1Temperature.0': 71,
    });
    const fan = c.taken.find((e) => e.attributes['snmp.trap.oid'] === '1.3.6.1.4.1.32473.0.1')!;
    expect(fan.title).toBe('vigilFanFailed from 127.0.0.1');
    expect(fan.attributes).toMatchObject({
      'snmp.trap.name': 'VIGIL-TEST-MIB::vigilFanFailed',
      'snmp.varbind.VIGIL-TEST-MIB::vigilFanIndex.0': 2,
      'snmp.varbind.VIGIL-TEST-MIB::vigilFanState.0': 'stopped',
      // Under the module's root, but no file names it further.
      'snmp.varbind.VIGIL-TEST-MIB::vigilTestMIB.5.1': 1,
    });
    const link = c.taken.find((e) => e.attributes['snmp.trap.oid'] === '1.3.6.1.6.3.1.1.5.3')!;
    expect(link.attributes).toMatchObject({
      'snmp.trap.name': 'IF-MIB::linkDown',
      'snmp.if_index': 4,
      'snmp.varbind.IF-MIB::ifIndex.4': 4,
      'snmp.varbind.IF-MIB::ifOperStatus.4': 2,
    });
  });

  it('a MIB directory that does not exist stops the start with the path at fault', async () => {
    const issues: ConfigIssue[] = [];
    const config = snmpTrapReceiverSchema.parse(
      { endpoint: '127.0.0.1:0', communities: ['public'], mib_dir: '/nonexistent/mibs' },
      'receivers.snmp_trap',
      issues,
    );
    const r = new SnmpTrapReceiver(
      { id: 'snmp_trap', logger: createLogger('silent'), metrics: new SelfMetrics(), dataDir: '/nonexistent' },
      config!,
      new CollectingConsumer(),
    );
    await expect(r.start()).rejects.toThrow(/receivers\.snmp_trap\.mib_dir: cannot read \/nonexistent\/mibs/);
  });
});

describe('snmp_trap receiver config', () => {
  const parse = (raw: Record<string, unknown>) => {
    const issues: ConfigIssue[] = [];
    snmpTrapReceiverSchema.parse(raw, 'receivers.snmp_trap', issues);
    return issues;
  };

  it('refuses a receiver that accepts nothing, short keys, half a privacy setting and a user listed twice', () => {
    expect(parse({})).toEqual([
      { path: 'receivers.snmp_trap', message: expect.stringMatching(/accepts no trap: list `communities`/) },
    ]);
    expect(parse({ users: [{ name: 'c', auth_protocol: 'sha1', auth_key: AUTH }] })).toEqual([
      {
        path: 'receivers.snmp_trap.users[0].auth_protocol',
        message: expect.stringMatching(/must be one of md5, sha, sha224, sha256, sha384, sha512/),
      },
    ]);
    expect(
      parse({
        users: [
          { name: 'a', auth_protocol: 'sha', auth_key: 'short' },
          { name: 'b', auth_protocol: 'sha', auth_key: AUTH, priv_protocol: 'aes' },
          { name: 'b', auth_protocol: 'sha', auth_key: AUTH, priv_protocol: 'aes', priv_key: 'short' },
        ],
      }),
    ).toEqual([
      { path: 'receivers.snmp_trap.users[0].auth_key', message: 'must be at least 8 characters (RFC 3414)' },
      {
        path: 'receivers.snmp_trap.users[1]',
        message: expect.stringMatching(/priv_protocol and priv_key go together/),
      },
      { path: 'receivers.snmp_trap.users[2].name', message: expect.stringMatching(/listed twice/) },
      { path: 'receivers.snmp_trap.users[2].priv_key', message: 'must be at least 8 characters (RFC 3414)' },
    ]);
  });

  it('a DES user where OpenSSL has no DES stops the start with the fix, and only then', () => {
    const des = {
      name: 'old-switch',
      auth_protocol: 'md5' as const,
      auth_key: AUTH,
      priv_protocol: 'des' as const,
      priv_key: PRIV,
    };
    const aes = { ...des, name: 'new-switch', priv_protocol: 'aes' as const };
    expect(desUnavailable([aes, des], false)).toEqual({
      index: 1,
      message: expect.stringContaining('NODE_OPTIONS=--openssl-legacy-provider'),
    });
    expect(desUnavailable([aes, des], true)).toBeUndefined();
    expect(desUnavailable([aes], false)).toBeUndefined();
  });

  it('listens on 127.0.0.1:1162 unless told otherwise', () => {
    const issues: ConfigIssue[] = [];
    expect(snmpTrapReceiverSchema.parse({ communities: ['public'] }, 'r', issues)).toMatchObject({
      endpoint: { host: '127.0.0.1', port: 1162 },
      users: [],
    });
  });
});

describe('snmp_trap receiver: the socket it gets', () => {
  it('warns at start when the kernel grants less receive buffer than receive_buffer_size asks, and only then', async () => {
    const rmemMax = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8'));
    const warnings = async (size: number) => {
      const lines: string[] = [];
      const logger = createLogger('warn', { write: (l: string) => lines.push(l) } as unknown as NodeJS.WritableStream);
      const issues: ConfigIssue[] = [];
      const config = snmpTrapReceiverSchema.parse(
        { endpoint: '127.0.0.1:0', communities: ['public'], receive_buffer_size: size },
        'receivers.snmp_trap',
        issues,
      );
      expect(issues).toEqual([]);
      const consumer: Consumer<VigilEvent> = { consume: () => Promise.resolve() };
      receiver = new SnmpTrapReceiver(
        { id: 'snmp_trap', logger, metrics: new SelfMetrics(), dataDir: '/nonexistent' },
        config!,
        consumer,
      );
      await receiver.start();
      await receiver.shutdown();
      receiver = undefined;
      return lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => r.listener === 'SNMP traps');
    };
    const over = await warnings(2 * rmemMax);
    expect(over).toHaveLength(1);
    expect(over[0]).toMatchObject({ receive_buffer_size: 2 * rmemMax, granted: rmemMax });
    expect(over[0]!.msg).toContain('net.core.rmem_max');
    expect(await warnings(65_536)).toEqual([]);
  });
});
