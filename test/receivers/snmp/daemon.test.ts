import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { IncidentChange } from '../../../src/model/incident.ts';
import { runCli, startDaemon, type RunningDaemon } from '../../support/daemon.ts';
import { readNdjson } from '../../support/ndjson.ts';
import { waitFor } from '../../support/waitFor.ts';
import { snmptrap, v3 } from './snmptrap.ts';

const EXAMPLE = resolve(import.meta.dirname, '../../../config/examples/snmp.yaml');
const AUTH = 'example-auth-key';
const PRIV = 'example-priv-key';
/** The example's endpoints moved to free ports, its secrets and its MIB directory given. */
const exampleEnv = {
  VIGIL_SNMP_TRAP_ENDPOINT: '127.0.0.1:0',
  VIGIL_ADMIN_ENDPOINT: '127.0.0.1:0',
  VIGIL_SNMP_AUTH_KEY: AUTH,
  VIGIL_SNMP_PRIV_KEY: PRIV,
  VIGIL_MIB_DIR: resolve(import.meta.dirname, 'mibs'),
};

let daemon: RunningDaemon | undefined;
afterEach(async () => {
  await daemon?.stop('SIGKILL');
  daemon = undefined;
});

function trapTarget(d: RunningDaemon): string {
  for (const line of d.logs) {
    if (!line.includes('SNMP trap receiver listening')) continue;
    return `127.0.0.1:${(JSON.parse(line) as { snmp_trap: { port: number } }).snmp_trap.port}`;
  }
  throw new Error('the daemon did not log its SNMP trap address');
}

const incidents = (d: RunningDaemon) =>
  readNdjson<IncidentChange>(join(d.dataDir, 'incidents.ndjson')).map((c) => `${c.kind} ${c.incident.key}`);
const events = (d: RunningDaemon) =>
  readNdjson<{ type: string; asset: string; attributes: Record<string, unknown> }>(join(d.dataDir, 'events.ndjson'));

async function sent(p: Promise<{ code: number; stderr: string }>): Promise<void> {
  const r = await p;
  expect(r, r.stderr).toMatchObject({ code: 0 });
}

/** A link trap from agent 192.0.2.10 (snmpTrapAddress.0), as a switch behind NAT or a relay sends it. */
const linkTrap = (target: string, trap: 'down' | 'up', ifIndex: number) => [
  target,
  '',
  `1.3.6.1.6.3.1.1.5.${trap === 'down' ? 3 : 4}`,
  `1.3.6.1.2.1.2.2.1.1.${ifIndex}`,
  'i',
  String(ifIndex),
  '1.3.6.1.6.3.18.1.3.0',
  'a',
  '192.0.2.10',
];

