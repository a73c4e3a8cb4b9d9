import { afterEach, describe, expect, it } from 'vitest';
import { correlatingConfig, startDaemon, type RunningDaemon } from '../../support/daemon.ts';
import { FakeServiceNow } from '../../support/fakes/serviceNow.ts';
import { waitFor } from '../../support/waitFor.ts';

const running: RunningDaemon[] = [];
const fakes: FakeServiceNow[] = [];
afterEach(async () => {
  for (const d of running.splice(0)) await d.stop('SIGKILL');
  for (const f of fakes.splice(0)) await f.close();
});

async function send(d: RunningDaemon, events: object[]): Promise<void> {
  const res = await fetch(d.url('/v1/events'), { method: 'POST', body: JSON.stringify(events), headers: { 'content-type': 'application/json' } });
  expect(await res.json()).toEqual({ accepted: events.length, rejected: [] });
}

describe('vigil run with a servicenow exporter', () => {
  it('opens one ServiceNow incident for a Down, keeps it across a killed daemon, and resolves it on the Up', async () => {
    const sn = await new FakeServiceNow().listen();
    fakes.push(sn);
    const config = correlatingConfig(
      `
  tick_interval: 50ms
  defaults: { group_wait: 0s, allowed_lateness: 2h, reopen_window: 0s }
  rules:
    - { kind: pair, name: asset_down, group_by: [asset] }
`,
      {
        id: 'servicenow/ops',
        yaml: `
  servicenow/ops:
    url: ${sn.url}
    client_id: client-1
    client_secret: \${env:SN_CLIENT_SECRET}
    category: network`,
      },
    );
    const env = { SN_CLIENT_SECRET: 'client-secret-1' };
    const first = await startDaemon(config, { env });
    running.push(first);
    await send(first, [{ asset: 'sw-1', type: 'down', title: 'sw-1 unreachable', level: 'critical' }]);
    await waitFor(() => sn.incidents.size === 1, 'the ServiceNow incident');
    await first.stop('SIGKILL');

    const second = await startDaemon(config, { env, dataDir: first.dataDir });
    running.push(second);
    await send(second, [{ asset: 'sw-1', type: 'up', title: 'sw-1 reachable' }]);
    await waitFor(() => [...sn.incidents.values()][0]!.state === '6', 'the incident resolved');
    expect(sn.incidents.size).toBe(1);
    expect(sn.count('POST', /\/incident$/)).toBe(1);
    expect([...sn.incidents.values()][0]).toMatchObject({ correlation_id: 'asset_down{asset="sw-1"}', category: 'network', close_code: 'Solution provided' });
    expect(await second.stop()).toBe(0);
  });
});
