import { afterEach, describe, expect, it } from 'vitest';
import { correlatingConfig, postEvents, startDaemon, type RunningDaemon } from '../../support/daemon.ts';
import { FakeGlpi } from '../../support/fakes/glpi.ts';
import { FakeJira } from '../../support/fakes/jira.ts';
import { FakeServiceNow } from '../../support/fakes/serviceNow.ts';
import { waitFor } from '../../support/waitFor.ts';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

interface Detail {
  status: string;
  audit: { kind: string; actor: string | null; reason: string }[];
  tickets: { resolved: boolean }[];
}

const RULES = `
  tick_interval: 50ms
  defaults: { group_wait: 0s, allowed_lateness: 1h }
  rules:
    - { kind: pair, name: asset_down, group_by: [asset] }
`;

/** A daemon correlating down/up events into one ticket exporter, with the API open to anonymous viewers. */
async function daemon(exporter: { id: string; yaml: string }): Promise<RunningDaemon> {
  const d = await startDaemon(`${correlatingConfig(RULES, exporter)}
api:
  endpoint: 127.0.0.1:0
  anonymous_role: viewer
`);
  cleanup.push(() => d.stop('SIGKILL'));
  return d;
}

/** The one incident's id, and a reader of its detail through the API. */
async function theIncident(d: RunningDaemon) {
  const list = (await (await fetch(d.apiUrl('/api/v1/incidents'))).json()) as { items: { id: string }[] };
  const id = list.items[0]!.id;
  return async () => (await (await fetch(d.apiUrl(`/api/v1/incidents/${id}`))).json()) as Detail;
}