describe('vigil run with config/examples/snmp.yaml: traps from snmptrap → incidents', () => {
  it('is valid as shipped', async () => {
    const { code, stderr } = await runCli(['validate', '--config', EXAMPLE], exampleEnv);
    expect(code, stderr).toBe(0);
  });

  it('linkDown then linkUp of one interface open and resolve one incident; another interface stays down', async () => {
    daemon = await startDaemon(readFileSync(EXAMPLE, 'utf8'), { env: exampleEnv });
    const target = trapTarget(daemon);
    await sent(snmptrap(['-v', '2c', '-c', 'public', ...linkTrap(target, 'down', 3)]));
    await sent(
      snmptrap([
        '-v',
        '1',
        '-c',
        'public',
        target,
        '1.3.6.1.4.1.32473',
        '192.0.2.10',
        '2',
        '0',
        '',
        '1.3.6.1.2.1.2.2.1.1.4',
        'i',
        '4',
      ]),
    );
    await waitFor(() => incidents(daemon!).length === 2, 'two link incidents opened');
    // The recovery comes over v3 (authPriv), as the example's user.
    await sent(snmptrap([...v3('vigil', 'authPriv', ['SHA-256', AUTH], ['AES', PRIV]), ...linkTrap(target, 'up', 3)]));
    await waitFor(
      () => incidents(daemon!).some((l) => l.startsWith('resolved')),
      'the incident of interface 3 resolved',
    );
    expect(incidents(daemon).sort()).toEqual([
      'opened snmp_link_down{asset="192.0.2.10",if_index="3"}',
      'opened snmp_link_down{asset="192.0.2.10",if_index="4"}',
      'resolved snmp_link_down{asset="192.0.2.10",if_index="3"}',
    ]);
  });

  it('a vendor trap named by the MIB directory is tagged by the tag processor and pairs too', async () => {
    daemon = await startDaemon(readFileSync(EXAMPLE, 'utf8'), { env: exampleEnv });
    const target = trapTarget(daemon);
    const fan = (n: number, state: string) => [
      target,
      '',
      `1.3.6.1.4.1.32473.0.${n}`,
      '1.3.6.1.4.1.32473.1.1.0',
      'i',
      '2',
      '1.3.6.1.4.1.32473.1.2.0',
      's',
      state,
    ];
    await sent(snmptrap(['-v', '2c', '-c', 'public', ...fan(1, 'stopped')]));
    await waitFor(() => incidents(daemon!).length === 1, 'the fan incident');
    await sent(snmptrap(['-v', '2c', '-c', 'public', ...fan(2, 'spinning')]));
    await waitFor(() => incidents(daemon!).length === 2, 'the fan incident resolved');
    expect(incidents(daemon)).toEqual([
      'opened snmp_fan{asset="127.0.0.1",fan="2"}',
      'resolved snmp_fan{asset="127.0.0.1",fan="2"}',
    ]);
    expect(
      events(daemon).map((e) => [
        e.type,
        e.attributes['snmp.trap.name'],
        e.attributes['snmp.varbind.VIGIL-TEST-MIB::vigilFanState.0'],
      ]),
    ).toEqual([
      ['down', 'VIGIL-TEST-MIB::vigilFanFailed', 'stopped'],
      ['up', 'VIGIL-TEST-MIB::vigilFanRecovered', 'spinning'],
    ]);
  });

  it('counts a wrong community and a wrong v3 key on /metrics and lets nothing through', async () => {
    daemon = await startDaemon(readFileSync(EXAMPLE, 'utf8'), { env: exampleEnv });
    const target = trapTarget(daemon);
    await sent(snmptrap(['-v', '2c', '-c', 'guessed', ...linkTrap(target, 'down', 9)]));
    await sent(
      snmptrap([
        ...v3('vigil', 'authPriv', ['SHA-256', 'not-the-auth-key'], ['AES', PRIV]),
        ...linkTrap(target, 'down', 9),
      ]),
    );
    const metric = async () =>
      (await (await fetch(daemon!.adminUrl('/metrics'))).text())
        .split('\n')
        .filter((l) => l.startsWith('vigil_snmp_rejected_messages_total'));
    await waitFor(async () => (await metric()).length === 2, 'both refusals on /metrics');
    expect((await metric()).sort()).toEqual([
      'vigil_snmp_rejected_messages_total{receiver="snmp_trap",reason="authentication_failed"} 1',
      'vigil_snmp_rejected_messages_total{receiver="snmp_trap",reason="unknown_community"} 1',
    ]);
    expect(events(daemon)).toEqual([]);
  });
});

describe('vigil run: SNMPv3 with DES', () => {
  const desConfig = `
receivers:
  snmp_trap:
    endpoint: 127.0.0.1:0
    users:
      - { name: old-switch, auth_protocol: md5, auth_key: ${AUTH}, priv_protocol: des, priv_key: ${PRIV} }
exporters:
  file/events: { path: events.ndjson }
service:
  pipelines:
    logs: { receivers: [snmp_trap], exporters: [file/events] }
  telemetry:
    metrics: { endpoint: 127.0.0.1:0 }
`;

  it('decrypts DES traps when Node runs with the OpenSSL legacy provider', async () => {
    daemon = await startDaemon(desConfig, { env: { NODE_OPTIONS: '--openssl-legacy-provider' } });
    await sent(
      snmptrap([
        ...v3('old-switch', 'authPriv', ['MD5', AUTH], ['DES', PRIV]),
        ...linkTrap(trapTarget(daemon), 'down', 1),
      ]),
    );
    await waitFor(() => events(daemon!).length === 1, 'the DES trap');
    expect(events(daemon)[0]).toMatchObject({
      type: 'down',
      asset: '192.0.2.10',
      attributes: expect.objectContaining({ 'snmp.user': 'old-switch', 'snmp.if_index': 1 }),
    });
  });

  it('without it, refuses to start and says how to fix it', async () => {
    await expect(startDaemon(desConfig, { env: { NODE_OPTIONS: '' } })).rejects.toThrow(
      /receivers\.snmp_trap\.users\[0\]\.priv_protocol: DES needs the OpenSSL legacy provider.*--openssl-legacy-provider/,
    );
  });
});
