import { createSocket, type RemoteInfo } from 'node:dgram';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { VigilEvent } from '../../../src/model/event.ts';
import { snmpTrapReceiverSchema } from '../../../src/receivers/snmp/config.ts';
import { trapToEvent } from '../../../src/receivers/snmp/mapping.ts';
import { SnmpTrapReceiver } from '../../../src/receivers/snmp/receiver.ts';
import { TrapDecoder } from '../../../src/receivers/snmp/trapDecoder.ts';
import { createLogger } from '../../../src/telemetry/logger.ts';
import { SelfMetrics } from '../../../src/telemetry/selfMetrics.ts';
import { Mutator } from '../../support/fuzz/mutator.ts';
import { waitFor } from '../../support/waitFor.ts';
import { capture, v3Header } from './datagrams.ts';
import { snmpinform, snmptrap, v3 } from './snmptrap.ts';

const AUTH = 'vigil-auth-pass';
const PRIV = 'vigil-priv-pass';
const users = [
  { name: 'a', auth_protocol: 'sha' as const, auth_key: AUTH },
  { name: 'p', auth_protocol: 'sha256' as const, auth_key: AUTH, priv_protocol: 'aes' as const, priv_key: PRIV },
];
const varbinds = [
  '1.3.6.1.2.1.2.2.1.1.3',
  'i',
  '3',
  '1.3.6.1.2.1.2.2.1.2.3',
  's',
  'eth0',
  '1.3.6.1.4.1.32473.1',
  'C',
  '12345678901234',
  '1.3.6.1.4.1.32473.2',
  'a',
  '192.0.2.1',
  '1.3.6.1.4.1.32473.3',
  'o',
  '1.3.6.1.4.1.32473',
  '1.3.6.1.4.1.32473.4',
  'x',
  '00ff',
];

/** Real datagrams from Net-SNMP's tools, one per version and security level, as mutation seeds. */
let seeds: Buffer[];
beforeAll(async () => {
  const trap = (args: string[]) => capture((t) => snmptrap([...args, t, '', '1.3.6.1.6.3.1.1.5.3', ...varbinds]));
  seeds = [
    await capture((t) =>
      snmptrap(['-v', '1', '-c', 'public', t, '1.3.6.1.4.1.32473', '192.0.2.9', '6', '7', '100', ...varbinds]),
    ),
    await trap(['-v', '2c', '-c', 'public']),
    await capture((t) =>
      snmpinform(['-v', '2c', '-c', 'public', '-r', '0', '-t', '1', t, '', '1.3.6.1.6.3.1.1.5.4', ...varbinds]),
    ),
    await trap(v3('a', 'authNoPriv', ['SHA', AUTH])),
    await trap(v3('p', 'authPriv', ['SHA-256', AUTH], ['AES', PRIV])),
    v3Header({ flags: 0x04, user: '', tail: Buffer.alloc(0) }),
  ];
}, 60_000);

let receiver: SnmpTrapReceiver | undefined;
afterEach(async () => {
  await receiver?.shutdown();
  receiver = undefined;
});

describe('snmp_trap receiver under mutated datagrams', () => {
  it('decoding never throws, and whatever decodes maps to an event', () => {
    const decoder = new TrapDecoder({ communities: ['public'], users });
    const sock = createSocket('udp4');
    const rinfo: RemoteInfo = { address: '127.0.0.1', port: 9, family: 'IPv4', size: 0 };
    for (let seed = 1; seed <= 4000; seed++) {
      const m = new Mutator(seed);
      const input = m.bytes(m.pick(seeds));
      const out = decoder.decode(input, rinfo, sock);
      expect(['notification', 'rejected', 'answered'], `seed ${seed}`).toContain(out.kind);
      if (out.kind === 'notification')
        expect(
          () => trapToEvent(out.pdu, { peerAddress: '127.0.0.1', peerPort: 9, version: out.version }, undefined, 0n),
          `seed ${seed}`,
        ).not.toThrow();
    }
    sock.close();
  });

  it('a burst of mutated datagrams over UDP leaves the receiver taking the next good trap', async () => {
    const accepted: VigilEvent[] = [];
    const config = snmpTrapReceiverSchema.parse({ endpoint: '127.0.0.1:0', communities: ['public'], users }, 'r', [])!;
    receiver = new SnmpTrapReceiver(
      { id: 'snmp_trap', logger: createLogger('silent'), metrics: new SelfMetrics(), dataDir: '/nonexistent' },
      config,
      { consume: (b) => (accepted.push(...b), Promise.resolve()) },
    );
    await receiver.start();
    const { port } = receiver.address!;
    const sock = createSocket('udp4');
    for (let seed = 10_001; seed <= 10_500; seed++) {
      const m = new Mutator(seed);
      await new Promise<void>((res) => sock.send(m.bytes(m.pick(seeds)), port, '127.0.0.1', () => res()));
    }
    sock.close();
    const r = await snmptrap([
      '-v',
      '2c',
      '-c',
      'public',
      `127.0.0.1:${port}`,
      '',
      '1.3.6.1.6.3.1.1.5.1',
      '1.3.6.1.4.1.32473.9',
      's',
      'after-the-burst',
    ]);
    expect(r.code, r.stderr).toBe(0);
    await waitFor(
      () => accepted.some((e) => e.attributes['snmp.varbind.1.3.6.1.4.1.32473.9'] === 'after-the-burst'),
      'the good trap after the burst',
    );
  });
});