describe('vigil run with ticket exporters syncing back', () => {
  it('GLPI, polling: resolves the incident when a person solves its ticket, and the API shows who and the ticket', async () => {
    const glpi = await new FakeGlpi().listen();
    cleanup.push(() => glpi.close());
    const d = await daemon({
      id: 'glpi/ops',
      yaml: `
  glpi/ops:
    url: ${glpi.apiUrl}
    app_token: app-token-1
    user_token: user-token-1
    sync: { mode: poll, interval: 1s }`,
    });
    await postEvents(d, [{ asset: 'core-1', type: 'down', title: 'core-1 unreachable', severity: 'ERROR' }]);
    await waitFor(() => glpi.tickets.size === 1, 'the GLPI ticket');
    const [ticket] = [...glpi.tickets.values()];
    const detail = await theIncident(d);

    glpi.personSets(ticket!.id, 5);
    await waitFor(async () => (await detail()).status === 'resolved', 'the incident resolved by its ticket');
    const after = await detail();
    expect(after.audit.at(-1)).toMatchObject({
      kind: 'resolved',
      actor: 'jdoe',
      reason: `resolved by ticket glpi/ops#${ticket!.id} (jdoe)`,
    });
    await waitFor(async () => (await detail()).tickets[0]?.resolved === true, 'the ticket recorded as solved');
    expect((await detail()).tickets).toEqual([
      {
        exporter: 'glpi/ops',
        ref: String(ticket!.id),
        url: `${glpi.url}/front/ticket.form.php?id=${ticket!.id}`,
        resolved: true,
      },
    ]);
    // The person's solution stands alone: Vigil found the ticket solved and added none.
    expect(glpi.solutions).toHaveLength(1);
    const metrics = await (await fetch(d.adminUrl('/metrics'))).text();
    expect(metrics).toContain('vigil_exporter_ticket_sync_changes_total{exporter="glpi/ops",change="resolved"} 1');
    expect(await d.stop()).toBe(0);
  });

  it('Jira, webhook: takes a signed webhook on the API listener and refuses a wrongly signed one', async () => {
    const jira = await new FakeJira('cloud').listen();
    cleanup.push(() => jira.close());
    const secret = 'webhook-secret-1';
    const d = await daemon({
      id: 'jira/ops',
      yaml: `
  jira/ops:
    url: ${jira.url}
    email: ops@example.com
    api_token: api-token-1
    project: OPS
    sync:
      mode: webhook
      secret: \${env:JIRA_WEBHOOK_SECRET:-${secret}}`,
    });
    await postEvents(d, [{ asset: 'edge-1', type: 'down', title: 'edge-1 unreachable', severity: 'ERROR' }]);
    await waitFor(() => jira.issues.size === 1, 'the Jira issue');
    const detail = await theIncident(d);
    // The webhook is read against the tickets Vigil holds: wait until the ledger has this one.
    await waitFor(async () => (await detail()).tickets.length === 1, 'the Jira issue recorded as the incident ticket');
    const send = (payload: object, key: string) => {
      const signed = FakeJira.signed(payload, key);
      return fetch(d.apiUrl('/api/v1/webhooks/jira/ops'), {
        method: 'POST',
        headers: signed.headers,
        body: signed.body,
      });
    };
    const moved = jira.personMoves('OPS-1', 'Done');
    expect((await send(moved, 'not-the-secret')).status).toBe(401);
    expect((await detail()).status).toBe('open');
    expect((await send(moved, secret)).status).toBe(204);
    const after = await detail();
    expect(after.status).toBe('resolved');
    expect(after.audit.at(-1)).toMatchObject({
      actor: 'Jane Doe',
      reason: 'resolved by ticket jira/ops#OPS-1 (Jane Doe)',
    });
    expect(await d.stop()).toBe(0);
  });

  it("ServiceNow, polling: a person's work note joins the timeline once, and resolving in ServiceNow resolves the incident", async () => {
    const sn = await new FakeServiceNow().listen();
    cleanup.push(() => sn.close());
    const d = await daemon({
      id: 'servicenow/ops',
      yaml: `
  servicenow/ops:
    url: ${sn.url}
    username: vigil.integration
    password: secret
    sync: { mode: poll, interval: 1s }`,
    });
    await postEvents(d, [{ asset: 'fw-1', type: 'down', title: 'fw-1 unreachable', severity: 'ERROR' }]);
    await waitFor(() => sn.incidents.size === 1, 'the ServiceNow incident');
    const [inc] = [...sn.incidents.values()];
    const detail = await theIncident(d);
    await waitFor(async () => (await detail()).tickets.length === 1, 'the ServiceNow incident recorded as the ticket');

    expect(sn.personUpdates('beth.anglin', inc!.sys_id, { work_notes: 'failover to fw-2 done' }).status).toBe(200);
    const comment = `comment by ticket servicenow/ops#${inc!.sys_id} (Beth Anglin): failover to fw-2 done`;
    const comments = async () => (await detail()).audit.filter((a) => a.kind === 'commented');
    await waitFor(async () => (await comments()).length === 1, 'the work note on the timeline');
    expect(await comments()).toMatchObject([{ actor: 'Beth Anglin', reason: comment }]);

    const resolve = { state: '6', close_code: 'Workaround provided', close_notes: 'failed over' };
    expect(sn.personUpdates('beth.anglin', inc!.sys_id, resolve).status).toBe(200);
    await waitFor(async () => (await detail()).status === 'resolved', 'the incident resolved in ServiceNow');
    expect((await detail()).audit.at(-1)).toMatchObject({
      kind: 'resolved',
      actor: 'Beth Anglin',
      reason: `resolved by ticket servicenow/ops#${inc!.sys_id} (Beth Anglin)`,
    });
    await waitFor(async () => (await detail()).tickets[0]?.resolved === true, 'the ticket recorded as resolved');
    expect((await detail()).tickets[0]).toMatchObject({ url: `${sn.url}/incident.do?sys_id=${inc!.sys_id}` });
    // Several passes later: still one comment, and Vigil's own notes were never read back.
    expect(await comments()).toHaveLength(1);
    expect(sn.incidents.get(inc!.sys_id)).toMatchObject({ close_notes: 'failed over' });
    expect(await d.stop()).toBe(0);
  });
});
