import { afterEach, describe, expect, it } from 'vitest';
import { correlatingConfig, DOWN_UP_CORRELATION, downKillUp, type RunningDaemon } from '../../support/daemon.ts';
import { FakeServiceNow } from '../../support/fakes/serviceNow.ts';
import { waitFor } from '../../support/waitFor.ts';

const running: RunningDaemon[] = [];
const fakes: FakeServiceNow[] = [];
afterEach(async () => {
  for (const d of running.splice(0)) await d.stop('SIGKILL');
  for (const f of fakes.splice(0)) await f.close();
});

describe('vigil run with a servicenow exporter', () => {
  it('opens one ServiceNow incident for a Down, keeps it across a killed daemon, and resolves it on the Up', async () => {
    const sn = await new FakeServiceNow().listen();
    fakes.push(sn);
    const config = correlatingConfig(DOWN_UP_CORRELATION, {
      id: 'servicenow/ops',
      yaml: `
  servicenow/ops:
    url: ${sn.url}
    client_id: client-1
    client_secret: \${env:SN_CLIENT_SECRET}
    category: network`,
    });
    const second = await downKillUp(
      config,
      'sw-1',
      {
        exporter: 'servicenow/ops',
        afterDown: () => waitFor(() => sn.incidents.size === 1, 'the ServiceNow incident'),
        afterUp: () => waitFor(() => [...sn.incidents.values()][0]!.state === '6', 'the incident resolved'),
      },
      running,
      { env: { SN_CLIENT_SECRET: 'client-secret-1' } },
    );
    expect(sn.incidents.size).toBe(1);
    expect(sn.count('POST', /\/incident$/)).toBe(1);
    expect([...sn.incidents.values()][0]).toMatchObject({
      correlation_id: 'asset_down{asset="sw-1"}',
      category: 'network',
      close_code: 'Solution provided',
    });
    expect(await second.stop()).toBe(0);
  });
});
