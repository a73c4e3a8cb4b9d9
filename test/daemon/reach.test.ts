import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { IncidentChange } from '../../src/model/incident.ts';
import { runCli, startDaemon, type RunningDaemon } from '../support/daemon.ts';
import { FakeServiceNow } from '../support/fakes/serviceNow.ts';
import { FakeTwilio } from '../support/fakes/twilio.ts';
import { startMailpit, type Mailpit } from '../support/mailpit.ts';
import { readNdjson } from '../support/ndjson.ts';
import { startPrometheus, startTarget, stopTarget, type Cleanups } from '../support/prometheus.ts';
import { freePort } from '../support/redis.ts';
import { waitFor } from '../support/waitFor.ts';
import { agentConfig } from '../exporters/otlp/agent.ts';
import { grpcPort } from '../receivers/otlp/sdkClients.ts';
import { snmptrap } from '../receivers/snmp/snmptrap.ts';

const EXAMPLE = resolve(import.meta.dirname, '../../config/examples/reach.yaml');

const running: RunningDaemon[] = [];
const cleanups: Cleanups = [];
afterEach(async () => {
  for (const d of running.splice(0)) await d.stop('SIGKILL');
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Peers {
  sn: FakeServiceNow;
  mail: Mailpit;
  sms: FakeTwilio;
}

/** The example's endpoints moved to free ports, its peers pointed at the fakes and the real Mailpit. */
function exampleEnv(p: Peers): NodeJS.ProcessEnv {
  return {
    VIGIL_SNMP_TRAP_ENDPOINT: '127.0.0.1:0',
    VIGIL_HTTP_ENDPOINT: '127.0.0.1:0',
    VIGIL_GRPC_ENDPOINT: '127.0.0.1:0',
    VIGIL_ADMIN_ENDPOINT: '127.0.0.1:0',
    SERVICENOW_URL: p.sn.url,
    SERVICENOW_USER: 'vigil.integration',
    SERVICENOW_PASSWORD: 'secret',
    SMTP_HOST: '127.0.0.1',
    SMTP_PORT: String(p.mail.smtpPort),
    SMTP_TLS: 'none',
    TWILIO_URL: p.sms.url,
    TWILIO_ACCOUNT_SID: p.sms.accountSid,
    TWILIO_AUTH_TOKEN: 'auth-token-1',
  };
}

function trapTarget(d: RunningDaemon): string {
  const line = d.logs.find((l) => l.includes('SNMP trap receiver listening'));
  if (!line) throw new Error('the daemon did not log its SNMP trap address');
  return `127.0.0.1:${(JSON.parse(line) as { snmp_trap: { port: number } }).snmp_trap.port}`;
}

/** `n` error logs of service `checkout` on host web-1, as OTLP/HTTP JSON to the agent. */
async function postOtlpErrors(agent: RunningDaemon, n: number): Promise<void> {
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  const logRecords = Array.from({ length: n }, (_, i) => ({
    timeUnixNano: String(nowNs + BigInt(i)),
    severityNumber: 17,
    severityText: 'ERROR',
    body: { stringValue: `payment backend refused order ${i}` },
  }));
  const res = await fetch(agent.url('/v1/logs'), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      resourceLogs: [
        {
          resource: {
            attributes: [
              { key: 'service.name', value: { stringValue: 'checkout' } },
              { key: 'host.name', value: { stringValue: 'web-1' } },
            ],
          },
          scopeLogs: [{ scope: { name: 'checkout' }, logRecords }],
        },
      ],
    }),
  });
  expect(res.status, await res.text()).toBe(200);
}

/** The exporters `vigil routes test` names for an incident, from the CLI's own output. */
async function predictedExporters(change: IncidentChange, env: NodeJS.ProcessEnv): Promise<string[]> {
  const inc = change.incident;
  const labels = Object.entries(inc.labels).map(([k, v]) => `${k}=${v}`);
  const fields = { rule: inc.rule, severity: String(inc.severityNumber), service: inc.service, asset: inc.asset };
  const args = Object.entries(fields).map(([k, v]) => `${k}=${v}`);
  const r = await runCli(['routes', 'test', '--config', EXAMPLE, ...args, ...labels], env);
  expect(r.code, r.stderr).toBe(0);
  return [...r.stdout.matchAll(/^ {2}receiver [^:]+: (.*)$/gm)].flatMap((m) => m[1]!.split(', ')).sort();
}

/**
 * Where notifications about an incident actually arrived: ServiceNow by correlation_id, mails and
 * texts by the incident's asset (each of the three has its own), which both name.
 */
