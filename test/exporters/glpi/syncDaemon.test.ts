import { afterEach, describe, expect, it } from 'vitest';
import { correlatingConfig, postEvents, startDaemon, type RunningDaemon } from '../../support/daemon.ts';
import { FakeGlpi } from '../../support/fakes/glpi.ts';
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

describe('vigil run with a GLPI exporter polling its tickets', () => {
  it('resolves the incident when a person solves its ticket, and the API shows who and the ticket', async () => {
    const glpi = await new FakeGlpi().listen();
    cleanup.push(() => glpi.close());
    const yaml = `${correlatingConfig(
      `
  tick_interval: 50ms
  defaults: { group_wait: 0s, allowed_lateness: 1h }
  rules:
    - { kind: pair, name: asset_down, group_by: [asset] }
`,
      {
        id: 'glpi/ops',
        yaml: `
  glpi/ops:
    url: ${glpi.apiUrl}
    app_token: app-token-1
    user_token: user-token-1
    sync: { mode: poll, interval: 1s }`,
      },
    )}
api:
  endpoint: 127.0.0.1:0
  anonymous_role: viewer
`;
    const d: RunningDaemon = await startDaemon(yaml);
    cleanup.push(() => d.stop('SIGKILL'));
    await postEvents(d, [{ asset: 'core-1', type: 'down', title: 'core-1 unreachable', severity: 'ERROR' }]);
    await waitFor(() => glpi.tickets.size === 1, 'the GLPI ticket');
    const [ticket] = [...glpi.tickets.values()];
    const list = (await (await fetch(d.apiUrl('/api/v1/incidents'))).json()) as { items: { id: string }[] };
    const id = list.items[0]!.id;
    const detail = async () => (await (await fetch(d.apiUrl(`/api/v1/incidents/${id}`))).json()) as Detail;

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
    expect(await d.stop()).toBe(0);
  });
});