async function arrivedAt(p: Peers, change: IncidentChange): Promise<string[]> {
  const marker = change.incident.asset;
  const at = new Set<string>();
  for (const inc of p.sn.incidents.values()) {
    if (inc.correlation_id !== change.incident.key) continue;
    at.add(inc.category === 'network' ? 'servicenow/network' : 'servicenow/operations');
  }
  for (const m of await p.mail.messages()) {
    if (!`${m.Subject}\n${m.Text}`.includes(marker)) continue;
    for (const to of m.To) at.add(`email/${to.Address.split('@')[0]!}`);
  }
  for (const [exporter, phone] of [
    ['sms/oncall', '+14155550101'],
    ['sms/network', '+14155550102'],
  ] as const) {
    if (p.sms.to(phone).some((body) => body.includes(marker))) at.add(exporter);
  }
  return [...at].sort();
}

describe('config/examples/reach.yaml: a trap, a Prometheus alert and an OTLP stream each end as one routed incident', () => {
  it(
    'reach ServiceNow, a Mailpit inbox and the SMS fake through the route `vigil routes test` predicts',
    { timeout: 180_000 },
    async () => {
      const peers: Peers = {
        sn: await new FakeServiceNow().listen(),
        mail: await startMailpit(),
        sms: await new FakeTwilio().listen(),
      };
      cleanups.push(
        () => peers.sn.close(),
        () => peers.mail.stop(),
        () => peers.sms.close(),
      );
      const env = exampleEnv(peers);
      const gateway = await startDaemon(readFileSync(EXAMPLE, 'utf8'), { env });
      running.push(gateway);
      const agent = await startDaemon(
        agentConfig('otlp_grpc', { grpc: grpcPort(gateway), http: gateway.http[0]!.port }),
      );
      running.push(agent);

      // A real Prometheus alerting to the gateway on a target it scrapes, once that target goes away.
      const targetPort = await freePort();
      const target = await startTarget(targetPort);
      cleanups.push(() => (target.listening ? stopTarget(target) : undefined));
      const prometheus = await startPrometheus(targetPort, gateway.http[0]!.port, cleanups);
      await stopTarget(target);

      // A switch's linkDown (v2c, agent address 192.0.2.10) and an agent's burst of errors.
      const trap = await snmptrap([
        '-v',
        '2c',
        '-c',
        'public',
        trapTarget(gateway),
        '',
        '1.3.6.1.6.3.1.1.5.3',
        '1.3.6.1.2.1.2.2.1.1.3',
        'i',
        '3',
        '1.3.6.1.6.3.18.1.3.0',
        'a',
        '192.0.2.10',
      ]);
      expect(trap, trap.stderr).toMatchObject({ code: 0 });
      await postOtlpErrors(agent, 8);

      const changes = () => readNdjson<IncidentChange>(join(gateway.dataDir, 'incidents.ndjson'));
      // An incident opens silently, and notifies once group_wait has passed: the change routed.
      const opened = () => changes().filter((c) => c.kind === 'opened' && c.notify);
      const rules = () => new Set(opened().map((c) => c.incident.rule));
      await waitFor(() => rules().size === 3, 'an incident of each of the three rules at the gateway', 120_000).catch(
        () =>
          expect.fail(
            `opened: ${opened()
              .map((c) => c.incident.key)
              .join(', ')}; Prometheus said:\n${prometheus.logs.join('').slice(-3000)}`,
          ),
      );
      // One incident per source, nothing else.
      expect(new Set(changes().map((c) => c.incident.id)).size).toBe(3);
      expect(
        opened()
          .map((c) => c.incident.key)
          .sort(),
      ).toEqual([
        `prometheus_alert{alertname="TargetDown",asset="127.0.0.1:${targetPort}"}`,
        'service_errors{service="checkout"}',
        'snmp_link_down{asset="192.0.2.10",if_index="3"}',
      ]);
      const byRule = new Map(opened().map((c) => [c.incident.rule, c]));
      expect(byRule.get('prometheus_alert')!.incident).toMatchObject({
        title: 'TargetDown',
        asset: `127.0.0.1:${targetPort}`,
        severityText: 'critical',
      });

      const predicted = new Map<string, string[]>();
      for (const [rule, change] of byRule) predicted.set(rule, await predictedExporters(change, env));
      // Each source takes its own route, and each route reaches the three kinds of destination.
      expect(Object.fromEntries(predicted)).toEqual({
        snmp_link_down: ['email/network', 'servicenow/network', 'sms/network'],
        prometheus_alert: ['email/noc', 'servicenow/operations', 'sms/oncall'],
        service_errors: ['email/apps', 'servicenow/operations', 'sms/oncall'],
      });

      const arrived = async () => {
        const out: Record<string, string[]> = {};
        for (const [rule, change] of byRule) out[rule] = await arrivedAt(peers, change);
        return out;
      };
      await waitFor(
        async () => {
          const got = await arrived();
          return [...predicted].every(([rule, want]) => want.every((e) => got[rule]!.includes(e)));
        },
        'every predicted notification to arrive',
        90_000,
      ).catch(() => undefined); // the comparison below says what is missing
      expect(await arrived()).toEqual(Object.fromEntries(predicted));
      expect(peers.sn.incidents.size).toBe(3);
    },
  );
});
